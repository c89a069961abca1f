// TLS over TCP with OpenSSL (Asio's ssl::stream): weft::net::tls_context,
// weft::net::tls_stream.
//
//   // server
//   auto ctx = weft::net::tls_context::server("cert.pem", "key.pem");
//   weft::net::tls_stream t = weft::net::tls_stream::server(co_await listener.accept(), ctx);
//   co_await weft::timeout(5s, t.handshake());          // bound it: peers may stall
//   std::size_t n = co_await t.read_some(buf);          // 0 after the peer's close_notify
//   co_await t.write_all(reply);
//   co_await t.shutdown();                              // close_notify, then the peer's
//   // client: verifies the server's certificate chain and name by default
//   auto ctx = weft::net::tls_context::client();        // system CAs; load_verify_file(ca)
//   auto t = co_await weft::net::tls_stream::connect("example.org", 443, ctx);
//
// Contexts are cheap handles to a shared OpenSSL context (copies share it);
// configure one before making streams from it, then it may be shared by
// tasks on any thread. A tls_stream owns its TCP stream and keeps its context
// alive; it is homed on the TCP stream's reactor.
// Thread safety: one operation at a time on a tls_stream (OpenSSL's engine
// is shared by both directions, so unlike tcp_stream a reader and a writer
// task must not overlap). Completion: handshake/read/write/shutdown run as
// Asio composed operations through weft::use_task. read_some returns 0 when
// the peer closed the TLS session cleanly (close_notify); a TCP close without
// it throws unexpected_eof (a truncation attack looks the same). Failures of
// the TLS layer throw tls_error, of the socket net_error/connection_reset. A
// client's failed handshake names the server it checked (connect: host and
// port), and a refused certificate's message ends with OpenSSL's reason:
//   weft::net::tls_stream::connect to example.org:443: TLS: certificate
//   verify failed (SSL routines): certificate has expired
// shutdown() sends close_notify and waits for the peer's (or its TCP close),
// so a peer that neither answers nor closes holds it: bound it with
// weft::timeout. Cancellation: every operation ends with weft::cancelled on
// abort or timeout; the session is then unusable: later operations on it
// throw net_error (operation_canceled, "...cancelled, which leaves it
// unusable"); close it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <net/detail/bytes.hpp>
#include <net/tcp.hpp>
#include <runtime/task.hpp>

struct ssl_ctx_st;  // OpenSSL's SSL_CTX
struct ssl_st;      // OpenSSL's SSL

namespace weft::net {

class tls_context {
 public:
  // Client side: TLS 1.2 and newer, the peer's certificate is verified
  // against the system's trusted CAs (add more with load_verify_file).
  static tls_context client();
  // Server side with a PEM certificate chain and private key; no client
  // certificates are asked for.
  static tls_context server(const std::string& cert_chain_file, const std::string& private_key_file);

  void load_verify_file(const std::string& ca_pem_file);  // trust these CA certificates too
  void set_verify_peer(bool on);  // clients verify by default; turning it off is for tests
  bool verify_peer() const noexcept;
  void use_certificate_chain_file(const std::string& file);
  void use_private_key_file(const std::string& file);
  ssl_ctx_st* native_handle() const noexcept;

  struct impl;  // holds the Asio ssl::context (tls.cpp)

 private:
  explicit tls_context(std::shared_ptr<impl> p) noexcept : impl_(std::move(p)) {}
  std::shared_ptr<impl> impl_;
  friend class tls_stream;
};

class tls_stream {
 public:
  tls_stream() noexcept;
  tls_stream(tls_stream&&) noexcept;
  tls_stream& operator=(tls_stream&&) noexcept;
  ~tls_stream();

  // Wraps a connected TCP stream; handshake() must come next. A client
  // sends `server_name` as SNI and, when its context verifies peers, checks
  // the certificate against it (a host name or an IP address; OpenSSL's
  // check, so SSL_get_verify_result says X509_V_ERR_HOSTNAME_MISMATCH or
  // X509_V_ERR_IP_ADDRESS_MISMATCH when it fails). A verifying context with
  // an empty `server_name` throws std::invalid_argument.
  static tls_stream client(tcp_stream s, const tls_context& ctx, std::string server_name);
  static tls_stream server(tcp_stream s, const tls_context& ctx);
  // connect + client + handshake.
  static task<tls_stream> connect(std::string host, std::uint16_t port, const tls_context& ctx);

  [[nodiscard]] task<void> handshake();
  [[nodiscard]] task<std::size_t> read_some(std::span<char> buf);
  [[nodiscard]] task<void> read_exact(std::span<char> buf);
  [[nodiscard]] task<void> write_all(std::span<const char> data);
  // A literal without its NUL, a char buffer whole (see detail/bytes.hpp).
  template <std::size_t N>
  [[nodiscard]] task<void> write_all(const char (&text)[N]) {
    return write_all(detail::text_bytes(text));
  }
  template <std::size_t N>
  [[nodiscard]] task<void> write_all(char (&buffer)[N]) {
    return write_all(detail::buffer_bytes(buffer));
  }
  [[nodiscard]] task<void> shutdown();

  bool is_open() const noexcept { return impl_ != nullptr; }
  void close() noexcept;
  int native_handle() const noexcept;
  ssl_st* native_ssl() const noexcept;
  // The negotiated protocol ("TLSv1.3"), after the handshake.
  std::string protocol_version() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace weft::net
