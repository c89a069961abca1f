// weft::channel<T>: a multi-producer multi-consumer FIFO, bounded
// (capacity >= 1) or unbounded.
//
//   weft::channel<int> ch{1024};                // or ch{weft::unbounded}
//   co_await ch.send(1);                        // waits while full
//   std::optional<int> v = co_await ch.recv();  // nullopt once closed and drained
//   ch.close();
//
// Thread safety: every member may be used from tasks on any worker at once;
// try_send, try_recv, close, size and is_closed also from plain threads. The
// channel is not reference counted: it must outlive every task using it (a
// global, a shared_ptr, or the frame of a task that joins its users).
// Messages must be nothrow move constructible.
//
// Completion: send completes once its message is in the buffer or handed to
// a waiting receiver; recv once it has a message, or the channel is closed
// and empty. Waiting senders and receivers are served in arrival order.
// A bounded channel's send and recv take no lock unless somebody waits (the
// buffer is a lock-free ring); a sender that finds it full, on a runtime
// with more than one worker, first yields once if the receiver last ran on
// its own worker (so that receiver gets to run), then retries for a moment
// while receivers make progress, and only then queues. An
// operation that completes without waiting spends cooperative budget and,
// when the budget is used up (and the poll's sync slice is over: see
// runtime_config::sync_slice), yields before returning (keeping its
// result), so a task that always finds the channel ready still lets others
// run.
//
// Closing: close() is idempotent and wakes every waiter. Messages already in
// the channel are still received, then recv gives nullopt. A send that waits
// at the close, or starts after it, throws weft::channel_closed<T> whose
// value() is the message: it was not sent, and it is handed back, never
// dropped. try_send returns send_status::closed with the value.
//
// Cancellation (join_handle::abort, timeout, when_any):
//  - recv is cancel-safe. Aborted while waiting, it throws weft::cancelled
//    and took no message. If a sender handed it a message before the abort
//    took effect, recv returns that message (the task's next await throws):
//    a message is delivered to exactly one receiver or stays in the channel.
//  - send: aborted while waiting, it throws weft::cancelled and the message
//    was not sent (it is destroyed with the awaiter, as with Tokio's send).
//    If it had already gone in, send returns normally.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/budget_retry.hpp>
#include <sync/detail/channel_buffer.hpp>
#include <sync/detail/spin_wait.hpp>
#include <sync/detail/waiter.hpp>
#include <sync/errors.hpp>
#include <sync/try_result.hpp>

namespace weft {

struct unbounded_t {
  explicit unbounded_t() = default;
};
inline constexpr unbounded_t unbounded{};

template <class T>
class channel {
 public:
  class send_awaiter;
  class recv_awaiter;

  // Throws weft::runtime_misuse for a capacity of 0.
  explicit channel(std::size_t capacity) : buffer_(checked(capacity)), capacity_(capacity) {}
  explicit channel(unbounded_t) noexcept : buffer_(SIZE_MAX), capacity_(SIZE_MAX) {}
  ~channel() {
    senders_.detach_all();
    receivers_.detach_all();
  }
  channel(const channel&) = delete;
  channel& operator=(const channel&) = delete;

  // co_await: void; waits while full; throws channel_closed<T> (holding the
  // value) when closed, weft::cancelled when the task is aborted.
  [[nodiscard]] send_awaiter send(T value) { return send_awaiter(*this, std::move(value)); }
  // co_await: std::optional<T>; nullopt once closed and drained.
  [[nodiscard]] recv_awaiter recv() noexcept { return recv_awaiter(*this); }

  // Never waits. On full or closed the value comes back in the result.
  [[nodiscard]] try_send_result<T> try_send(T value);
  // Never waits: received, empty, or closed (closed and drained).
  [[nodiscard]] try_recv_result<T> try_recv();

  void close() noexcept;
  bool is_closed() const noexcept {
    detail::spin_guard g(lock_);
    return closed_;
  }
  // Messages in the buffer now (not counting senders that wait).
  std::size_t size() const noexcept { return buffer_.size(); }
  // SIZE_MAX when unbounded.
  std::size_t capacity() const noexcept { return capacity_; }
  bool is_bounded() const noexcept { return capacity_ != SIZE_MAX; }

 private:
  friend struct detail::sync_probe;
  std::size_t waiter_count_() const noexcept {
    detail::spin_guard g(lock_);
    return senders_.size() + receivers_.size();
  }
  // A full channel's sender retries up to this many times, each after the
  // consumers took a message within this many pauses (spin_wait.hpp). A
  // consumer running on another worker frees a slot well within them; one
  // that does not is likely queued behind the sender on its own worker,
  // and every pause more only delays it (mpsc at two workers: patience 64
  // -> 16, 20M -> 25M messages/s).
  static constexpr unsigned send_spin_rounds = 64;
  static constexpr std::size_t send_spin_patience = 16;
  static constexpr std::uint16_t no_worker = 0xffff;

