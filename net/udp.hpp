// weft::net::udp_socket: datagrams.
//
//   auto sock = weft::net::udp_socket::bind({"127.0.0.1", 0});
//   char buf[1500];
//   auto [n, from] = co_await sock.recv_from(buf);
//   co_await sock.send_to(std::span<const char>(buf, n), from);
//   sock.connect(peer);  co_await sock.send(data);  n = co_await sock.recv(buf);
//
// Homed on one worker's reactor like every weft socket (net/tcp.hpp). A datagram
// larger than the buffer is truncated (the rest is dropped, as recv(2) does).
// Thread safety: one receiving and one sending task at a time.
// Completion: recv/recv_from wait for one datagram; send/send_to send one
// (they wait only if the socket's send buffer is full). Errors throw
// net_error; on a connected socket an ICMP "port unreachable" for an earlier
// send shows up as a net_error with code std::errc::connection_refused from
// a later operation, as in POSIX.
// Cancellation: any pending operation ends with weft::cancelled on abort or
// weft::timeout, as for streams.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include <net/detail/bytes.hpp>
#include <net/detail/io_op.hpp>
#include <net/endpoint.hpp>

namespace weft::net {

struct received {
  received(std::size_t n, const endpoint& f) noexcept : size(n), from(f) {}  // user-declared: see endpoint.hpp
  std::size_t size;
  endpoint from;
};

namespace detail {
struct udp_core_deleter {
  void operator()(udp_core* c) const noexcept;
};

class recv_from_awaiter : public recv_from_op {
 public:
  using recv_from_op::recv_from_op;
  received await_resume() {
    std::size_t n = result("udp_socket::recv_from");
    return received(n, sender());
  }
};
}  // namespace detail

class udp_socket {
 public:
  udp_socket() noexcept = default;
  udp_socket(udp_socket&&) noexcept = default;
  udp_socket& operator=(udp_socket&&) noexcept = default;

  // Binds to `local` (port 0: any free port); SO_REUSEADDR if asked.
  static udp_socket bind(const endpoint& local, bool reuse_address = false);
  // Sets the default peer (and filters what is received to it).
  void connect(const endpoint& peer);

  [[nodiscard]] detail::send_to_op send_to(std::span<const char> data, const endpoint& to) noexcept {
    return {core_.get(), data, &to};
  }
  // A literal without its NUL, a char buffer whole (see detail/bytes.hpp);
  // send likewise.
  template <std::size_t N>
  [[nodiscard]] detail::send_to_op send_to(const char (&text)[N], const endpoint& to) noexcept {
    return send_to(detail::text_bytes(text), to);
  }
  template <std::size_t N>
  [[nodiscard]] detail::send_to_op send_to(char (&buffer)[N], const endpoint& to) noexcept {
    return send_to(detail::buffer_bytes(buffer), to);
  }
  [[nodiscard]] detail::recv_from_awaiter recv_from(std::span<char> buf) noexcept {
    return {core_.get(), buf};
  }
  // Connected sockets.
  [[nodiscard]] detail::send_to_op send(std::span<const char> data) noexcept {
    return {core_.get(), data, nullptr};
  }
  template <std::size_t N>
  [[nodiscard]] detail::send_to_op send(const char (&text)[N]) noexcept {
    return send(detail::text_bytes(text));
  }
  template <std::size_t N>
  [[nodiscard]] detail::send_to_op send(char (&buffer)[N]) noexcept {
    return send(detail::buffer_bytes(buffer));
  }
  [[nodiscard]] detail::recv_from_op recv(std::span<char> buf) noexcept { return {core_.get(), buf}; }

  endpoint local_endpoint() const;
  bool is_open() const noexcept { return core_ != nullptr; }
  void close() noexcept { core_.reset(); }
  int native_handle() const noexcept;

 private:
  std::unique_ptr<detail::udp_core, detail::udp_core_deleter> core_;
};

}  // namespace weft::net
