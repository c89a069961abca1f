// The single-step socket awaitables (see io_op.hpp for the protocol).
#include <net/detail/io_op.hpp>

#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <fmt/format.h>

#include <net/detail/socket_core.hpp>
#include <net/error.hpp>
#include <runtime/errors.hpp>
#include <runtime/task.hpp>
#include <runtime/yield.hpp>

namespace weft::net::detail {

namespace wd = weft::detail;
namespace asio = boost::asio;

// What every completion handler of ours carries: the awaiter, the slot of
// the core's signal, and weft's handler allocator. Two pointers: Asio copies
// it into the operation it allocates.
struct handler_common {
  using allocator_type = op_allocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }
  using cancellation_slot_type = asio::cancellation_slot;
  cancellation_slot_type get_cancellation_slot() const noexcept { return slot; }
  asio::cancellation_slot slot;
};

// For operations whose result is an error code and maybe a byte count.
struct op_completion : handler_common {
  io_op* self;
  op_completion(io_op* s, asio::cancellation_slot sl) noexcept : handler_common{sl}, self(s) {}
  void operator()(const boost::system::error_code& ec, std::size_t n = 0) const noexcept;
};

namespace {

std::error_code errno_code(int e) noexcept { return std::error_code(e, std::system_category()); }

// A non-blocking system call, made again while a signal interrupts it: its
// result, or -errno.
template <class F>
ssize_t retrying(F&& call) noexcept {
  for (;;) {
    ssize_t n = call();
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
  }
}

bool would_block(ssize_t r) noexcept { return r == -EAGAIN || r == -EWOULDBLOCK; }

// Sends what the socket takes now; `rest` shrinks by what went. 0, or the
// errno of a failure other than would-block.
int send_what_fits(int fd, std::span<const char>& rest) noexcept {
  while (!rest.empty()) {
    ssize_t n = retrying([&] { return ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL); });
    if (n < 0) return would_block(n) ? 0 : int(-n);
    rest = rest.subspan(std::size_t(n));
  }
  return 0;
}

// Clears the hook if starting the Asio operation threw (e.g. bad_alloc):
// the exception then leaves await_suspend and the task goes on running.
template <class F>
void start_or_disarm(wd::task_header* t, F&& f) {
  try {
    f();
  } catch (...) {
    t->hook = nullptr;
    throw;
  }
}

}  // namespace

enum class watched { done, waiting, install_failed, taken };

namespace {

// A second task tried to wait on a socket's watch while another waits there
// (tcp.hpp, "Thread safety"). Cold: names the socket's kind for the message.
[[noreturn]] void throw_second_reader(int fd, const char* op) {
  int domain = AF_INET;
  socklen_t len = sizeof domain;
  ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len);
  throw weft::runtime_misuse(fmt::format(
      "weft::net::{}::{}: another task is already reading this socket (a stream allows one reading "
      "and one writing task at a time)",
      domain == AF_UNIX ? "unix_stream" : "tcp_stream", op));
}

}  // namespace

// Gives the handlers write access to the awaiter's result fields, and the
// watched operations their common loop.
struct io_op_access {
  // Reads, read waits and accepts: while the socket's watch says readable
  // (or it has none yet) make the call; at its first would-block install the
  // watch; when not readable, register on it and suspend. `done`: the call
  // completed (its result stored by `attempt`); `install_failed`: the watch
  // could not be installed (`error` says why); `taken`: another task waits
  // on the watch (or installed one at the same moment), a misuse.
  static watched attempt_or_watch(io_op* op, wd::task_header* t, std::coroutine_handle<> h,
                                  stream_socket_type& socket, std::atomic<read_watch*>& watch,
                                  bool (*attempt)(io_op*) noexcept, std::error_code& error) {
    for (;;) {
      read_watch* w = watch.load(std::memory_order_acquire);
      std::uint64_t s = w ? w->load_state() : 1;
      if (read_watch::ready(s)) {
        if (attempt(op)) {
          if (op->short_read_ && w) w->short_read(s);
          return watched::done;
        }
        if (!w) {
          // The first wait on this socket: from now on the reactor tells us.
          read_watch* mine;
          try {
            mine = install_watch(socket);
          } catch (const std::system_error& e) {
            error = e.code();
            return watched::install_failed;
          }
          // acq_rel: publishes the constructed watch; on failure, acquires
          // the other task's.
          read_watch* none = nullptr;
          if (!watch.compare_exchange_strong(none, mine, std::memory_order_acq_rel)) {
            // Another task installed one at the same moment: two readers.
            std::atomic<read_watch*> ours{mine};
            remove_watch(socket, ours);
            return watched::taken;
          }
        } else {
          w->clear_ready(s);  // if an edge moved the tick meanwhile, we try again
        }
        continue;
      }
      op->attempt_ = attempt;
      switch (op->wait_on_watch(t, h, w)) {
        case io_op::watch_wait::waiting: return watched::waiting;
        case io_op::watch_wait::taken: return watched::taken;
        case io_op::watch_wait::ready: break;
      }
    }
  }