  static std::size_t checked(std::size_t capacity) {
    if (capacity == 0) throw runtime_misuse("weft::channel: capacity must be at least 1");
    return capacity;
  }
  bool start_send(send_awaiter& w, std::coroutine_handle<> h);
  // A full channel whose receiver last ran on this worker: the sender goes
  // behind it (true: suspend) rather than spin or queue; once per send.
  bool yield_to_local_receiver(send_awaiter& w, std::coroutine_handle<> h);
  void note_receiver_worker(detail::task_header* t) noexcept {
    // relaxed: a hint; a stale value only makes a sender spin or yield in vain.
    if (receiver_worker_.load(std::memory_order_relaxed) != t->last_worker)
      receiver_worker_.store(t->last_worker, std::memory_order_relaxed);
  }
  bool start_recv(recv_awaiter& w, std::coroutine_handle<> h);
  static void cancel_send(detail::cancel_hook* hook) noexcept;
  static void cancel_recv(detail::cancel_hook* hook) noexcept;
  // Under lock_: moves buffered messages to waiting receivers and waiting
  // senders' messages into free slots, oldest first, until neither can go
  // on; then resets the flags. Completed waiters other than `self` go to
  // `woken` (to be woken after unlocking).
  void settle_locked(detail::wake_list& woken, detail::waiter* self) noexcept;
  void settle() noexcept;

  detail::channel_buffer<T> buffer_;
  // Rarely written, read by every operation: kept off the buffer's lines.
  char pad_[detail::cache_line];
  std::atomic<bool> senders_waiting_{false};               // senders_ may be non-empty
  std::atomic<bool> receivers_waiting_{false};             // receivers_ may be non-empty
  // The worker the last receiver ran on (a hint for a sender that finds the
  // channel full; written only when it changes, so the line stays shared).
  std::atomic<std::uint16_t> receiver_worker_{no_worker};
  mutable detail::backoff_spinlock lock_;  // guards the lists and closed_
  detail::waiter_list senders_;    // in practice non-empty only while the buffer is full
  detail::waiter_list receivers_;  // in practice non-empty only while the buffer is empty
  const std::size_t capacity_;
  bool closed_ = false;
};

// A channel<T> that never makes a sender wait: send completes at once
// unless the channel is closed.
template <class T>
class unbounded_channel : public channel<T> {
 public:
  unbounded_channel() noexcept : channel<T>(unbounded) {}
};

template <class T>
class channel<T>::send_awaiter : public detail::waiter {
 public:
  send_awaiter(channel& ch, T value) : ch_(&ch), value_(std::move(value)) {}
  send_awaiter(send_awaiter&& o) noexcept : detail::waiter(o), ch_(o.ch_), value_(std::move(o.value_)) {}
  ~send_awaiter() {
    if (retry_) [[unlikely]]
      retry_.destroy();  // yielded, never polled again (runtime shutdown)
    else if (queued)
      detail::abandon_if_queued(ch_->lock_, ch_->senders_, *this);
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task = detail::running_task(h);
    if (task->is_cancelled()) {
      status = detail::wait_status::cancelled;
      return false;
    }
    return ch_->start_send(*this, h);
  }
  void await_resume() {
    task->hook = nullptr;
    if (status == detail::wait_status::done) [[likely]]
      return;
    if (status == detail::wait_status::cancelled) throw cancelled{};
    throw channel_closed<T>(std::move(value_));
  }

 private:
  friend class channel;
  static std::coroutine_handle<> retry(void* self, std::coroutine_handle<> h) noexcept;

  channel* ch_;
  T value_;
  std::coroutine_handle<> retry_;  // pending yield_to_local_receiver frame
  bool yielded_ = false;           // it yielded once already
};

template <class T>
class channel<T>::recv_awaiter : public detail::waiter {
 public:
  explicit recv_awaiter(channel& ch) noexcept : ch_(&ch) {}
  recv_awaiter(recv_awaiter&&) = default;
  ~recv_awaiter() {
    if (queued) detail::abandon_if_queued(ch_->lock_, ch_->receivers_, *this);
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task = detail::running_task(h);
    if (task->is_cancelled()) {
      status = detail::wait_status::cancelled;
      return false;
    }
    return ch_->start_recv(*this, h);
  }
  std::optional<T> await_resume() {
    task->hook = nullptr;
    if (status == detail::wait_status::cancelled) [[unlikely]]
      throw cancelled{};
    // Field by field, not a copy of the whole optional: its two fields were
    // just written separately, and one wide load of both cannot be
    // forwarded from the store buffer, so it would wait for every pending
    // store (the ring slot's, a cache miss) to drain first.
    if (!value_) return std::nullopt;
    return std::optional<T>(std::move(*value_));
  }

