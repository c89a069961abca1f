// The awaitables behind socket operations (no Asio here: the cores they work
// on are opaque, see socket_core.hpp, and the work happens in io_op.cpp).
//
// Each is a single step of the runtime's awaitable protocol:
//   1. await_suspend tries the system call right away on the calling thread
//      (a non-blocking recv/send/accept). Done: no suspension, only
//      cooperative budget is spent (when it runs out the task yields,
//      keeping the result).
//   2. It would block: the task registers its cancel hook and waits, either
//      on the socket's readiness watch (reads, accepts: read_watch in
//      socket_core.hpp, which makes the system call on the home reactor's
//      thread when the socket becomes readable) or on one Asio operation
//      (writes, connects, UDP) whose handler stores the result. Either way
//      the result is stored, then the task is woken exactly once; after that
//      nothing touches the awaiter, which lives in the task's frame.
//   3. The cancel hook runs on a thread holding the task exclusively while
//      the completion may be running on the home reactor's thread. For a
//      watch it races the reactor on one atomic word (see read_watch). For an
//      Asio operation it emits the core's per-direction cancellation signal,
//      whose slot handler is epoll_reactor::cancel_ops_by_key, run under the
//      descriptor's lock: it finds the operation still queued (and completes
//      it with operation_aborted, delivered through the home reactor) or
//      already taken, in which case that completion wakes the task. The hook
//      itself wakes only what it took back. The signal lives in the core,
//      which outlives the operation.
// Awaitables may be moved (weft::timeout moves them into a child task) until
// they are awaited; they must be awaited at most once.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include <net/endpoint.hpp>
#include <runtime/detail/promise_base.hpp>

namespace weft::net::detail {

struct stream_core;
struct listener_core;
struct udp_core;

class io_op : public weft::detail::cancel_hook {
 public:
  io_op() noexcept : cancel_hook{nullptr} {}
  io_op(const io_op&) noexcept = default;  // before it is awaited (see above)
  io_op& operator=(const io_op&) noexcept = default;
  ~io_op() {
    // Woken by closing, the operation holds a reference to the socket's
    // watch (see read_watch::close_waiter): given back here, after
    // await_resume, or when the task is destroyed without resuming.
    if (closed_) [[unlikely]] release_closed_watch(signal_);
    // Still registered: the task's frame is destroyed while it waits (a
    // runtime torn down with tasks pending). Leave the watch, so that
    // closing the socket later neither wakes a destroyed operation nor
    // keeps a reference for it.
    else if (watch_registered_) [[unlikely]] forget_watch(this);
  }
  bool await_ready() const noexcept { return false; }

 protected:
  // Registers the hook and the resume point before the Asio operation starts.
  void arm(weft::detail::task_header* t, std::coroutine_handle<> h, void* signal) noexcept {
    t->resume_point = h;
    signal_ = signal;
    fire = &on_cancel;
    t->hook = this;
  }
  // Completed without waiting: go on, or yield if the budget is spent.
  static bool finish_now(weft::detail::task_header* t, std::coroutine_handle<> h) noexcept;
  // Takes the task; false (and cancelled_) if it was aborted already.
  bool begin(weft::detail::task_header* t) noexcept {
    task_ = t;
    cancelled_ = t->is_cancelled();
    return !cancelled_;
  }
  bool failed() const noexcept { return ec_ || cancelled_; }
  // Throws weft::cancelled, or the net_error for ec_.
  [[noreturn]] void fail(const char* what) const;
  void disarm() noexcept {
    if (task_) task_->hook = nullptr;
  }

  weft::detail::task_header* task_ = nullptr;
  void* signal_ = nullptr;         // boost::asio::cancellation_signal of the pending operation
  std::error_code ec_;
  std::size_t bytes_ = 0;
  // The task was aborted before the operation started; also set, with
  // closed_, for a wait ended by closing (so accept's check stays one test).
  bool cancelled_ = false;
  bool closed_ = false;            // the socket was closed while we waited on its watch
  bool cancel_requested_ = false;  // the hook fired while the operation was pending
  bool short_read_ = false;        // the attempt read fewer bytes than it asked for
  // Registered as the watch's waiter and not taken back yet: set by
  // wait_on_watch, cleared by whoever takes the registration back (before
  // its wake publishes it), read only by the destructor.
  bool watch_registered_ = false;
  // Waits on a read_watch: the system call the reactor makes for us (true:
  // done, result stored; false: it would block).
  bool (*attempt_)(io_op*) noexcept = nullptr;

  // A watched wait: registers with `watch` and suspends (`waiting`).
  // `ready`: readiness arrived meanwhile, the caller tries the system call
  // again itself. `taken`: another task waits on the watch already.
  enum class watch_wait : std::uint8_t { waiting, ready, taken };
  watch_wait wait_on_watch(weft::detail::task_header* t, std::coroutine_handle<> h, void* watch) noexcept;

 private:
  friend struct io_op_access;  // the completion handlers, in io_op.cpp
  friend class read_watch;
  static void on_cancel(weft::detail::cancel_hook* self) noexcept;
  static void release_closed_watch(void* watch) noexcept;
  static void forget_watch(io_op* op) noexcept;
  static void on_cancel_watch(weft::detail::cancel_hook* self) noexcept;
};

// Reads what is there (at least one byte), or 0 at the end of the stream.
class read_some_op : public io_op {
 public:
  read_some_op(stream_core* c, std::span<char> buf) noexcept : core_(c), buf_(buf) {}
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(weft::detail::running_task(h), h);
  }
  std::size_t await_resume() {
    disarm();
    if (failed()) fail("read_some");
    return bytes_;
  }