  static void complete(io_op* op, const boost::system::error_code& ec, std::size_t n) noexcept {
    // Read everything needed before wake(): afterwards the task may already
    // run (and destroy the awaiter) on another thread.
    wd::task_header* t = op->task_;
    if (ec) op->ec_ = to_std(ec);
    op->bytes_ = n;
    wd::wake(t);
  }
};

void op_completion::operator()(const boost::system::error_code& ec, std::size_t n) const noexcept {
  io_op_access::complete(self, ec, n);
}

bool io_op::finish_now(wd::task_header* t, std::coroutine_handle<> h) noexcept {
  if (!wd::spend_budget(t)) return false;
  // Out of budget: keep the result, let the others run first.
  t->resume_point = h;
  wd::wake(t);
  return true;
}

void io_op::on_cancel(wd::cancel_hook* hook) noexcept {
  // We hold the task exclusively, so the awaiter is alive; its operation may
  // be completing on the home reactor right now. The emit runs the reactor's
  // cancel_ops_by_key under the descriptor lock (or the timer queue's lock):
  // if the operation is still queued it is completed with operation_aborted
  // through the reactor, otherwise nothing happens and the completion that
  // is under way wakes the task. The handler never touches the signal, and
  // cancel_requested_ is a field the handler does not write.
  auto* self = static_cast<io_op*>(hook);
  self->cancel_requested_ = true;
  static_cast<asio::cancellation_signal*>(self->signal_)->emit(asio::cancellation_type::terminal);
}

void io_op::release_closed_watch(void* watch) noexcept { static_cast<read_watch*>(watch)->release(); }

void io_op::forget_watch(io_op* op) noexcept { static_cast<read_watch*>(op->signal_)->forget_waiter(op); }

void io_op::fail(const char* what) const {
  if (closed_) {
    // Woken by close_waiter; the watch it lent us goes back in ~io_op.
    throw_net_error(ec_, fmt::format("{}: the socket was closed while waiting", what).c_str());
  }
  if (cancelled_) throw weft::cancelled{};
  if (cancel_requested_ && ec_ == std::errc::operation_canceled) throw weft::cancelled{};
  throw_net_error(ec_, what);
}

// ---------------------------------------------------------------------------
// The readiness watch (see socket_core.hpp)

namespace {

// Two things Asio's epoll reactor keeps private that the watch needs: the
// events a descriptor is registered for (with the lock that guards them),
// to add EPOLLRDHUP; and the event mask of the edge being performed, which
// the reactor stores in the descriptor's operation before completing it.
// Named through explicit instantiations, where access is not checked.
using descriptor_state = asio::detail::epoll_reactor::descriptor_state;
using descriptor_mutex = asio::detail::conditionally_enabled_mutex;
using reactor_operation = asio::detail::scheduler_operation;

template <class Tag, typename Tag::type Member>
struct grant_member {
  friend typename Tag::type member_of(Tag) { return Member; }
};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-template-friend"
struct registered_events_tag {
  using type = std::uint32_t descriptor_state::*;
  friend type member_of(registered_events_tag);
};
struct descriptor_mutex_tag {
  using type = descriptor_mutex descriptor_state::*;
  friend type member_of(descriptor_mutex_tag);
};
struct event_mask_tag {
  using type = unsigned int reactor_operation::*;
  friend type member_of(event_mask_tag);
};
#pragma GCC diagnostic pop
template struct grant_member<registered_events_tag, &descriptor_state::registered_events_>;
template struct grant_member<descriptor_mutex_tag, &descriptor_state::mutex_>;
template struct grant_member<event_mask_tag, &reactor_operation::task_result_>;

// Adds EPOLLRDHUP to the events the descriptor's next EPOLL_CTL_MOD asks
// for (Asio's later MODs keep it). False if the descriptor is not registered.
bool ask_for_peer_close(void* reactor_data) noexcept {
  auto* d = static_cast<descriptor_state*>(reactor_data);
  descriptor_mutex::scoped_lock lock(d->*member_of(descriptor_mutex_tag{}));
  std::uint32_t& events = d->*member_of(registered_events_tag{});
  if (events == 0) return false;
  events |= EPOLLRDHUP;
  return true;
}

// From perform(): did the edge being performed say the peer shut its side
// (or the socket failed)? (A descriptor_state is an operation through a
// private base: the C-style cast is the conversion that may name it.)
bool peer_may_have_closed(void* reactor_data) noexcept {
  auto* op = (reactor_operation*)static_cast<descriptor_state*>(reactor_data);
  return op->*member_of(event_mask_tag{}) & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
}

}  // namespace

