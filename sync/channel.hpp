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
// and empty. Waiting senders and receivers are served in arrival order. An
// operation that completes without waiting spends cooperative budget and,
// when the budget is used up, yields before returning (keeping its result),
// so a task that always finds the channel ready still lets others run.
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

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/ring_buffer.hpp>
#include <sync/detail/backoff_spinlock.hpp>
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
  explicit channel(std::size_t capacity) : capacity_(capacity) {
    if (capacity == 0) throw runtime_misuse("weft::channel: capacity must be at least 1");
  }
  explicit channel(unbounded_t) noexcept : capacity_(SIZE_MAX) {}
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
  std::size_t size() const noexcept {
    detail::spin_guard g(lock_);
    return buffer_.size();
  }
  // SIZE_MAX when unbounded.
  std::size_t capacity() const noexcept { return capacity_; }
  bool is_bounded() const noexcept { return capacity_ != SIZE_MAX; }

 private:
  friend struct detail::sync_probe;
  std::size_t waiter_count_() const noexcept {
    detail::spin_guard g(lock_);
    return senders_.size() + receivers_.size();
  }
  bool start_send(send_awaiter& w, std::coroutine_handle<> h);
  bool start_recv(recv_awaiter& w, std::coroutine_handle<> h);
  static void cancel_send(detail::cancel_hook* hook) noexcept;
  static void cancel_recv(detail::cancel_hook* hook) noexcept;
  // Takes the first waiting sender's message into the buffer (a slot was
  // just freed). Returns the task to wake after unlocking, or null.
  detail::task_header* refill_from_sender() noexcept;

  mutable detail::backoff_spinlock lock_;
  detail::ring_buffer<T> buffer_;
  detail::waiter_list senders_;    // non-empty only while the buffer is full
  detail::waiter_list receivers_;  // non-empty only while the buffer is empty
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
  send_awaiter(send_awaiter&&) = default;
  ~send_awaiter() {
    if (queued) detail::abandon_if_queued(ch_->lock_, ch_->senders_, *this);
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
  channel* ch_;
  T value_;
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
    return std::move(value_);
  }

 private:
  friend class channel;
  channel* ch_;
  std::optional<T> value_;
};

template <class T>
detail::task_header* channel<T>::refill_from_sender() noexcept {
  detail::waiter* s = senders_.pop_front();
  if (!s) return nullptr;
  auto* sw = static_cast<send_awaiter*>(s);
  buffer_.push_back(std::move(sw->value_));  // cannot grow: a slot was just freed
  sw->status = detail::wait_status::done;
  return sw->task;
}

template <class T>
bool channel<T>::start_send(send_awaiter& w, std::coroutine_handle<> h) {
  detail::task_header* to_wake = nullptr;
  {
    detail::spin_guard g(lock_);
    if (closed_) {
      w.status = detail::wait_status::closed;
      return false;
    }
    if (detail::waiter* r = receivers_.pop_front()) {
      // A receiver waits, so the buffer is empty: hand the message over.
      auto* rw = static_cast<recv_awaiter*>(r);
      rw->value_.emplace(std::move(w.value_));
      rw->status = detail::wait_status::done;
      to_wake = rw->task;
    } else if (buffer_.size() < capacity_) {
      buffer_.push_back(std::move(w.value_));  // may throw bad_alloc: unlocks, rethrown at co_await
    } else {
      detail::prepare_wait(w, h, &cancel_send, detail::wait_kind::channel);
      senders_.push_back(&w);
      return true;
    }
  }
  w.status = detail::wait_status::done;
  if (to_wake) detail::wake(to_wake);
  return detail::yield_if_budget_spent(w.task, h);
}

template <class T>
bool channel<T>::start_recv(recv_awaiter& w, std::coroutine_handle<> h) {
  detail::task_header* to_wake = nullptr;
  {
    detail::spin_guard g(lock_);
    if (!buffer_.empty()) {
      w.value_.emplace(buffer_.pop_front());
      to_wake = refill_from_sender();
    } else if (!closed_) {
      detail::prepare_wait(w, h, &cancel_recv, detail::wait_kind::channel);
      receivers_.push_back(&w);
      return true;
    }
    // else: closed and drained, the result stays nullopt
  }
  w.status = detail::wait_status::done;
  if (to_wake) detail::wake(to_wake);
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
  detail::task_header* to_wake = nullptr;
  {
    detail::spin_guard g(lock_);
    if (closed_) return {send_status::closed, std::move(value)};
    if (detail::waiter* r = receivers_.pop_front()) {
      auto* rw = static_cast<recv_awaiter*>(r);
      rw->value_.emplace(std::move(value));
      rw->status = detail::wait_status::done;
      to_wake = rw->task;
    } else if (buffer_.size() < capacity_) {
      buffer_.push_back(std::move(value));
    } else {
      return {send_status::full, std::move(value)};
    }
  }
  if (to_wake) detail::wake(to_wake);
  return {};
}

template <class T>
try_recv_result<T> channel<T>::try_recv() {
  detail::task_header* to_wake = nullptr;
  std::optional<T> v;
  {
    detail::spin_guard g(lock_);
    if (buffer_.empty())
      return try_recv_result<T>(closed_ ? recv_status::closed : recv_status::empty);
    v.emplace(buffer_.pop_front());
    to_wake = refill_from_sender();
  }
  if (to_wake) detail::wake(to_wake);
  return try_recv_result<T>(std::move(*v));
}

template <class T>
void channel<T>::close() noexcept {
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    if (closed_) return;
    closed_ = true;
    // Receivers wait only on an empty buffer: they get nullopt. Senders wait
    // only on a full one: they get their message back.
    woken.take_all(receivers_, detail::wait_status::done);
    woken.take_all(senders_, detail::wait_status::closed);
  }
  woken.wake_all();
}

}  // namespace weft
