#include <net/asio.hpp>

#include <errno.h>
#include <sys/socket.h>

#include <net/detail/socket_core.hpp>
#include <net/error.hpp>

namespace weft::net {

boost::asio::io_context::executor_type next_io_executor() {
  return detail::home_for_new_socket("next_io_executor").get_executor();
}

namespace {

// Takes the descriptor out of a core (deregistering it from its reactor).
int release_fd(detail::stream_core_ptr core, boost::asio::io_context::executor_type& ex, const char* what) {
  if (!core) detail::throw_errno(EBADF, what);
  ex = core->socket.get_executor();
  boost::system::error_code ec;
  int fd = core->socket.release(ec);
  if (ec) detail::throw_net_error(detail::to_std(ec), what);
  return fd;
}

}  // namespace

boost::asio::ip::tcp::socket into_asio(tcp_stream&& s) {
  boost::asio::io_context::executor_type ex = detail::home_for_new_socket("into_asio").get_executor();
  int fd = release_fd(s.release_core(), ex, "into_asio");
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  boost::asio::ip::tcp::socket sock(ex);
  boost::system::error_code ec;
  sock.assign(ss.ss_family == AF_INET6 ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(), fd, ec);
  if (ec) {
    ::close(fd);
    detail::throw_net_error(detail::to_std(ec), "into_asio");
  }
  return sock;
}

boost::asio::local::stream_protocol::socket into_asio(unix_stream&& s) {
  boost::asio::io_context::executor_type ex = detail::home_for_new_socket("into_asio").get_executor();
  int fd = release_fd(s.release_core(), ex, "into_asio");
  boost::asio::local::stream_protocol::socket sock(ex);
  boost::system::error_code ec;
  sock.assign(boost::asio::local::stream_protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    detail::throw_net_error(detail::to_std(ec), "into_asio");
  }
  return sock;
}

tcp_stream from_asio(boost::asio::ip::tcp::socket&& s) {
  boost::system::error_code ec;
  const int family = s.local_endpoint(ec).protocol().family();
  int fd = s.release(ec);
  if (ec) detail::throw_net_error(detail::to_std(ec), "from_asio");
  return tcp_stream(detail::adopt_stream_fd(fd, family, IPPROTO_TCP, "from_asio"));
}

}  // namespace weft::net
