// Internal to net/*.cpp (includes Asio; not installed): the Asio objects
// behind the public socket types, and the pieces every operation shares.
//
// A core is homed on one worker's io_context: its reactor registration lives
// there, so every completion of an Asio operation on it runs on that worker
// (or on an idle peer rescuing it). The task using the socket may run on any
// worker; its fast path makes the system call directly on whatever thread it
// runs on, which is safe because no Asio operation of the same direction is
// pending then (one reader and one writer at a time, see stream_base).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <system_error>

#include <boost/asio/basic_datagram_socket.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/version.hpp>

#include <net/detail/io_op.hpp>
#include <net/detail/op_allocator.hpp>
#include <net/endpoint.hpp>
#include <sync/event.hpp>
#include <runtime/detail/task_header.hpp>

namespace weft::net::detail {

using io_executor = boost::asio::io_context::executor_type;
using generic_stream = boost::asio::generic::stream_protocol;
using stream_socket_type = boost::asio::basic_stream_socket<generic_stream, io_executor>;
using udp_socket_type = boost::asio::basic_datagram_socket<boost::asio::ip::udp, io_executor>;

// The readiness watch: weft's own wait for "readable" on a socket, in the
// style of Tokio's readiness, built on Asio's epoll reactor.
//
// Asio starts every read with a speculative recv and, when that would
// block, queues the operation; its descriptor stays registered edge-
// triggered. In a request/response protocol the speculative recv after each
// reply nearly always finds nothing (the peer has not answered yet): a
// wasted system call per request. A watch instead is one reactor_op queued
// on the descriptor's read queue for the socket's whole life (its perform
// never reports done). Every edge the reactor sees runs perform() under the
// descriptor's lock, which
//   - advances `state` (tick << 2 | closed | ready): the socket may have
//     data; `closed` (sticky) once an edge's event mask said the peer shut
//     its side or the socket failed (EPOLLRDHUP, added to Asio's
//     registration, or EPOLLHUP/EPOLLERR);
//   - if a reader is registered in `waiter`, makes its attempt (the recv,
//     accept, ...) on the reactor's thread; done: stores the result, clears
//     `waiter` and wakes the task; would block: leaves it registered.
// A reader first looks at `state`: ready, it makes the system call itself;
// EAGAIN clears `ready` (only if the tick did not move, so an edge that raced
// the call is not lost). Not ready, it registers and suspends without a
// system call. A short read (fewer bytes than asked) clears `ready` too, as
// Tokio and nginx do, unless `closed`: the peer's FIN may sit right behind
// the data with its edge consumed with the data's, and only the event mask
// tells. So a request/response turn costs the recv that gets the data and
// the send: no speculative recv by Asio, no recv that finds the socket
// empty, no epoll_ctl, no handler allocation. (An edge harvested before
// EPOLLRDHUP was registered lacks it; the registration's EPOLL_CTL_MOD then
// raises a fresh edge for whatever is pending, with the full mask.)
//
// `waiter` is 0, the waiting io_op, or that pointer | busy (perform is
// attempting for it) | cancel (its task was aborted meanwhile). The cancel
// hook takes a registered waiter back (CAS op -> 0, then wakes the task as
// cancelled) or, if perform holds it, marks it; perform then completes it as
// cancelled if its attempt would block. Exactly one side wakes the task.
// All of these are seq_cst: registering (store waiter, load state) and an
// edge (RMW state, load waiter) must not both miss each other.
//
// One waiter at a time (one reading task per stream, one accepting task per
// listener): a second task that tries to register while `waiter` is taken is
// told so (register_waiter returns `taken`) and throws runtime_misuse,
// instead of overwriting the first, which would then never be woken. A
// legitimate waiter always finds `waiter` 0: whoever woke the previous one
// cleared it before the wake.
//
// Closing. The core's deleter calls close_waiter() before it closes the
// descriptor: under the descriptor's lock (so no perform holds `busy`) it
// takes a registered waiter back, as the cancel hook would, and wakes it
// failed with ECANCELED ("closed while waiting"). That task's cancel hook
// may still fire (an abort racing the close) until the task has resumed and
// disarmed it, and the hook touches the watch: so the woken operation holds
// a reference to the watch (`holders`) and drops it in its await_resume,
// after disarming. The woken operation touches nothing in the core.
//
// Lifetime: the watch is created at a socket's first wait and owned by Asio
// from then on (one reference). Closing or releasing the socket makes Asio
// abort it (posted with operation_aborted), and its completion function
// drops that reference; the last reference deletes it. The core never
// touches it after closing. Because the watch never leaves the read
// queue, no Asio read operation may be started on a watched socket (it would
// queue behind the watch forever): tls_stream and into_asio take the
// descriptor into a fresh registration.
//
// This uses Asio's internal reactor API (boost/asio/detail), written
// against Asio 1.26 (Boost 1.81) with the epoll reactor.
#if !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) || \
    BOOST_ASIO_VERSION < 102200
#error "weft::net's readiness watch needs Asio's epoll reactor (Boost 1.81 / Asio 1.26 tested)"
#endif

class read_watch : public boost::asio::detail::reactor_op {
 public:
  static constexpr std::uintptr_t busy = 1, cancel = 2, flags = 3;

  static constexpr std::uint64_t ready_bit = 1, closed_bit = 2, one_tick = 4;

  // `descriptor`: the socket's reactor data, whose edges the watch reads the
  // event mask of. `mask_has_rdhup`: EPOLLRDHUP is in its registration, so a
  // short read may be taken as "empty".
  read_watch(int fd, void* descriptor, bool mask_has_rdhup) noexcept
      : reactor_op(boost::system::error_code(), &do_perform, &do_complete),
        fd_(fd),
        descriptor_(descriptor),
        state_(mask_has_rdhup ? 0 : closed_bit) {
    cancellation_key_ = this;
  }