read_watch::registration read_watch::register_waiter(io_op* op) noexcept {
  auto me = reinterpret_cast<std::uintptr_t>(op);
  // A compare-exchange where a store would do for one reader: it costs the
  // same (a locked instruction either way) and finds a second one.
  std::uintptr_t none = 0;
  if (!waiter_.compare_exchange_strong(none, me, std::memory_order_seq_cst)) return registration::taken;
  if (!ready(state_.load(std::memory_order_seq_cst))) return registration::registered;
  // An edge came in between: take the registration back and try ourselves,
  // unless perform() holds it already (then it completes and wakes us).
  std::uintptr_t expected = me;
  return waiter_.compare_exchange_strong(expected, 0, std::memory_order_seq_cst) ? registration::ready
                                                                                 : registration::registered;
}

void read_watch::close_waiter() noexcept {
  // Under the descriptor's lock no perform() runs, so `waiter` is 0 or a
  // plain registration (perform clears `busy` before it lets go of the lock).
  auto* d = static_cast<descriptor_state*>(descriptor_);
  descriptor_mutex::scoped_lock lock(d->*member_of(descriptor_mutex_tag{}));
  std::uintptr_t v = waiter_.load(std::memory_order_seq_cst);
  // 0: nobody waits. A failed exchange: the cancel hook took it first and
  // wakes the task as cancelled.
  if (v == 0 || !waiter_.compare_exchange_strong(v, 0, std::memory_order_seq_cst)) return;
  auto* op = reinterpret_cast<io_op*>(v & ~flags);
  wd::task_header* t = op->task_;
  holders_.fetch_add(1, std::memory_order_relaxed);  // Asio's reference is held: see holders_
  op->watch_registered_ = false;
  op->closed_ = true;
  op->cancelled_ = true;
  op->ec_ = std::make_error_code(std::errc::operation_canceled);
  wd::wake(t);  // publishes the fields above (acq_rel); the awaiter is not ours after it
}

void read_watch::forget_waiter(io_op* op) noexcept {
  // A registered waiter keeps its socket open (closing takes it back first),
  // so the descriptor is still there; its lock keeps perform() out.
  auto* d = static_cast<descriptor_state*>(descriptor_);
  descriptor_mutex::scoped_lock lock(d->*member_of(descriptor_mutex_tag{}));
  auto v = reinterpret_cast<std::uintptr_t>(op);
  waiter_.compare_exchange_strong(v, 0, std::memory_order_seq_cst);
}

