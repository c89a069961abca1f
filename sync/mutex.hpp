// weft::mutex: an async mutex, FIFO-fair.
//
//   weft::mutex m;                        // constexpr: fine as a global
//   { auto g = co_await m.lock(); ... }   // the guard unlocks
//
// Fast paths: lock of a free mutex is one CAS, unlock with nobody waiting is
// one CAS. With waiters, unlock hands the mutex straight to the oldest one
// (it wakes owning it) so no task can barge ahead of the queue, and a task
// that keeps locking and unlocking cannot starve the others.
// Thread safety: lock/try_lock from any task on any worker; the guard (or
// unlock) from whichever task or thread holds the mutex. Not recursive.
// Misuse: unlock() of a mutex that is not locked (unlocked twice, say by hand
// and then by the guard) prints a message and aborts the process: unlock is
// noexcept and runs in guards' destructors, so it cannot throw, and going on
// would break mutual exclusion for good. Ownership is not recorded (that
// would cost the fast paths), so an unlock by a task that does not hold a
// locked mutex goes unnoticed and frees it under its owner: don't.
// Completion: lock completes when the caller owns the mutex. Every lock
// spends cooperative budget; when it is used up the task yields *before*
// taking the mutex (never while holding it), so a task looping on an
// uncontended mutex still lets others run without forming a convoy.
// Cancellation: a lock aborted while waiting leaves the queue and throws
// weft::cancelled, never holding the mutex. If the mutex was handed to it
// before the abort took effect, lock returns the guard (the task's next
// await throws and unwinding the guard unlocks); a task destroyed by runtime
// shutdown before it resumed unlocks what it was handed.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <utility>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/budget_retry.hpp>
#include <sync/detail/waiter.hpp>

namespace weft {

class mutex;
class condition_variable;

namespace detail {
// A task in a mutex's queue: a lock() or a condition_variable wait that was
// notified and now waits to get the mutex back.
struct mutex_waiter : waiter {
  mutex* mtx = nullptr;
};
}  // namespace detail

class mutex {
 public:
  class guard;
  class lock_awaiter;

  constexpr mutex() noexcept = default;
  ~mutex() { waiters_.detach_all(); }
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  // co_await: a guard owning the mutex.
  [[nodiscard]] lock_awaiter lock() noexcept;
  // An owning guard, or an empty one (owns_lock() false) when the mutex is
  // held. Never waits, never barges ahead of waiters.
  [[nodiscard]] guard try_lock() noexcept;
  bool is_locked() const noexcept { return state_.load(std::memory_order_relaxed) != unlocked; }

  // Unlocks a mutex the caller owns (guards do it for you). Hands the mutex
  // to the oldest waiter if there is one. Aborts if it is not locked.
  void unlock() noexcept {
    std::uint32_t expected = locked;
    // release: the critical section is published to the next owner, whose
    // acquire CAS (or the hand-off, through lock_ and the wake) reads it.
    if (state_.compare_exchange_strong(expected, unlocked, std::memory_order_release,
                                       std::memory_order_relaxed)) [[likely]]
      return;
    unlock_slow();
  }

 private:
  friend class condition_variable;
  friend struct detail::sync_probe;

  // state_: unlocked; locked (nobody waits); contended (locked, and the
  // queue may be non-empty, so unlock must take the slow path). It leaves
  // `contended` only under lock_, so an unlock that sees it can rely on the
  // queue, and lock_ orders the queue itself.
  static constexpr std::uint32_t unlocked = 0;
  static constexpr std::uint32_t locked = 1;
  static constexpr std::uint32_t contended = 2;

  bool try_lock_fast() noexcept {
    std::uint32_t expected = unlocked;
    // acquire: see the previous owner's critical section.
    return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  // Takes the mutex for `w` or queues it. True: `w` owns it now.
  bool lock_or_enqueue(detail::mutex_waiter& w) noexcept;
  // Queues w (true: suspend) or takes the mutex at once (false: go on).
  bool lock_slow(lock_awaiter& w, std::coroutine_handle<> h) noexcept;
  void unlock_slow() noexcept;
  // Unlinks a waiting `w` (cancel). True if it was queued.
  bool remove_waiter(detail::mutex_waiter& w) noexcept;
  static void on_cancel(detail::cancel_hook* hook) noexcept;
  std::size_t waiter_count_() const noexcept;

  std::atomic<std::uint32_t> state_{unlocked};
  mutable detail::backoff_spinlock lock_;
  detail::waiter_list waiters_;
};

class mutex::guard {
 public:
  guard() noexcept = default;
  guard(guard&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  guard& operator=(guard&& o) noexcept {
    if (this != &o) {
      unlock();
      m_ = std::exchange(o.m_, nullptr);
    }
    return *this;
  }
  ~guard() { unlock(); }

  bool owns_lock() const noexcept { return m_ != nullptr; }
  explicit operator bool() const noexcept { return owns_lock(); }
  // The mutex this guard owns, or null.
  mutex* owner() const noexcept { return m_; }
  // Unlocks early (no-op if not owning).
  void unlock() noexcept {
    if (m_) std::exchange(m_, nullptr)->unlock();
  }
  // Gives up ownership without unlocking; the caller must unlock later.
  mutex* release() noexcept { return std::exchange(m_, nullptr); }

 private:
  friend class mutex;
  friend class condition_variable;
  explicit guard(mutex* m) noexcept : m_(m) {}
  mutex* m_ = nullptr;
};

class mutex::lock_awaiter : public detail::mutex_waiter {
 public:
  explicit lock_awaiter(mutex& m) noexcept { mtx = &m; }
  lock_awaiter(lock_awaiter&& o) noexcept : detail::mutex_waiter(o) {}
  ~lock_awaiter() {
    if (retry_) [[unlikely]] {
      retry_.destroy();  // yielded for budget, never polled again (runtime shutdown)
    } else if (queued) [[unlikely]] {
      mtx->remove_waiter(*this);
    } else if (status == detail::wait_status::done && !taken_) [[unlikely]] {
      mtx->unlock();  // owned but never resumed (runtime shutdown)
    }
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task = detail::running_task(h);
    if (task->is_cancelled()) {
      status = detail::wait_status::cancelled;
      return false;
    }
    // Budget spent: yield before taking the mutex (see budget_retry.hpp).
    if (detail::spend_sync_budget(task)) [[unlikely]]
      return detail::yield_then_retry(task, this, &retry, h, retry_);
    if (mtx->try_lock_fast()) [[likely]] {
      status = detail::wait_status::done;
      return false;
    }
    return mtx->lock_slow(*this, h);
  }
  guard await_resume() {
    task->hook = nullptr;
    if (status != detail::wait_status::done) throw cancelled{};
    taken_ = true;
    return guard(mtx);
  }

 private:
  friend class mutex;
  static std::coroutine_handle<> retry(void* self, std::coroutine_handle<> h) noexcept;

  std::coroutine_handle<> retry_;
  bool taken_ = false;
};

inline mutex::lock_awaiter mutex::lock() noexcept { return lock_awaiter(*this); }

inline mutex::guard mutex::try_lock() noexcept {
  return try_lock_fast() ? guard(this) : guard();
}

}  // namespace weft