  int fd() const noexcept { return fd_; }
  std::uint64_t load_state() const noexcept { return state_.load(std::memory_order_seq_cst); }
  static bool ready(std::uint64_t s) noexcept { return s & ready_bit; }
  // The socket was found empty at a time when the state was `seen`.
  void clear_ready(std::uint64_t seen) noexcept {
    state_.compare_exchange_strong(seen, seen & ~ready_bit, std::memory_order_seq_cst);
  }
  // A read at state `seen` got fewer bytes than it asked for: the socket is
  // empty now, unless the peer's FIN may be queued behind the data.
  void short_read(std::uint64_t seen) noexcept {
    if (!(seen & closed_bit)) clear_ready(seen);
  }
  enum class registration { registered, ready, taken };
  // Registers `op` to be completed by the next edge. `ready`: readiness
  // arrived meanwhile and `op` is not registered (try again yourself).
  // `taken`: another operation waits already (a second reading task), and
  // `op` is not registered.
  registration register_waiter(io_op* op) noexcept;
  // The cancel hook's part. True if the caller must wake the task itself.
  bool cancel_waiter(io_op* op) noexcept;
  // Wakes the registered waiter, if any, as failed by closing (see above).
  // Called by the core's deleter, before the descriptor is closed.
  void close_waiter() noexcept;
  // Takes `op` back if it is still registered, without waking it: its task's
  // frame is being destroyed.
  void forget_waiter(io_op* op) noexcept;
  // Drops a reference (Asio's, or a closed waiter's); the last deletes.
  void release() noexcept;

 private:
  static status do_perform(boost::asio::detail::reactor_op* base);
  static void do_complete(void* owner, boost::asio::detail::operation* base,
                          const boost::system::error_code& ec, std::size_t bytes);

  const int fd_;
  void* const descriptor_;  // Asio's epoll_reactor::descriptor_state
  // Starts not ready: the registration re-arms the edge-triggered descriptor
  // (EPOLL_CTL_MOD), so data that came after the caller's EAGAIN raises an
  // edge even if an earlier one was consumed with nobody queued.
  std::atomic<std::uint64_t> state_;
  std::atomic<std::uintptr_t> waiter_{0};
  // Asio's reference, plus one per waiter woken by close_waiter. acq_rel on
  // the decrement: the last holder sees everything the others did to the
  // watch before it deletes it; the increment happens under the descriptor
  // lock while Asio's reference is still held, so relaxed is enough there.
  std::atomic<std::uint32_t> holders_{1};
};

struct stream_core {
  explicit stream_core(boost::asio::io_context& io) : socket(io.get_executor()) {}
  stream_socket_type socket;
  // One signal per direction: a pending read and a pending write can be
  // cancelled separately. Emitting runs the reactor's cancel-by-key under
  // the descriptor's lock, so it is safe from any thread (see io_op.cpp).
  boost::asio::cancellation_signal read_signal;
  boost::asio::cancellation_signal write_signal;
  // Created at the first read that has to wait; owned by Asio (see above).
  // Set once, by compare-exchange, so two tasks reading at once (a misuse)
  // cannot both install one. Acquire loads (a plain load on x86): a task
  // that finds the watch sees it constructed.
  std::atomic<read_watch*> watch{nullptr};
  int fd() noexcept { return socket.native_handle(); }
};

struct listener_core {
  explicit listener_core(boost::asio::io_context& io) : acceptor(io.get_executor()) {}
  // The listening descriptor, held by a stream socket object: weft accepts
  // with accept4 itself and only needs the reactor registration (and a
  // socket type whose implementation the readiness watch can reach).
  stream_socket_type acceptor;
  boost::asio::cancellation_signal signal;
  std::atomic<read_watch*> watch{nullptr};  // as stream_core::watch
  int family = AF_INET;
  int protocol = 0;
  bool nodelay = false;
  // Times accept() backed off because the process or system ran out of
  // descriptors or memory. Relaxed: a statistic.
  std::atomic<std::uint64_t> backoffs{0};
  // Set by the deleter: ends an accept sleeping in its back-off, as closing
  // ends one waiting on the watch. Shared, because that accept looks at it
  // once the core is gone.
  std::shared_ptr<weft::event> closed = std::make_shared<weft::event>();
};

struct udp_core {
  explicit udp_core(boost::asio::io_context& io) : socket(io.get_executor()) {}
  udp_socket_type socket;
  boost::asio::cancellation_signal read_signal;
  boost::asio::cancellation_signal write_signal;
  boost::asio::ip::udp::endpoint recv_from;  // where an Asio receive_from writes the sender
  int fd() noexcept { return socket.native_handle(); }
};

// Queues a watch on the socket's read queue (one epoll_ctl). Throws on
// failure (e.g. the socket is closed).
read_watch* install_watch(stream_socket_type& s);
// Takes the watch off the socket again (before Asio reads may be used on it).
void remove_watch(stream_socket_type& s, std::atomic<read_watch*>& w) noexcept;

// The io_context to home a new socket on: the runtime's round robin over the
// workers. Throws runtime_misuse outside a runtime.
boost::asio::io_context& home_for_new_socket(const char* what);

// Ignores SIGPIPE once per process, if its disposition is still the default
// (every send also passes MSG_NOSIGNAL; this covers writes by libraries).
void ignore_sigpipe_once() noexcept;

std::error_code to_std(const boost::system::error_code& ec) noexcept;

// A socket address as Asio's generic stream endpoint (TCP for the IP
// families, 0 for AF_UNIX).
boost::asio::generic::stream_protocol::endpoint to_generic(const sockaddr* sa, socklen_t len);

}  // namespace weft::net::detail
