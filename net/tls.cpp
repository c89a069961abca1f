#include <net/tls.hpp>

#include <exception>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <net/detail/socket_core.hpp>
#include <net/error.hpp>
#include <net/use_task.hpp>

namespace weft::net {

namespace ssl = boost::asio::ssl;

struct tls_context::impl {
  explicit impl(ssl::context::method m) : ctx(m) {}
  ssl::context ctx;
  bool verify = false;
};

struct tls_stream::impl {
  impl(std::shared_ptr<tls_context::impl> c, detail::stream_core_ptr s)
      : ctx(std::move(c)), core(non_null(std::move(s))), stream(core->socket, ctx->ctx) {
    // Asio's own reads are used from now on; they would queue behind weft's
    // readiness watch.
    detail::remove_watch(core->socket, core->watch);
  }
  std::shared_ptr<tls_context::impl> ctx;  // OpenSSL needs the SSL_CTX as long as the SSL
  detail::stream_core_ptr core;
  ssl::stream<detail::stream_socket_type&> stream;
  bool client = false;
  bool cut = false;         // an operation was cut short: the engine may be mid-record
  std::string server_name;  // a client's: what the certificate must name

  static detail::stream_core_ptr non_null(detail::stream_core_ptr s) {
    if (!s) detail::throw_errno(EBADF, "tls_stream");
    return s;
  }
};

namespace {

// What OpenSSL's error code leaves out of a failed handshake: "certificate
// verify failed" says nothing of why, and the stream (with the verify
// result) is gone by the time tls_stream::connect's caller sees the error;
// "wrong version number" is what OpenSSL says of bytes that are no TLS at
// all (plain HTTP, a plain-TCP port), which few readers would guess.
std::string handshake_detail(const boost::system::error_code& ec, SSL* ssl) {
  if (ec.category() != boost::asio::error::get_ssl_category()) return {};
  const unsigned long code = static_cast<unsigned int>(ec.value());  // OpenSSL's packed error
  if (ERR_GET_LIB(code) != ERR_LIB_SSL) return {};
  switch (ERR_GET_REASON(code)) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED: {
      const long result = SSL_get_verify_result(ssl);
      return result == X509_V_OK ? "" : fmt::format(": {}", X509_verify_cert_error_string(result));
    }
    // The record layer's refusals of a first record that is no TLS record.
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return " (the peer does not speak TLS?)";
    default:
      return {};
  }
}

// `handshake` is the session whose handshake failed, or null for any other
// operation.
[[noreturn]] void throw_tls(const boost::system::error_code& ec, const char* what, SSL* handshake = nullptr) {
  if (ec == boost::asio::error::eof || ec == ssl::error::stream_truncated)
    throw unexpected_eof(fmt::format("weft::net::{}: the peer closed the connection {}", what,
                                     handshake ? "during the TLS handshake" : "without a TLS close_notify"));
  if (ec.category() == boost::asio::error::get_ssl_category() ||
      ec.category() == ssl::error::get_stream_category())
    throw tls_error(detail::to_std(ec), fmt::format("weft::net::{}: TLS", what),
                    handshake ? handshake_detail(ec, handshake) : std::string());
  detail::throw_net_error(detail::to_std(ec), what);
}

void check(const boost::system::error_code& ec, const char* what) {
  if (ec) throw_tls(ec, what);
}

// The last OpenSSL error on this thread, as Asio reports OpenSSL's errors.
boost::system::error_code openssl_error() {
  return {static_cast<int>(ERR_get_error()), boost::asio::error::get_ssl_category()};
}

// OpenSSL checks the name while it verifies the chain, so a mismatch is a
// verify result of its own (X509_V_ERR_HOSTNAME_MISMATCH or
// X509_V_ERR_IP_ADDRESS_MISMATCH). Asio's host_name_verification callback
// refused the certificate without one, which OpenSSL then calls
// "unspecified certificate verification error". Wildcards match as
// OpenSSL's defaults say, as they did through Asio's callback.
void expect_name(SSL* h, const std::string& server_name, const ip_address* numeric) {
  // An empty name would make OpenSSL skip the check, and Asio's callback
  // refused every certificate: neither is what a caller means.
  if (server_name.empty())
    throw std::invalid_argument(
        "weft::net::tls_stream::client: no server name to check the certificate against "
        "(a context that verifies peers needs one)");
  int ok = numeric ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(h), numeric->to_string().c_str())
                   : SSL_set1_host(h, server_name.c_str());
  if (ok != 1) throw_tls(openssl_error(), "tls_stream::client");
}