void read_watch::release() noexcept {
  if (holders_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

bool read_watch::cancel_waiter(io_op* op) noexcept {
  const auto me = reinterpret_cast<std::uintptr_t>(op);
  std::uintptr_t v = me;
  for (;;) {
    // Still registered: take it back; the caller wakes the task.
    if (waiter_.compare_exchange_strong(v, 0, std::memory_order_seq_cst)) {
      op->watch_registered_ = false;
      return true;
    }
    // perform() is attempting for us: ask it to finish us off if it blocks.
    // If it handed the registration back meanwhile, start over.
    if (v == (me | busy)) {
      if (waiter_.compare_exchange_strong(v, me | busy | cancel, std::memory_order_seq_cst)) return false;
      if (v == me) continue;
    }
    // 0: it completed us already and wakes the task.
    return false;
  }
}

boost::asio::detail::reactor_op::status read_watch::do_perform(boost::asio::detail::reactor_op* base) {
  // On the thread running the home reactor (one at a time: see
  // worker::try_enter_io), under the descriptor's lock: one perform at a
  // time per socket, and the edge's event mask is this thread's to read.
  auto* w = static_cast<read_watch*>(base);
  const std::uint64_t closed = peer_may_have_closed(w->descriptor_) ? closed_bit : 0;
  std::uint64_t s = w->state_.load(std::memory_order_relaxed);
  std::uint64_t now;
  do {
    now = (s + one_tick) | ready_bit | closed;
  } while (!w->state_.compare_exchange_weak(s, now, std::memory_order_seq_cst));
  std::uintptr_t v = w->waiter_.load(std::memory_order_seq_cst);
  if (v == 0 || !w->waiter_.compare_exchange_strong(v, v | busy, std::memory_order_seq_cst))
    return not_done;  // nobody waits (or the hook just took it back)
  auto* op = reinterpret_cast<io_op*>(v);
  wd::task_header* t = op->task_;
  if (op->attempt_(op)) {
    // No reader looks at the state while one is registered: only edges
    // (serialised by the lock) move it, so `now` is current.
    if (op->short_read_) w->short_read(now);
    // A cancel that came while we attempted loses to the result: the data
    // is delivered, the next await of the task throws.
    op->watch_registered_ = false;
    w->waiter_.store(0, std::memory_order_seq_cst);
    wd::wake(t);
    return not_done;
  }
  // Would block (the edge was for data a reader took already): the socket
  // is empty; stay registered unless the task was aborted meanwhile.
  w->state_.fetch_and(~ready_bit, std::memory_order_seq_cst);
  std::uintptr_t expected = v | busy;
  if (w->waiter_.compare_exchange_strong(expected, v, std::memory_order_seq_cst)) return not_done;
  op->cancelled_ = true;
  op->watch_registered_ = false;
  w->waiter_.store(0, std::memory_order_seq_cst);
  wd::wake(t);
  return not_done;  // the watch itself never completes
}

void read_watch::do_complete(void*, boost::asio::detail::operation* base, const boost::system::error_code&,
                             std::size_t) {
  // Aborted (the socket was closed or released) or destroyed with its
  // io_context: Asio lets go. A waiter woken by the close may still hold
  // the watch (see close_waiter).
  static_cast<read_watch*>(base)->release();
}

namespace {

// basic_socket keeps its implementation protected; a member pointer taken
// through a derived class reaches it on any socket of that type.
template <class Socket>
struct impl_access : Socket {
  static auto& impl(Socket& s) noexcept { return (s.*(&impl_access::impl_)).get_implementation(); }
};

template <class Socket>
read_watch* install_on(Socket& s) {
  auto& impl = impl_access<Socket>::impl(s);
  if (!impl.reactor_data_) throw_errno(EBADF, "wait");
  auto& reactor = asio::use_service<asio::detail::reactor>(s.get_executor().context());
  auto* w = new read_watch(impl.socket_, impl.reactor_data_, ask_for_peer_close(impl.reactor_data_));
  // Not speculative: queue at once; re-arms the edge (one epoll_ctl, which
  // also registers EPOLLRDHUP).
  reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, w,
                   /*is_continuation=*/false, /*allow_speculative=*/false);
  return w;
}

}  // namespace

read_watch* install_watch(stream_socket_type& s) { return install_on(s); }

void remove_watch(stream_socket_type& s, std::atomic<read_watch*>& watch) noexcept {
  read_watch* w = watch.exchange(nullptr, std::memory_order_acq_rel);
  if (!w) return;
  auto& impl = impl_access<stream_socket_type>::impl(s);
  auto& reactor = asio::use_service<asio::detail::reactor>(s.get_executor().context());
  // Completes it with operation_aborted; its completion deletes it.
  reactor.cancel_ops_by_key(impl.socket_, impl.reactor_data_, asio::detail::reactor::read_op, w);
}

io_op::watch_wait io_op::wait_on_watch(wd::task_header* t, std::coroutine_handle<> h, void* watch) noexcept {
  t->resume_point = h;
  signal_ = watch;
  fire = &on_cancel_watch;
  t->hook = this;
  watch_registered_ = true;  // before registering: the reactor may take it back at once
  auto r = static_cast<read_watch*>(watch)->register_waiter(this);
  if (r == read_watch::registration::registered) return watch_wait::waiting;
  watch_registered_ = false;
  t->hook = nullptr;
  return r == read_watch::registration::ready ? watch_wait::ready : watch_wait::taken;
}

void io_op::on_cancel_watch(wd::cancel_hook* hook) noexcept {
  auto* self = static_cast<io_op*>(hook);
  if (static_cast<read_watch*>(self->signal_)->cancel_waiter(self)) {
    self->cancelled_ = true;
    wd::wake(self->task_);
  }
}

// ---------------------------------------------------------------------------
// read_some

bool read_some_op::attempt(io_op* base) noexcept {
  auto* self = static_cast<read_some_op*>(base);
  ssize_t n = retrying([&] { return ::recv(self->core_->fd(), self->buf_.data(), self->buf_.size(), 0); });
  if (n >= 0) {
    self->bytes_ = std::size_t(n);
    self->short_read_ = n > 0 && std::size_t(n) < self->buf_.size();
  } else if (would_block(n)) return false;
  else self->ec_ = errno_code(int(-n));
  return true;
}

bool read_some_op::start(wd::task_header* t, std::coroutine_handle<> h) {
  if (!begin(t)) return false;
  t->wait_kind = wd::wait_kind::net_read;  // for the tracer, should it wait
  if (!core_ || !core_->socket.is_open()) {
    ec_ = errno_code(EBADF);
    return false;
  }
  if (buf_.empty()) return false;
  switch (io_op_access::attempt_or_watch(this, t, h, core_->socket, core_->watch, &attempt, ec_)) {
    case watched::done: return ec_ ? false : finish_now(t, h);
    case watched::waiting: return true;
    case watched::install_failed: return false;
    case watched::taken: throw_second_reader(core_->fd(), "read_some");
  }
  return false;
}

// ---------------------------------------------------------------------------
// write_some, write_all

bool write_some_op::start(wd::task_header* t, std::coroutine_handle<> h) {
  if (!begin(t)) return false;
  t->wait_kind = wd::wait_kind::net_write;  // for the tracer, should it wait
  if (!core_ || !core_->socket.is_open()) {
    ec_ = errno_code(EBADF);
    return false;
  }
  if (data_.empty()) return false;
  ssize_t n = retrying([&] { return ::send(core_->fd(), data_.data(), data_.size(), MSG_NOSIGNAL); });
  if (n >= 0) {
    bytes_ = std::size_t(n);
    return finish_now(t, h);
  }
  if (!would_block(n)) {
    ec_ = errno_code(int(-n));
    return false;
  }
  arm(t, h, &core_->write_signal);
  start_or_disarm(t, [&] {
    core_->socket.async_write_some(asio::buffer(data_.data(), data_.size()),
                                   op_completion(this, core_->write_signal.slot()));
  });
  return true;
}

namespace {

task<void> write_rest(stream_core* core, std::span<const char> rest) {
  bool first = true;
  while (!rest.empty()) {
    co_await wait_op(core, wait_op::kind::stream_write, !first);
    first = false;
    if (int e = send_what_fits(core->fd(), rest)) throw_errno(e, "write_all");
  }
}

using rest_handle = std::coroutine_handle<wd::task_promise<void>>;

}  // namespace

write_all_op::~write_all_op() {
  // Only when the task's frame is destroyed while suspended in here (the
  // runtime's shutdown): the rest coroutine goes with it.
  if (rest_) rest_handle::from_address(rest_).destroy();
}

bool write_all_op::start(wd::task_header* t, std::coroutine_handle<> h) {
  if (!begin(t)) return false;
  t->wait_kind = wd::wait_kind::net_write;  // for the tracer, should it wait
  if (!core_ || !core_->socket.is_open()) {
    ec_ = errno_code(EBADF);
    return false;
  }
  std::span<const char> rest = data_;
  if (int e = send_what_fits(core_->fd(), rest)) {
    ec_ = errno_code(e);
    return false;
  }
  if (rest.empty()) return finish_now(t, h);
  rest_handle r = write_rest(core_, rest).release();
  r.promise().root_ = t;
  r.promise().continuation_ = h;
  rest_ = r.address();
  r.resume();  // returns at its first wait, which always suspends
  return true;
}

void write_all_op::finish_rest() {
  rest_handle r = rest_handle::from_address(std::exchange(rest_, nullptr));
  struct destroy_at_exit {
    rest_handle r;
    ~destroy_at_exit() { r.destroy(); }
  } guard{r};
  r.promise().take();  // rethrows what write_rest threw
}

// ---------------------------------------------------------------------------
// wait

bool wait_op::start(wd::task_header* t, std::coroutine_handle<> h) {
  task_ = t;
  if (check_cancel_ && !begin(t)) return false;
  t->wait_kind = kind_ == kind::stream_read || kind_ == kind::udp_read ? wd::wait_kind::net_read
                                                                       : wd::wait_kind::net_write;
  if (kind_ == kind::stream_read) {
    // Through the watch (an Asio wait would queue behind it): readable when
    // a one-byte peek would not block.
    auto* c = static_cast<stream_core*>(core_);
    if (!c || !c->socket.is_open()) {
      ec_ = errno_code(EBADF);
      return false;
    }
    switch (io_op_access::attempt_or_watch(this, t, h, c->socket, c->watch, &attempt_peek, ec_)) {
      case watched::done: return ec_ ? false : finish_now(t, h);
      case watched::waiting: return true;
      case watched::install_failed: return false;
      case watched::taken: throw_second_reader(c->fd(), "wait_readable");
    }
    return false;
  }
  start_or_disarm(t, [&] {
    switch (kind_) {
      case kind::stream_read:
        break;
      case kind::stream_write: {
        auto* c = static_cast<stream_core*>(core_);
        arm(t, h, &c->write_signal);
        c->socket.async_wait(asio::socket_base::wait_write, op_completion(this, c->write_signal.slot()));
        break;
      }
      case kind::udp_read:
      case kind::udp_write: {
        auto* c = static_cast<udp_core*>(core_);
        bool read = kind_ == kind::udp_read;
        auto& sig = read ? c->read_signal : c->write_signal;
        arm(t, h, &sig);
        c->socket.async_wait(read ? asio::socket_base::wait_read : asio::socket_base::wait_write,
                             op_completion(this, sig.slot()));
        break;
      }
    }
  });
  return true;
}

bool wait_op::attempt_peek(io_op* self) noexcept {
  auto* c = static_cast<stream_core*>(static_cast<wait_op*>(self)->core_);
  char b;
  // An error is "readable" too: the read reports it.
  return !would_block(retrying([&] { return ::recv(c->fd(), &b, 1, MSG_PEEK); }));
}

// ---------------------------------------------------------------------------
// accept

bool accept_op::attempt(io_op* base) noexcept {
  auto* self = static_cast<accept_op*>(base);
  ssize_t fd = retrying([&] {
    return ::accept4(self->core_->acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  });
  if (would_block(fd)) return false;
  self->result_ = int(fd);  // or -errno: accept's policy decides (back off, skip, throw)
  return true;
}

bool accept_op::start(wd::task_header* t, std::coroutine_handle<> h) {
  if (!begin(t)) return false;
  t->wait_kind = wd::wait_kind::net_accept;  // for the tracer, should it wait
  if (!core_ || !core_->acceptor.is_open()) {
    result_ = -EBADF;
    return false;
  }
  std::error_code error;
  switch (io_op_access::attempt_or_watch(this, t, h, core_->acceptor, core_->watch, &attempt, error)) {
    case watched::done: return finish_now(t, h);
    case watched::waiting: return true;
    case watched::install_failed: result_ = -error.value(); return false;
    case watched::taken:
      throw weft::runtime_misuse(fmt::format(
          "weft::net::{}: another task is already accepting on this listener (one accepting task at a time)",
          what_));
  }
  return false;
}

// ---------------------------------------------------------------------------
// connect

connect_op::connect_op(stream_core* c, const sockaddr* sa, socklen_t len) noexcept
    : core_(c), len_(len) {
  std::memset(&addr_, 0, sizeof addr_);
  if (len_ > socklen_t(sizeof addr_)) len_ = socklen_t(sizeof addr_);
  std::memcpy(&addr_, sa, len_);
}

void connect_op::fail_connect() const {
  if (cancelled_ || cancel_requested_) fail("connect");
  std::string where;
  if (addr_.any.sa_family == AF_UNIX) {
    const auto& un = reinterpret_cast<const sockaddr_un&>(addr_.storage);
    std::size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
    where.assign(un.sun_path, ::strnlen(un.sun_path, n));
    if (n > 0 && un.sun_path[0] == '\0') where = "@" + std::string(un.sun_path + 1, n - 1);  // abstract
  } else {
    where = endpoint(&addr_.any, len_).to_string();
  }
  throw_net_error(ec_, fmt::format("connect to {}", where).c_str());
}

bool connect_op::start(wd::task_header* t, std::coroutine_handle<> h) {
  if (!begin(t)) return false;
  t->wait_kind = wd::wait_kind::net_write;  // for the tracer, should it wait
  arm(t, h, &core_->write_signal);
  start_or_disarm(t, [&] {
    core_->socket.async_connect(to_generic(&addr_.any, len_),
                                op_completion(this, core_->write_signal.slot()));
  });
  return true;
}

// ---------------------------------------------------------------------------
// UDP

struct recv_from_handler : handler_common {
  recv_from_op* self;
  recv_from_handler(recv_from_op* s, asio::cancellation_slot sl) noexcept
      : handler_common{sl}, self(s) {}
  void operator()(const boost::system::error_code& ec, std::size_t n) const noexcept {
    if (!ec) {
      const auto& ep = self->core_->recv_from;
      self->from_ = endpoint(ep.data(), socklen_t(ep.size()));
    }
    io_op_access::complete(self, ec, ec ? 0 : n);
  }
};

bool recv_from_op::start(wd::task_header* t, std::coroutine_handle<> h) {
  if (!begin(t)) return false;
  t->wait_kind = wd::wait_kind::net_read;  // for the tracer, should it wait
  if (!core_ || !core_->socket.is_open()) {
    ec_ = errno_code(EBADF);
    return false;
  }
  sockaddr_storage ss;
  socklen_t len = sizeof ss;
  ssize_t n = retrying([&] {
    len = sizeof ss;
    return ::recvfrom(core_->fd(), buf_.data(), buf_.size(), 0, reinterpret_cast<sockaddr*>(&ss), &len);
  });
  if (n >= 0) {
    bytes_ = std::size_t(n);
    from_ = endpoint(reinterpret_cast<sockaddr*>(&ss), len);
    return finish_now(t, h);
  }
  if (!would_block(n)) {
    ec_ = errno_code(int(-n));
    return false;
  }
  arm(t, h, &core_->read_signal);
  start_or_disarm(t, [&] {
    core_->socket.async_receive_from(asio::buffer(buf_.data(), buf_.size()), core_->recv_from,
                                     recv_from_handler(this, core_->read_signal.slot()));
  });
  return true;
}

bool send_to_op::start(wd::task_header* t, std::coroutine_handle<> h) {
  if (!begin(t)) return false;
  t->wait_kind = wd::wait_kind::net_write;  // for the tracer, should it wait
  if (!core_ || !core_->socket.is_open()) {
    ec_ = errno_code(EBADF);
    return false;
  }
  ssize_t n = retrying([&] {
    return has_to_ ? ::sendto(core_->fd(), data_.data(), data_.size(), MSG_NOSIGNAL, to_.data(), to_.size())
                   : ::send(core_->fd(), data_.data(), data_.size(), MSG_NOSIGNAL);
  });
  if (n >= 0) {
    bytes_ = std::size_t(n);
    return finish_now(t, h);
  }
  if (!would_block(n)) {
    ec_ = errno_code(int(-n));
    return false;
  }
  arm(t, h, &core_->write_signal);
  start_or_disarm(t, [&] {
    if (has_to_) {
      asio::ip::udp::endpoint to;
      std::memcpy(to.data(), to_.data(), to_.size());
      core_->socket.async_send_to(asio::buffer(data_.data(), data_.size()), to,
                                  op_completion(this, core_->write_signal.slot()));
    } else {
      core_->socket.async_send(asio::buffer(data_.data(), data_.size()),
                               op_completion(this, core_->write_signal.slot()));
    }
  });
  return true;
}

}  // namespace weft::net::detail
