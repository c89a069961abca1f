// weft::yield_now(): let the other runnable tasks go first. The task goes to
// the back of its worker's queue (where an idle worker may steal it),
// without a wake-up (see detail::yield_self), and runs again only after its
// worker has polled its reactor, so a task that yields in a loop does not
// hold back timers and socket completions (as in Tokio). A spent cooperative
// budget yields the same way.
// Cancellation: throws weft::cancelled if the task was aborted.
#pragma once

#include <coroutine>

#include <runtime/detail/promise_base.hpp>

namespace weft {

namespace detail {
struct yield_awaitable {
  task_header* task = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    task = running_task(h);
    if (task->is_cancelled()) return false;
    yield_self(task, h);
    return true;
  }
  void await_resume() const {
    if (task->is_cancelled()) throw cancelled{};
  }
};

// Spends one unit of the cooperative budget; true when it is used up, and the
// caller should suspend with yield semantics even though it could go on.
inline bool spend_budget(task_header* t) noexcept { return --t->budget <= 0; }

// The same for an in-memory operation (channel, lock, event): when the budget
// is used up the poll may go on for the rest of its sync slice
// (runtime_config::sync_slice), with the budget refilled.
bool sync_slice_over(task_header* t) noexcept;  // worker.cpp
inline bool spend_sync_budget(task_header* t) noexcept {
  return --t->budget <= 0 && sync_slice_over(t);
}
}  // namespace detail

[[nodiscard]] inline detail::yield_awaitable yield_now() noexcept { return {}; }

}  // namespace weft