 private:
  bool start(weft::detail::task_header* t, std::coroutine_handle<> h);
  static bool attempt(io_op* self) noexcept;
  stream_core* core_;
  std::span<char> buf_;
};

// Writes at least one byte (a single send).
class write_some_op : public io_op {
 public:
  write_some_op(stream_core* c, std::span<const char> data) noexcept : core_(c), data_(data) {}
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(weft::detail::running_task(h), h);
  }
  std::size_t await_resume() {
    disarm();
    if (failed()) fail("write_some");
    return bytes_;
  }

 private:
  bool start(weft::detail::task_header* t, std::coroutine_handle<> h);
  stream_core* core_;
  std::span<const char> data_;
};

// Waits until the socket is readable/writable, without transferring data.
class wait_op : public io_op {
 public:
  enum class kind : std::uint8_t { stream_read, stream_write, udp_read, udp_write };
  // check_cancel false: start waiting even if the task was aborted already
  // (the hook then cancels the wait), so the awaiter always suspends.
  wait_op(void* core, kind k, bool check_cancel = true) noexcept
      : core_(core), kind_(k), check_cancel_(check_cancel) {}
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(weft::detail::running_task(h), h);
  }
  void await_resume() {
    disarm();
    if (failed()) fail("wait");
  }

 private:
  bool start(weft::detail::task_header* t, std::coroutine_handle<> h);
  static bool attempt_peek(io_op* self) noexcept;
  void* core_;
  kind kind_;
  bool check_cancel_;
};

// Accepts one connection: the new descriptor (non-blocking, close-on-exec),
// or -errno for accept's own policy to handle (EMFILE and friends).
class accept_op : public io_op {
 public:
  // `what` names the call in errors ("tcp_listener::accept").
  accept_op(listener_core* c, const char* what) noexcept : core_(c), what_(what) {}
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(weft::detail::running_task(h), h);
  }
  int await_resume() {
    disarm();
    if (cancelled_) fail(what_);
    return result_;
  }

 private:
  bool start(weft::detail::task_header* t, std::coroutine_handle<> h);
  static bool attempt(io_op* self) noexcept;
  listener_core* core_;
  const char* what_;
  int result_ = 0;
};

// Connects a stream core that is open but not connected.
class connect_op : public io_op {
 public:
  connect_op(stream_core* c, const sockaddr* sa, socklen_t len) noexcept;
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(weft::detail::running_task(h), h);
  }
  void await_resume() {
    disarm();
    if (failed()) fail_connect();
  }

 private:
  bool start(weft::detail::task_header* t, std::coroutine_handle<> h);
  // As fail, with the address in the message ("connect to 127.0.0.1:80").
  [[noreturn]] void fail_connect() const;
  stream_core* core_;
  union {
    sockaddr any;
    sockaddr_storage storage;
  } addr_;
  socklen_t len_;
};

// Writes everything. The sends happen inline; if the socket's buffer fills
// up, the rest is written by a small coroutine (write_rest) that waits for
// writability. await_suspend resumes it directly: its first wait always
// suspends (check_cancel false), so it cannot finish, and resume us, while we
// are still inside await_suspend; when it ends it resumes us by symmetric
// transfer like any awaited task. (Returning a handle from await_suspend for
// the common synchronous case instead would nest a resume per write in builds
// where g++ does not make symmetric transfer a tail call.)
class write_all_op : public io_op {
 public:
  write_all_op(stream_core* c, std::span<const char> data) noexcept : core_(c), data_(data) {}
  write_all_op(write_all_op&& o) noexcept : io_op(o), core_(o.core_), data_(o.data_) {}
  ~write_all_op();
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(weft::detail::running_task(h), h);
  }
  void await_resume() {
    disarm();
    if (rest_) finish_rest();
    else if (failed()) fail("write_all");
  }

 private:
  bool start(weft::detail::task_header* t, std::coroutine_handle<> h);
  void finish_rest();
  stream_core* core_;
  std::span<const char> data_;
  void* rest_ = nullptr;  // the write_rest coroutine's frame, once started
};

// UDP: one datagram; sender() tells where it came from.
class recv_from_op : public io_op {
 public:
  recv_from_op(udp_core* c, std::span<char> buf) noexcept : core_(c), buf_(buf) {}
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(weft::detail::running_task(h), h);
  }
  std::size_t await_resume() { return result("udp_socket::recv"); }
  const endpoint& sender() const noexcept { return from_; }

 protected:
  std::size_t result(const char* what) {
    disarm();
    if (failed()) fail(what);
    return bytes_;
  }

 private:
  bool start(weft::detail::task_header* t, std::coroutine_handle<> h);
  friend struct recv_from_handler;
  udp_core* core_;
  std::span<char> buf_;
  endpoint from_;
};

class send_to_op : public io_op {
 public:
  send_to_op(udp_core* c, std::span<const char> data, const endpoint* to) noexcept
      : core_(c), data_(data), has_to_(to != nullptr) {
    if (to) to_ = *to;
  }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(weft::detail::running_task(h), h);
  }
  std::size_t await_resume() {
    disarm();
    if (failed()) fail(has_to_ ? "udp_socket::send_to" : "udp_socket::send");
    return bytes_;
  }

 private:
  bool start(weft::detail::task_header* t, std::coroutine_handle<> h);
  udp_core* core_;
  std::span<const char> data_;
  endpoint to_;
  bool has_to_;
};

}  // namespace weft::net::detail
