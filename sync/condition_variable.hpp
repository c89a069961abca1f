// weft::condition_variable: waits for a notification while releasing a
// weft::mutex, like std::condition_variable with an async mutex.
//
//   weft::mutex m; weft::condition_variable cv; bool ready = false;
//   auto g = co_await m.lock();
//   while (!ready) co_await cv.wait(g);          // or: co_await cv.wait(g, [&] { return ready; });
//   ...                                           // g owns m again here
//   // elsewhere: { auto g = co_await m.lock(); ready = true; } cv.notify_one();
//
// wait(g) queues the task on the condition variable, then unlocks g's mutex;
// a notify moves it to the mutex's queue (behind tasks already waiting for
// the mutex) and the task resumes only once it owns the mutex again, so
// notify_all does not stampede. There are no spurious wake-ups, but keep
// the predicate loop: another task may change the state first.
// Thread safety: wait from any task holding the mutex; notify_one /
// notify_all from any task or thread, with or without the mutex.
// Completion: wait completes after a notify, once the mutex is owned again.
// Cancellation: aborted while waiting (for the notify or for the mutex), wait
// throws weft::cancelled and the guard no longer owns the mutex
// (owns_lock() is false; unwinding it is harmless). If the task was already
// aborted when wait starts, wait throws at once and the guard still owns the
// mutex. If the mutex was handed back before the abort took effect, wait
// returns normally, owning it. A waiter that was notified and is aborted
// before it owns the mutex again passes the notification on to the next
// waiter (as notify_one would), so no notification is lost to a cancellation.
// Under weft::timeout (or when_any) the deadline aborts the wait at any of
// these points, so after weft::timed_out the guard may or may not own the
// mutex: look at g.owns_lock() before touching what it guards.
#pragma once

#include <coroutine>
#include <cstddef>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <runtime/task.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/waiter.hpp>
#include <sync/mutex.hpp>

namespace weft {

class condition_variable {
 public:
  class wait_awaiter;

  constexpr condition_variable() noexcept = default;
  ~condition_variable() { waiters_.detach_all(); }
  condition_variable(const condition_variable&) = delete;
  condition_variable& operator=(const condition_variable&) = delete;

  // co_await: void. `g` must own a mutex (else weft::runtime_misuse).
  [[nodiscard]] wait_awaiter wait(mutex::guard& g) noexcept;
  // Waits until pred() holds (checked with the mutex held). Allocates a
  // coroutine frame per call; on a hot path write the loop yourself.
  template <class Pred>
  task<void> wait(mutex::guard& g, Pred pred) {
    while (!pred()) co_await wait(g);
  }

  void notify_one() noexcept;
  void notify_all() noexcept;

 private:
  friend struct detail::sync_probe;
  // Under lock_: moves a popped waiter to its mutex; true if it got the
  // mutex at once (then the caller wakes it).
  static bool hand_to_mutex(wait_awaiter& w) noexcept;
  static void on_cancel(detail::cancel_hook* hook) noexcept;
  void enqueue(wait_awaiter& w) noexcept;
  void abandon(wait_awaiter& w) noexcept;
  std::size_t waiter_count_() const noexcept;

  mutable detail::backoff_spinlock lock_;  // taken before a mutex's lock, never after
  detail::waiter_list waiters_;
};

class condition_variable::wait_awaiter : public detail::mutex_waiter {
 public:
  wait_awaiter(condition_variable& cv, mutex::guard& g) noexcept : cv_(&cv), guard_(&g) {}
  wait_awaiter(wait_awaiter&&) = default;
  ~wait_awaiter() {
    if (!resumed_ && released_) [[unlikely]]
      cv_->abandon(*this);  // destroyed while waiting (runtime shutdown)
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task = detail::running_task(h);
    if (!guard_->owns_lock())
      throw runtime_misuse("weft::condition_variable::wait: the guard does not own a mutex");
    if (task->is_cancelled()) {
      status = detail::wait_status::cancelled;
      return false;
    }
    mtx = guard_->owner();
    detail::prepare_wait(*this, h, &on_cancel, detail::wait_kind::sync);
    cv_->enqueue(*this);
    released_ = true;
    mtx->unlock();  // after queueing: a notify issued after this unlock finds us
    return true;
  }
  void await_resume() {
    task->hook = nullptr;
    resumed_ = true;
    if (status == detail::wait_status::cancelled) {
      if (released_) guard_->release();  // we do not own the mutex
      throw cancelled{};
    }
  }

 private:
  friend class condition_variable;
  condition_variable* cv_;
  mutex::guard* guard_;
  bool in_cv_ = false;     // in cv_'s queue (else in the mutex's, or done); under cv_->lock_
  bool released_ = false;  // this wait unlocked the mutex
  bool resumed_ = false;
};

inline condition_variable::wait_awaiter condition_variable::wait(mutex::guard& g) noexcept {
  return wait_awaiter(*this, g);
}

}  // namespace weft