void set_min_tls12(ssl::context& ctx) {
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
}

// `what` names the call and, when known, the server a client checks: a
// refused certificate is only half a story without whose it was.
// Marks the session cut when its operation's await throws (cancelled): that
// may leave OpenSSL's engine halfway through a record, and a later operation
// could wait forever on it. Not when the frame is destroyed without
// resuming (a runtime torn down): the stream may be gone by then.
struct cut_unless_finished {
  tls_stream::impl& i;
  bool finished = false;
  int unwinding = std::uncaught_exceptions();
  ~cut_unless_finished() {
    if (!finished && std::uncaught_exceptions() > unwinding) i.cut = true;
  }
};

task<void> run_handshake(tls_stream::impl& i, std::string what) {
  cut_unless_finished guard{i};
  boost::system::error_code ec = co_await i.stream.async_handshake(
      i.client ? ssl::stream_base::client : ssl::stream_base::server, weft::use_task_nothrow);
  guard.finished = true;
  if (ec) throw_tls(ec, what.c_str(), i.stream.native_handle());
}

tls_stream::impl& checked(const std::unique_ptr<tls_stream::impl>& p, const char* what) {
  if (!p) detail::throw_errno(EBADF, what);
  if (p->cut)
    detail::throw_net_error(std::make_error_code(std::errc::operation_canceled),
                            fmt::format("{}: an earlier operation on this session was cancelled, "
                                        "which leaves it unusable (close it)",
                                        what)
                                .c_str());
  return *p;
}

}  // namespace

tls_context tls_context::client() {
  auto p = std::make_shared<impl>(ssl::context::tls_client);
  set_min_tls12(p->ctx);
  boost::system::error_code ec;
  p->ctx.set_default_verify_paths(ec);
  check(ec, "tls_context::client");
  p->ctx.set_verify_mode(ssl::verify_peer, ec);
  check(ec, "tls_context::client");
  p->verify = true;
  return tls_context(std::move(p));
}

tls_context tls_context::server(const std::string& cert_chain_file, const std::string& private_key_file) {
  auto p = std::make_shared<impl>(ssl::context::tls_server);
  set_min_tls12(p->ctx);
  tls_context c(std::move(p));
  c.use_certificate_chain_file(cert_chain_file);
  c.use_private_key_file(private_key_file);
  return c;
}

void tls_context::load_verify_file(const std::string& ca_pem_file) {
  boost::system::error_code ec;
  impl_->ctx.load_verify_file(ca_pem_file, ec);
  check(ec, "tls_context::load_verify_file");
}

void tls_context::set_verify_peer(bool on) {
  boost::system::error_code ec;
  impl_->ctx.set_verify_mode(on ? ssl::verify_peer : ssl::verify_none, ec);
  check(ec, "tls_context::set_verify_peer");
  impl_->verify = on;
}

bool tls_context::verify_peer() const noexcept { return impl_->verify; }

void tls_context::use_certificate_chain_file(const std::string& file) {
  boost::system::error_code ec;
  impl_->ctx.use_certificate_chain_file(file, ec);
  check(ec, "tls_context::use_certificate_chain_file");
}

void tls_context::use_private_key_file(const std::string& file) {
  boost::system::error_code ec;
  impl_->ctx.use_private_key_file(file, ssl::context::pem, ec);
  check(ec, "tls_context::use_private_key_file");
}

ssl_ctx_st* tls_context::native_handle() const noexcept { return impl_->ctx.native_handle(); }

tls_stream::tls_stream() noexcept = default;
tls_stream::tls_stream(tls_stream&&) noexcept = default;
tls_stream& tls_stream::operator=(tls_stream&&) noexcept = default;
tls_stream::~tls_stream() = default;

