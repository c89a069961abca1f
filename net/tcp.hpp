// TCP: weft::net::tcp_listener and weft::net::tcp_stream.
//
//   auto listener = weft::net::tcp_listener::bind({"127.0.0.1", 8080});
//   for (;;) {
//     weft::net::tcp_stream s = co_await listener.accept();
//     weft::spawn(serve(std::move(s)));                 // one task per connection
//   }
//   weft::task<void> serve(weft::net::tcp_stream s) {
//     char buf[4096];
//     while (std::size_t n = co_await s.read_some(buf))  // 0: the peer closed
//       co_await s.write_all(std::span<const char>(buf, n));
//   }
//   auto c = co_await weft::net::tcp_stream::connect("localhost", 8080);
//
// Homes. Every socket is registered with one worker's io_context, chosen
// round robin when it is created (accepted connections are spread this way,
// so the reactors share the load). Operations try the system call at once
// on whatever worker the task runs on; only an operation that would block
// goes to the home reactor, whose completion wakes the task (on the home
// worker, unless stolen again). Call bind/accept/connect from a task: they
// throw weft::runtime_misuse outside a runtime. A socket must not outlive
// the runtime it was created in.
//
// Thread safety. A stream may be used by one reading and one writing task at
// once (full duplex), each with at most one operation pending; a listener by
// one accepting task. A second task that starts to wait for a read
// (read_some, read_exact, wait_readable) while another one waits, or to
// accept while another accepts, throws weft::runtime_misuse ("another task
// is already reading this socket"); the first one is not disturbed. (A
// second read that finds data at once simply reads it: only waiting is
// checked.) Two writing tasks at once are not detected: their bytes may
// interleave.
//
// Closing while another task waits. Closing (close() or destroying) a
// stream or listener wakes a task waiting on it in accept, read_some,
// read_exact or wait_readable: that operation throws net_error with
// std::errc::operation_canceled ("...: the socket was closed while
// waiting"), so closing the listener is a way to end an accept loop. It is a
// net_error, not weft::cancelled, because that task was not aborted. The
// operation must already be waiting: one that starts while the socket is
// being closed, or on its moved-from or closed object, is a use-after-close
// of your own (it throws EBADF only if the close came strictly before).
// Closing while a write (write_some, write_all, wait_writable) or connect is
// pending is still not allowed: abort that task first (or use
// weft::timeout). Moving a socket while another task has an operation
// pending on it is not allowed either. Streams are move-only; destroying one
// closes it.
//
// Completion. read_some reads at least one byte and returns how many, or 0
// at the end of the stream (the peer shut down its side). read_exact fills
// the buffer or throws unexpected_eof. write_all writes everything (partial
// sends are continued); write_some writes at least one byte. All of them
// complete without suspending when the socket is ready, spending the task's
// cooperative budget. A peer reset throws connection_reset, other failures
// net_error (net/error.hpp); SIGPIPE is never raised (MSG_NOSIGNAL, and the
// first socket made sets SIGPIPE to ignored if it still had the default
// action). shutdown(shutdown_type::send) half-closes: the peer reads 0, and
// we can still read its reply.
//
// Cancellation. Every operation is cancellable: join_handle::abort() or
// weft::timeout make a pending read, write, accept or connect end with
// weft::cancelled (weft::timed_out from timeout). Data that arrived before the
// cancellation is never lost: an operation that completed returns normally
// and the next one throws. read_exact and write_all are loops of those: after
// a cancelled read_exact the bytes it had read are gone with its buffer, and
// after a cancelled write_all the amount written is unknown: close the
// connection, or read through weft::net::buffered, whose read_exact keeps
// what it read.
//
// accept() and descriptor exhaustion. When accept(2) fails with EMFILE,
// ENFILE, ENOBUFS or ENOMEM, accept() does not throw: it counts the event
// (backoff_count()), sleeps 1 ms, doubling up to 200 ms, and tries again
// until a descriptor is free; the pending connection waits in the backlog.
// Errors that concern only the connection at the head of the queue
// (ECONNABORTED, EPROTO, network errors) are skipped. Other errors throw.
#pragma once

#include <cstdint>
#include <string>

#include <net/detail/stream_base.hpp>
#include <net/endpoint.hpp>
#include <runtime/task.hpp>

namespace weft::net {

class tcp_stream : public detail::stream_base {
 public:
  tcp_stream() noexcept = default;  // not connected
  explicit tcp_stream(detail::stream_core_ptr core) noexcept : stream_base(std::move(core)) {}

  // Connects to `peer`; throws net_error (e.g. connection refused).
  static task<tcp_stream> connect(endpoint peer);
  // Resolves `host` (numeric or a name) and tries its addresses in order;
  // throws the last address's error if none accepts.
  static task<tcp_stream> connect(std::string host, std::uint16_t port);

  // Inherited: read_some, read_exact, write_some, write_all, wait_readable,
  // wait_writable, shutdown, close, is_open, native_handle.

  void set_nodelay(bool on);
  bool nodelay() const;
  endpoint local_endpoint() const;
  endpoint peer_endpoint() const;
  // Closes with SO_LINGER 0: the peer sees a reset, not an orderly end, and
  // no TIME_WAIT is left behind.
  void close_with_reset() noexcept;
};

// Options of tcp_listener::bind (and unix_listener::bind for backlog).
struct listen_options {
  listen_options() noexcept {}  // user-declared: see endpoint.hpp
  int backlog = 1024;
  bool reuse_address = true;   // SO_REUSEADDR: rebind while old connections linger
  bool reuse_port = false;     // SO_REUSEPORT: several listeners share the port
  bool nodelay = true;         // accepted connections get TCP_NODELAY
};

class tcp_listener {
 public:
  tcp_listener() noexcept = default;
  tcp_listener(tcp_listener&&) noexcept = default;
  tcp_listener& operator=(tcp_listener&&) noexcept = default;

  // Binds and listens; throws net_error (address in use, ...). Port 0 picks a
  // free port: see local_endpoint().
  static tcp_listener bind(const endpoint& local, const listen_options& opts = {});

  // The next connection, homed on the next worker's reactor. See the top of
  // this file for the descriptor-exhaustion policy.
  [[nodiscard]] task<tcp_stream> accept();

  endpoint local_endpoint() const;
  bool is_open() const noexcept { return core_ != nullptr; }
  void close() noexcept {  // as stream_base::close
    if (core_) core_.get_deleter()(core_.get());
    (void)core_.release();
  }
  int native_handle() const noexcept { return detail::listener_fd(core_.get()); }
  // How often accept() backed off because descriptors or memory ran out.
  std::uint64_t backoff_count() const noexcept { return detail::listener_backoffs(core_.get()); }

 private:
  detail::listener_core_ptr core_;
};

}  // namespace weft::net
