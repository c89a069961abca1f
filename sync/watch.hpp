// weft::watch<T>: the latest value, and receivers that wait for it to change.
//
//   weft::watch<config> cfg{initial};
//   auto rx = cfg.subscribe();               // the current value counts as seen
//   cfg.send(next);                          // never waits; replaces the value
//   while (auto c = co_await rx.recv()) apply(*c);   // each change (latest only)
//
// Only the latest value is kept: a receiver that is slow sees the newest
// value, not every intermediate one. Each send bumps a version; a receiver
// remembers the version it saw last. T must be copyable; values are copied
// under the watch's lock (keep them cheap to copy, or use shared_ptr<const X>).
// Thread safety: send, modify, get, close, subscribe from any task or thread;
// a receiver is used by one task at a time. The watch must outlive its
// receivers.
// Completion: changed()/recv() complete when the version moved past the one
// the receiver saw (then it is marked seen), or when the watch is closed and
// nothing new is left. Completing without waiting spends cooperative budget.
// Closing: close() wakes every waiting receiver; send afterwards throws
// weft::channel_closed<T> holding the value.
// Cancellation: cancel-safe: the seen version moves only when the await
// returns, so an aborted wait misses nothing.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/waiter.hpp>
#include <sync/errors.hpp>

namespace weft {

template <class T>
class watch {
 public:
  class receiver;

  watch() : value_() {}
  explicit watch(T initial) : value_(std::move(initial)) {}
  ~watch() { waiters_.detach_all(); }
  watch(const watch&) = delete;
  watch& operator=(const watch&) = delete;

  // Replaces the value and wakes waiting receivers. Never waits. Throws
  // weft::channel_closed<T> with the value when closed.
  void send(T value);
  // Changes the value in place: f(T&) runs under the lock (keep it short),
  // then receivers are told as for send. Throws weft::closed_error when closed.
  template <class F>
  void modify(F&& f);
  // A copy of the latest value.
  T get() const {
    detail::spin_guard g(lock_);
    return value_;
  }
  // Starts at 1 and grows by one per send or modify.
  std::uint64_t version() const noexcept {
    detail::spin_guard g(lock_);
    return version_;
  }
  [[nodiscard]] receiver subscribe() noexcept;
  void close() noexcept;
  bool is_closed() const noexcept {
    detail::spin_guard g(lock_);
    return closed_;
  }

 private:
  friend struct detail::sync_probe;
  std::size_t waiter_count_() const noexcept {
    detail::spin_guard g(lock_);
    return waiters_.size();
  }
  void publish(detail::wake_list& woken) noexcept {
    ++version_;
    woken.take_all(waiters_, detail::wait_status::done);
  }

  mutable detail::backoff_spinlock lock_;
  T value_;
  std::uint64_t version_ = 1;
  bool closed_ = false;
  detail::waiter_list waiters_;
};

template <class T>
class watch<T>::receiver {
 public:
  template <bool WithValue>
  class change_awaiter;

  receiver(const receiver&) noexcept = default;  // an independent receiver at the same version
  receiver& operator=(const receiver&) noexcept = default;

  // co_await: bool. True once a newer value exists (marks it seen); false
  // when the watch is closed and nothing new is left.
  [[nodiscard]] change_awaiter<false> changed() noexcept { return change_awaiter<false>(*this); }
  // co_await: std::optional<T>. Waits for a newer value and returns a copy of
  // the latest (marking it seen); nullopt when closed and nothing new is left.
  [[nodiscard]] change_awaiter<true> recv() noexcept { return change_awaiter<true>(*this); }
  // A copy of the latest value, marked seen. Never waits.
  T get() {
    detail::spin_guard g(w_->lock_);
    seen_ = w_->version_;
    return w_->value_;
  }
  bool has_changed() const noexcept {
    detail::spin_guard g(w_->lock_);
    return w_->version_ != seen_;
  }

 private:
  friend class watch;
  receiver(watch* w, std::uint64_t seen) noexcept : w_(w), seen_(seen) {}

  watch* w_;
  std::uint64_t seen_;
};

template <class T>
template <bool WithValue>
class watch<T>::receiver::change_awaiter : public detail::waiter {
  using result_type = std::conditional_t<WithValue, std::optional<T>, bool>;

 public:
  explicit change_awaiter(receiver& r) noexcept : rx_(&r), w_(r.w_) {}
  change_awaiter(change_awaiter&&) = default;
  ~change_awaiter() {
    // Through the watch, not the receiver: at runtime shutdown a receiver
    // that another task's frame owned may be gone before this frame is.
    if (queued) detail::abandon_if_queued(w_->lock_, w_->waiters_, *this);
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task = detail::running_task(h);
    if (task->is_cancelled()) {
      status = detail::wait_status::cancelled;
      return false;
    }
    watch& w = *w_;
    {
      detail::spin_guard g(w.lock_);
      if (w.version_ == rx_->seen_ && !w.closed_) {
        detail::prepare_wait(*this, h, &on_cancel, detail::wait_kind::channel);
        w.waiters_.push_back(this);
        return true;
      }
      take(w);
    }
    status = detail::wait_status::done;
    return detail::yield_if_budget_spent(task, h);
  }
  result_type await_resume() {
    task->hook = nullptr;
    if (status == detail::wait_status::cancelled) throw cancelled{};
    if (!taken_) {
      // Woken by a change or a close: read the latest now.
      watch& w = *w_;
      detail::spin_guard g(w.lock_);
      take(w);
    }
    return std::move(result_);
  }

 private:
  // Under the lock, with something to report (a newer version, or closed).
  void take(watch& w) {
    taken_ = true;
    if (w.version_ == rx_->seen_) return;  // closed, nothing new: false / nullopt
    rx_->seen_ = w.version_;
    if constexpr (WithValue) result_.emplace(w.value_);
    else result_ = true;
  }
  static void on_cancel(detail::cancel_hook* hook) noexcept {
    auto& a = static_cast<change_awaiter&>(static_cast<detail::waiter&>(*hook));
    detail::cancel_if_queued(a.w_->lock_, a.w_->waiters_, a);
  }

  receiver* rx_;
  watch* w_;
  result_type result_{};
  bool taken_ = false;
};

template <class T>
void watch<T>::send(T value) {
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    if (closed_) throw channel_closed<T>(std::move(value));
    value_ = std::move(value);
    publish(woken);
  }
  woken.wake_all();
}

template <class T>
template <class F>
void watch<T>::modify(F&& f) {
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    if (closed_) throw closed_error{};
    std::forward<F>(f)(value_);
    publish(woken);
  }
  woken.wake_all();
}

template <class T>
typename watch<T>::receiver watch<T>::subscribe() noexcept {
  detail::spin_guard g(lock_);
  return receiver(this, version_);
}

template <class T>
void watch<T>::close() noexcept {
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    if (closed_) return;
    closed_ = true;
    woken.take_all(waiters_, detail::wait_status::done);
  }
  woken.wake_all();
}

}  // namespace weft