tls_stream tls_stream::client(tcp_stream s, const tls_context& ctx, std::string server_name) {
  tls_stream t;
  t.impl_ = std::make_unique<impl>(ctx.impl_, s.release_core());
  t.impl_->client = true;
  SSL* h = t.impl_->stream.native_handle();
  ip_address numeric;
  const bool is_address = ip_address::try_parse(server_name, numeric);
  // SNI carries names only, never addresses (RFC 6066).
  if (!server_name.empty() && !is_address) SSL_set_tlsext_host_name(h, server_name.c_str());
  if (ctx.impl_->verify) expect_name(h, server_name, is_address ? &numeric : nullptr);
  t.impl_->server_name = std::move(server_name);
  return t;
}

tls_stream tls_stream::server(tcp_stream s, const tls_context& ctx) {
  tls_stream t;
  t.impl_ = std::make_unique<impl>(ctx.impl_, s.release_core());
  return t;
}

task<tls_stream> tls_stream::connect(std::string host, std::uint16_t port, const tls_context& ctx) {
  tls_context keep = ctx;  // the caller's context may be a temporary
  tls_stream t = client(co_await tcp_stream::connect(host, port), keep, host);
  // The string is made before the co_await: g++ 12 frees a string made by
  // a conditional expression in a co_await's operand twice.
  const bool bare_v6 = host.find(':') != std::string::npos && !host.starts_with('[');
  std::string what = bare_v6 ? fmt::format("tls_stream::connect to [{}]:{}", host, port)
                             : fmt::format("tls_stream::connect to {}:{}", host, port);
  co_await run_handshake(*t.impl_, std::move(what));
  co_return t;
}

task<void> tls_stream::handshake() {
  impl& i = checked(impl_, "tls_stream::handshake");
  std::string what =
      i.server_name.empty() ? "tls_stream::handshake" : fmt::format("tls_stream::handshake with {}", i.server_name);
  co_await run_handshake(i, std::move(what));  // (made apart: see connect)
}

task<std::size_t> tls_stream::read_some(std::span<char> buf) {
  impl& i = checked(impl_, "tls_stream::read_some");
  cut_unless_finished guard{i};
  auto [ec, n] = co_await i.stream.async_read_some(boost::asio::buffer(buf.data(), buf.size()),
                                                   weft::use_task_nothrow);
  guard.finished = true;
  if (!ec) co_return n;
  if (ec == boost::asio::error::eof) co_return 0;  // the peer's close_notify
  throw_tls(ec, "tls_stream::read_some");
}

task<void> tls_stream::read_exact(std::span<char> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    std::size_t n = co_await read_some(buf.subspan(got));
    if (n == 0)
      throw unexpected_eof(fmt::format("weft::net::tls_stream::read_exact: the peer closed after {} of {} bytes",
                                       got, buf.size()));
    got += n;
  }
}

task<void> tls_stream::write_all(std::span<const char> data) {
  impl& i = checked(impl_, "tls_stream::write_all");
  cut_unless_finished guard{i};
  auto [ec, n] = co_await boost::asio::async_write(i.stream, boost::asio::buffer(data.data(), data.size()),
                                                   weft::use_task_nothrow);
  guard.finished = true;
  (void)n;
  check(ec, "tls_stream::write_all");
}

task<void> tls_stream::shutdown() {
  impl& i = checked(impl_, "tls_stream::shutdown");
  cut_unless_finished guard{i};
  boost::system::error_code ec = co_await i.stream.async_shutdown(weft::use_task_nothrow);
  guard.finished = true;
  // Our close_notify went out; a peer that closes TCP instead of answering
  // with its own is common and harmless at this point.
  if (ec && ec != boost::asio::error::eof && ec != ssl::error::stream_truncated) {
    if (ec == std::errc::connection_reset || ec == std::errc::broken_pipe) co_return;
    throw_tls(ec, "tls_stream::shutdown");
  }
}

void tls_stream::close() noexcept { impl_.reset(); }

int tls_stream::native_handle() const noexcept { return impl_ ? impl_->core->fd() : -1; }

ssl_st* tls_stream::native_ssl() const noexcept { return impl_ ? impl_->stream.native_handle() : nullptr; }

std::string tls_stream::protocol_version() const {
  return impl_ ? SSL_get_version(impl_->stream.native_handle()) : "";
}

}  // namespace weft::net
