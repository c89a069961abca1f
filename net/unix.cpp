#include <net/unix.hpp>

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <fmt/format.h>

#include <net/detail/socket_core.hpp>
#include <net/error.hpp>

namespace weft::net {

namespace {

socklen_t make_address(std::string_view path, sockaddr_un& sa, const char* what) {
  std::memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (path.empty())
    detail::throw_net_error(std::make_error_code(std::errc::invalid_argument),
                            fmt::format("{}: empty path", what).c_str());
  if (path.size() >= sizeof sa.sun_path)
    detail::throw_net_error(std::make_error_code(std::errc::filename_too_long),
                            fmt::format("{}: a path of {} bytes (at most {})", what, path.size(),
                                        sizeof sa.sun_path - 1)
                                .c_str());
  std::memcpy(sa.sun_path, path.data(), path.size());
  if (path.front() == '@') {
    sa.sun_path[0] = '\0';  // abstract: the length, not a NUL, ends the name
    return socklen_t(offsetof(sockaddr_un, sun_path) + path.size());
  }
  return socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + 1);
}

}  // namespace

task<unix_stream> unix_stream::connect(std::string path) {
  sockaddr_un sa;
  socklen_t len = make_address(path, sa, "unix_stream::connect");
  const std::string what = fmt::format("unix_stream::connect to {}", path);
  detail::stream_core_ptr core = detail::open_stream_core(AF_UNIX, 0, what.c_str());
  co_await detail::connect_op(core.get(), reinterpret_cast<sockaddr*>(&sa), len);
  co_return unix_stream(std::move(core));
}

std::pair<unix_stream, unix_stream> unix_stream::pair() {
  detail::home_for_new_socket("unix_stream::pair");
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
    detail::throw_errno(errno, "unix_stream::pair");
  detail::stream_core_ptr a;
  try {
    a = detail::adopt_stream_fd(fds[0], AF_UNIX, 0, "unix_stream::pair");
  } catch (...) {
    ::close(fds[1]);
    throw;
  }
  detail::stream_core_ptr b = detail::adopt_stream_fd(fds[1], AF_UNIX, 0, "unix_stream::pair");
  return {unix_stream(std::move(a)), unix_stream(std::move(b))};
}

unix_listener::unix_listener(unix_listener&& o) noexcept
    : core_(std::move(o.core_)), path_(std::move(o.path_)), unlink_(std::exchange(o.unlink_, false)) {}

unix_listener& unix_listener::operator=(unix_listener&& o) noexcept {
  if (this != &o) {
    close();
    core_ = std::move(o.core_);
    path_ = std::move(o.path_);
    unlink_ = std::exchange(o.unlink_, false);
  }
  return *this;
}

unix_listener::~unix_listener() { close(); }

void unix_listener::close() noexcept {
  if (!core_) return;
  core_.get_deleter()(core_.get());  // as tcp_listener::close: wakes a pending accept first
  (void)core_.release();
  if (unlink_ && !path_.empty() && path_.front() != '@') ::unlink(path_.c_str());
  unlink_ = false;
}

unix_listener unix_listener::bind(std::string_view path, const listen_options& opts,
                                  bool unlink_on_close) {
  sockaddr_un sa;
  socklen_t len = make_address(path, sa, "unix_listener::bind");
  unix_listener l;
  const std::string what = fmt::format("unix_listener::bind to {}", path);
  l.core_ = detail::listen_on(reinterpret_cast<sockaddr*>(&sa), len, opts.backlog, false, false, false,
                              what.c_str());
  l.path_ = std::string(path);
  l.unlink_ = unlink_on_close;
  return l;
}

task<unix_stream> unix_listener::accept() {
  co_return unix_stream(co_await detail::accept_core(core_.get(), "unix_listener::accept"));
}

}  // namespace weft::net
