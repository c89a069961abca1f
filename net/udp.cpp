#include <net/udp.hpp>

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <net/detail/socket_core.hpp>
#include <net/error.hpp>

namespace weft::net {

void detail::udp_core_deleter::operator()(udp_core* c) const noexcept { delete c; }

udp_socket udp_socket::bind(const endpoint& local, bool reuse_address) {
  boost::asio::io_context& io = detail::home_for_new_socket("udp_socket::bind");
  const int family = local.is_v6() ? AF_INET6 : AF_INET;
  int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) detail::throw_errno(errno, "udp_socket::bind");
  struct guard_t {
    int fd;
    ~guard_t() {
      if (fd >= 0) ::close(fd);
    }
  } guard{fd};
  const int one = 1;
  if (reuse_address && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
    detail::throw_errno(errno, "udp_socket::bind");
  if (::bind(fd, local.data(), local.size()) < 0) detail::throw_errno(errno, "udp_socket::bind");
  udp_socket s;
  s.core_.reset(new detail::udp_core(io));
  boost::system::error_code ec;
  s.core_->socket.assign(local.is_v6() ? boost::asio::ip::udp::v6() : boost::asio::ip::udp::v4(), fd, ec);
  if (ec) detail::throw_net_error(detail::to_std(ec), "udp_socket::bind");
  guard.fd = -1;
  s.core_->socket.native_non_blocking(true, ec);
  if (ec) detail::throw_net_error(detail::to_std(ec), "udp_socket::bind");
  return s;
}

void udp_socket::connect(const endpoint& peer) {
  if (::connect(native_handle(), peer.data(), peer.size()) < 0)
    detail::throw_errno(errno, "udp_socket::connect");
}

endpoint udp_socket::local_endpoint() const {
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (::getsockname(native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) < 0)
    detail::throw_errno(errno, "udp_socket::local_endpoint");
  return endpoint(reinterpret_cast<sockaddr*>(&ss), len);
}

int udp_socket::native_handle() const noexcept { return core_ ? core_->fd() : -1; }

}  // namespace weft::net
