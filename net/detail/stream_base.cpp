// The parts of tcp and unix streams and listeners that do not depend on the
// address family: descriptors in and out of Asio, accept with its back-off.
#include <net/detail/stream_base.hpp>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include <net/detail/socket_core.hpp>
#include <net/error.hpp>
#include <runtime/time.hpp>
#include <runtime/timeout.hpp>

namespace weft::net::detail {

namespace wd = weft::detail;

void stream_core_deleter::operator()(stream_core* c) const noexcept {
  // Closing deregisters the descriptor from its home reactor under the
  // reactor's locks, so this may run on any thread. A task waiting on the
  // readiness watch (a read, a wait_readable) is woken first, failed as
  // closed; it touches nothing in the core afterwards (see read_watch).
  // Pending writes and connects are Asio operations: closing aborts them,
  // but their cancel hooks point into the core (see tcp.hpp: not allowed).
  // (A released socket, see into_asio, is no longer open: Asio has its watch.)
  if (read_watch* w = c->watch.load(std::memory_order_acquire); w && c->socket.is_open()) w->close_waiter();
  delete c;
}

void listener_core_deleter::operator()(listener_core* c) const noexcept {
  // As above: a pending accept is woken, failed as closed, whether it waits
  // on the watch or sleeps in its back-off.
  if (read_watch* w = c->watch.load(std::memory_order_acquire); w && c->acceptor.is_open()) w->close_waiter();
  c->closed->set();
  delete c;
}

namespace {

struct fd_guard {
  int fd;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

constexpr auto first_backoff = std::chrono::milliseconds(1);
constexpr auto max_backoff = std::chrono::milliseconds(200);

}  // namespace

int stream_base::native_handle() const noexcept { return core_ ? core_->fd() : -1; }

void stream_base::shutdown(shutdown_type what) {
  if (!core_) throw_errno(EBADF, "shutdown");
  int how = what == shutdown_type::receive ? SHUT_RD : what == shutdown_type::send ? SHUT_WR : SHUT_RDWR;
  // ENOTCONN: the peer is gone already, which is what shutdown is after.
  if (::shutdown(core_->fd(), how) < 0 && errno != ENOTCONN) throw_errno(errno, "shutdown");
}

task<void> stream_base::read_exact(std::span<char> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    std::size_t n = co_await read_some(buf.subspan(got));
    if (n == 0)
      throw unexpected_eof(fmt::format("weft::net::read_exact: the peer closed after {} of {} bytes",
                                       got, buf.size()));
    got += n;
  }
}

stream_core_ptr adopt_stream_fd(int fd, int family, int protocol, const char* what) {
  fd_guard guard{fd};
  boost::asio::io_context& io = home_for_new_socket(what);
  stream_core_ptr core(new stream_core(io));
  boost::system::error_code ec;
  core->socket.assign(generic_stream(family, protocol), fd, ec);
  if (ec) throw_net_error(to_std(ec), what);
  guard.fd = -1;
  // The descriptor is non-blocking already; this records it in Asio's state
  // (once, now, rather than lazily at the first operation, where a reader
  // and a writer task could race on it).
  core->socket.native_non_blocking(true, ec);
  if (ec) throw_net_error(to_std(ec), what);
  return core;
}

stream_core_ptr open_stream_core(int family, int protocol, const char* what) {
  home_for_new_socket(what);  // fail early outside a runtime
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw_errno(errno, what);
  return adopt_stream_fd(fd, family, protocol, what);
}

listener_core_ptr listen_on(const sockaddr* sa, socklen_t len, int backlog, bool reuse_address,
                            bool reuse_port, bool nodelay, const char* what) {
  boost::asio::io_context& io = home_for_new_socket(what);
  const int family = sa->sa_family;
  const int protocol = family == AF_UNIX ? 0 : IPPROTO_TCP;
  fd_guard guard{::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol)};
  if (guard.fd < 0) throw_errno(errno, what);
  const int one = 1;
  if (reuse_address && ::setsockopt(guard.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
    throw_errno(errno, what);
  if (reuse_port && ::setsockopt(guard.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
    throw_errno(errno, what);
  // Linux copies TCP_NODELAY from the listener to every accepted socket,
  // which saves a setsockopt per connection.
  if (nodelay && family != AF_UNIX &&
      ::setsockopt(guard.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
    throw_errno(errno, what);
  if (::bind(guard.fd, sa, len) < 0) throw_errno(errno, what);
  if (::listen(guard.fd, backlog) < 0) throw_errno(errno, what);
  listener_core_ptr core(new listener_core(io));
  boost::system::error_code ec;
  core->acceptor.assign(generic_stream(family, protocol), guard.fd, ec);
  if (ec) throw_net_error(to_std(ec), what);
  guard.fd = -1;
  core->acceptor.native_non_blocking(true, ec);
  if (ec) throw_net_error(to_std(ec), what);
  core->family = family;
  core->protocol = protocol;
  core->nodelay = nodelay;
  return core;
}

int listener_fd(const listener_core* c) noexcept {
  return c ? const_cast<listener_core*>(c)->acceptor.native_handle() : -1;
}

std::uint64_t listener_backoffs(const listener_core* c) noexcept {
  return c ? c->backoffs.load(std::memory_order_relaxed) : 0;
}

task<stream_core_ptr> accept_core(listener_core* c, const char* what) {
  if (!c) throw_errno(EBADF, what);
  auto delay = first_backoff;
  for (;;) {
    // Completing without waiting spends cooperative budget, so an accept
    // loop under a connection flood still lets the connections run.
    const int r = co_await accept_op(c, what);
    if (r >= 0) co_return adopt_stream_fd(r, c->family, c->protocol, what);
    const int e = -r;
    switch (e) {
      // The connection at the head of the queue failed, or a signal came:
      // take the next one (accept(2) says to treat these like EAGAIN).
      case ECONNABORTED:
      case EPROTO:
      case EPERM:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
      case ETIMEDOUT:
        break;
      // Out of descriptors or memory: the pending connection stays in the
      // backlog and the listener stays readable, so retrying at once would
      // spin. Sleep, doubling up to max_backoff, until something was freed.
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM: {
        // Relaxed: a statistic for tests and metrics.
        c->backoffs.fetch_add(1, std::memory_order_relaxed);
        // Closing the listener ends the sleep; the core is gone then, so
        // only the shared flag is looked at afterwards.
        std::shared_ptr<weft::event> closed = c->closed;
        try {
          auto wait_closed = closed->wait();
          co_await weft::timeout(delay, std::move(wait_closed));
        } catch (const weft::timed_out&) {
        }
        if (closed->is_set())
          throw_net_error(std::make_error_code(std::errc::operation_canceled),
                          fmt::format("{}: the socket was closed while waiting", what).c_str());
        delay = std::min(delay * 2, max_backoff);
        break;
      }
      default:
        throw_errno(e, what);
    }
  }
}

}  // namespace weft::net::detail