 private:
  friend class channel;
  channel* ch_;
  std::optional<T> value_;
};

// The buffer fast paths: a send or recv that neither has to wait nor finds
// anybody waiting touches only the buffer (lock-free for a bounded channel).
//
// Waiters and the "somebody waits" flags. A waiter registers under lock_,
// sets its side's flag (seq_cst), then retries the buffer under lock_ (in
// settle). An operation that changed the buffer without lock_ loads the
// other side's flag (seq_cst) afterwards and, when it is set, settles under
// lock_. Both the buffer's index update and the flag are seq_cst, so of a
// push racing a receiver's registration at least one sees the other: the
// receiver's retry finds the message, or the pusher sees the flag and
// settles. The flags only go false under lock_ when a list is empty; a stale
// `true` costs a needless settle, never a lost wake-up. New operations that
// see the flag of their own side go the slow way, behind the queue.

template <class T>
void channel<T>::settle_locked(detail::wake_list& woken, detail::waiter* self) noexcept {
  for (bool progress = true; progress;) {
    progress = false;
    // Messages to the oldest receivers first...
    while (detail::waiter* r = receivers_.front()) {
      auto* rw = static_cast<recv_awaiter*>(r);
      if (buffer_.try_pop(rw->value_) != detail::pop_result::ok) break;
      receivers_.pop_front();
      rw->status = detail::wait_status::done;
      if (r != self) woken.push(r);
      progress = true;
    }
    // ...then the oldest senders' messages into freed slots. A waiting
    // sender's push cannot throw: the buffer was full when it queued, so it
    // never grows again (channel_buffer.hpp).
    while (detail::waiter* s = senders_.front()) {
      auto* sw = static_cast<send_awaiter*>(s);
      if (buffer_.try_push(sw->value_) != detail::push_result::ok) break;
      senders_.pop_front();
      sw->status = detail::wait_status::done;
      if (s != self) woken.push(s);
      progress = !receivers_.empty();  // the new messages may serve them
    }
  }
  // Settling only removes waiters, so here a flag can only go from true to
  // false. Only a change is written, and relaxed: the fence that matters is
  // the registration's seq_cst store of `true`, and a `false` seen late is
  // a stale `true` (a needless settle). So a settle that leaves the flags as
  // they were (a receiver registering, a sender feeding a queue that stays)
  // costs no locked instruction.
  if (receivers_.empty() && receivers_waiting_.load(std::memory_order_relaxed))
    receivers_waiting_.store(false, std::memory_order_relaxed);
  if (senders_.empty() && senders_waiting_.load(std::memory_order_relaxed))
    senders_waiting_.store(false, std::memory_order_relaxed);
}

template <class T>
void channel<T>::settle() noexcept {
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    settle_locked(woken, nullptr);
  }
  woken.wake_all();
}

template <class T>
bool channel<T>::start_send(send_awaiter& w, std::coroutine_handle<> h) {
  // Full: while consumers keep taking messages (on other workers), try
  // again rather than queue (see spin_wait.hpp); a few rounds at most.
  bool may_spin = true;
  for (unsigned round = 0; !senders_waiting_.load(std::memory_order_relaxed); ++round) {
    // A stale `full` is fine here: queueing retries with a definite answer.
    switch (buffer_.try_push(w.value_, false)) {  // may throw bad_alloc (unbounded): rethrown at co_await
      case detail::push_result::ok:
        if (receivers_waiting_.load(std::memory_order_seq_cst)) [[unlikely]]
          settle();
        w.status = detail::wait_status::done;
        return detail::yield_if_budget_spent(w.task, h);
      case detail::push_result::closed:
        w.status = detail::wait_status::closed;
        return false;
      case detail::push_result::full:
        break;
    }
    if (round == 0) {
      may_spin = detail::parallel_workers();
      if (may_spin && !w.yielded_ &&
          receiver_worker_.load(std::memory_order_relaxed) == w.task->last_worker)
        return yield_to_local_receiver(w, h);
    }
    if (!may_spin || round == send_spin_rounds || !buffer_.wait_for_consumer(send_spin_patience)) break;
  }
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    if (closed_) {
      w.status = detail::wait_status::closed;
      return false;
    }
    detail::prepare_wait(w, h, &cancel_send, detail::wait_kind::channel);
    senders_.push_back(&w);
    senders_waiting_.store(true, std::memory_order_seq_cst);
    settle_locked(woken, &w);
    if (w.queued) return true;  // ~wake_list wakes the others settle completed
    w.task->hook = nullptr;
  }
  woken.wake_all();
  return detail::yield_if_budget_spent(w.task, h);
}

