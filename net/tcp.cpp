#include <net/tcp.hpp>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <exception>

#include <fmt/format.h>

#include <net/error.hpp>
#include <net/resolve.hpp>

namespace weft::net {

task<tcp_stream> tcp_stream::connect(endpoint peer) {
  const std::string what = fmt::format("tcp_stream::connect to {}", peer.to_string());
  detail::stream_core_ptr core =
      detail::open_stream_core(peer.is_v6() ? AF_INET6 : AF_INET, IPPROTO_TCP, what.c_str());
  co_await detail::connect_op(core.get(), peer.data(), peer.size());
  co_return tcp_stream(std::move(core));
}

task<tcp_stream> tcp_stream::connect(std::string host, std::uint16_t port) {
  std::vector<endpoint> addrs = co_await resolve(host, port);
  std::exception_ptr last;
  for (const endpoint& ep : addrs) {
    try {
      co_return co_await connect(ep);
    } catch (const net_error&) {
      last = std::current_exception();
    }
  }
  if (last) std::rethrow_exception(last);
  detail::throw_net_error(std::make_error_code(std::errc::host_unreachable), "tcp_stream::connect");
}

void tcp_stream::set_nodelay(bool on) {
  int v = on ? 1 : 0;
  if (::setsockopt(native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) < 0)
    detail::throw_errno(errno, "tcp_stream::set_nodelay");
}

bool tcp_stream::nodelay() const {
  int v = 0;
  socklen_t len = sizeof v;
  if (::getsockopt(native_handle(), IPPROTO_TCP, TCP_NODELAY, &v, &len) < 0)
    detail::throw_errno(errno, "tcp_stream::nodelay");
  return v != 0;
}

namespace {
endpoint name_of(int fd, bool peer, const char* what) {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
               : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r < 0) detail::throw_errno(errno, what);
  return endpoint(reinterpret_cast<sockaddr*>(&ss), len);
}
}  // namespace

endpoint tcp_stream::local_endpoint() const {
  return name_of(native_handle(), false, "tcp_stream::local_endpoint");
}
endpoint tcp_stream::peer_endpoint() const {
  return name_of(native_handle(), true, "tcp_stream::peer_endpoint");
}

void tcp_stream::close_with_reset() noexcept {
  if (!core_) return;
  linger l{1, 0};
  ::setsockopt(native_handle(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close();
}

tcp_listener tcp_listener::bind(const endpoint& local, const listen_options& opts) {
  tcp_listener l;
  l.core_ = detail::listen_on(local.data(), local.size(), opts.backlog, opts.reuse_address,
                              opts.reuse_port, opts.nodelay, "tcp_listener::bind");
  return l;
}

task<tcp_stream> tcp_listener::accept() {
  co_return tcp_stream(co_await detail::accept_core(core_.get(), "tcp_listener::accept"));
}

endpoint tcp_listener::local_endpoint() const {
  return name_of(native_handle(), false, "tcp_listener::local_endpoint");
}

}  // namespace weft::net