// Spinning for a receiver that waits in this worker's own queue only delays
// it; queueing costs a settle and a wake-up per freed slot. Going behind it
// lets it free a batch, which the retry then finds.
template <class T>
bool channel<T>::yield_to_local_receiver(send_awaiter& w, std::coroutine_handle<> h) {
  w.yielded_ = true;
  return detail::yield_then_retry(w.task, &w, &send_awaiter::retry, h, w.retry_);
}

template <class T>
std::coroutine_handle<> channel<T>::send_awaiter::retry(void* p, std::coroutine_handle<> h) noexcept {
  auto& w = *static_cast<send_awaiter*>(p);
  if (w.task->is_cancelled()) {
    w.status = detail::wait_status::cancelled;
    return h;
  }
  // Cannot throw: only a bounded channel is ever full, and its push never
  // allocates. True: it queued, or yielded for budget; either way the poll ends.
  return w.ch_->start_send(w, h) ? std::noop_coroutine() : h;
}

template <class T>
bool channel<T>::start_recv(recv_awaiter& w, std::coroutine_handle<> h) {
  if (!receivers_waiting_.load(std::memory_order_relaxed)) [[likely]] {
    switch (buffer_.try_pop(w.value_)) {
      case detail::pop_result::ok:
        if (senders_waiting_.load(std::memory_order_seq_cst)) [[unlikely]]
          settle();
        note_receiver_worker(w.task);
        [[fallthrough]];
      case detail::pop_result::closed:  // closed and drained: the result stays nullopt
        w.status = detail::wait_status::done;
        return detail::yield_if_budget_spent(w.task, h);
      case detail::pop_result::empty:
        break;
    }
  }
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    detail::prepare_wait(w, h, &cancel_recv, detail::wait_kind::channel);
    receivers_.push_back(&w);
    receivers_waiting_.store(true, std::memory_order_seq_cst);
    settle_locked(woken, &w);
    if (w.queued) {
      if (!closed_) return true;
      // Closed, and settle drained the buffer into older receivers: nullopt.
      receivers_.remove(&w);
      receivers_waiting_.store(!receivers_.empty(), std::memory_order_seq_cst);
    }
    w.task->hook = nullptr;
  }
  w.status = detail::wait_status::done;
  woken.wake_all();
  return detail::yield_if_budget_spent(w.task, h);
}

template <class T>
void channel<T>::cancel_send(detail::cancel_hook* hook) noexcept {
  auto& w = static_cast<send_awaiter&>(static_cast<detail::waiter&>(*hook));
  detail::cancel_if_queued(w.ch_->lock_, w.ch_->senders_, w);
}

template <class T>
void channel<T>::cancel_recv(detail::cancel_hook* hook) noexcept {
  auto& w = static_cast<recv_awaiter&>(static_cast<detail::waiter&>(*hook));
  detail::cancel_if_queued(w.ch_->lock_, w.ch_->receivers_, w);
}

template <class T>
try_send_result<T> channel<T>::try_send(T value) {
  switch (buffer_.try_push(value)) {
    case detail::push_result::ok:
      if (receivers_waiting_.load(std::memory_order_seq_cst)) settle();
      return {};
    case detail::push_result::closed:
      return {send_status::closed, std::move(value)};
    case detail::push_result::full:
      break;
  }
  return {send_status::full, std::move(value)};
}

template <class T>
try_recv_result<T> channel<T>::try_recv() {
  std::optional<T> v;
  switch (buffer_.try_pop(v)) {
    case detail::pop_result::ok:
      if (senders_waiting_.load(std::memory_order_seq_cst)) settle();
      return try_recv_result<T>(std::move(*v));
    case detail::pop_result::closed:
      return try_recv_result<T>(recv_status::closed);
    case detail::pop_result::empty:
      break;
  }
  return try_recv_result<T>(recv_status::empty);
}

template <class T>
void channel<T>::close() noexcept {
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    if (closed_) return;
    closed_ = true;
    // No push succeeds after the mark. Messages still in the buffer go to
    // the receivers that wait (a push in flight is waited for); the ones
    // left get nullopt. Waiting senders get their message back.
    buffer_.close();
    settle_locked(woken, nullptr);
    woken.take_all(receivers_, detail::wait_status::done);
    woken.take_all(senders_, detail::wait_status::closed);
    receivers_waiting_.store(false, std::memory_order_seq_cst);
    senders_waiting_.store(false, std::memory_order_seq_cst);
  }
  woken.wake_all();
}

}  // namespace weft
