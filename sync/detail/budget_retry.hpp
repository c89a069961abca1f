// detail::budget_retry: how an acquire (mutex, rwlock, semaphore) yields when
// the cooperative budget is spent.
//
// Other operations that complete without waiting finish first and then
// yield, keeping their result. An acquire must not: yielding while holding a
// mutex makes every other task queue behind a task that is not running, and
// FIFO hand-off then keeps them all in that convoy, one task switch per lock,
// long after the yield. So an acquire that finds the budget spent yields
// *before* it takes anything and tries again at the task's next poll.
//
// A coroutine that resumes can only continue after its co_await, so the
// retry runs in a small coroutine frame that the poller resumes in place of
// the awaiting coroutine. It calls the awaiter's retry function, which either
// acquires (then the frame transfers straight to the awaiting coroutine,
// within the same poll) or queues the waiter like a normal slow path (then
// the poll ends). The frame comes from the frame allocator's free lists, once
// per spent budget (at most once per `budget` immediate acquires).
//
// A channel's send uses the same frame for another yield-then-retry: a
// sender that finds the channel full while its receiver last ran on the
// same worker goes behind that receiver once before it spins or queues
// (see channel.hpp).
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>

#include <runtime/detail/frame_allocator.hpp>
#include <runtime/detail/task_header.hpp>

namespace weft::detail {

// Runs at the task's next poll: returns the coroutine to continue with (the
// awaiting one), or noop_coroutine when the task now waits.
using retry_fn = std::coroutine_handle<> (*)(void* awaiter, std::coroutine_handle<> h) noexcept;

struct budget_retry {
  struct promise_type;
  std::coroutine_handle<promise_type> handle;
};

struct budget_retry::promise_type {
  promise_type(void* a, retry_fn f, std::coroutine_handle<> h, std::coroutine_handle<>* s) noexcept
      : awaiter(a), fn(f), resume(h), slot(s) {}

  static void* operator new(std::size_t n) { return frame_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { frame_free(p, n); }

  budget_retry get_return_object() noexcept {
    return {std::coroutine_handle<promise_type>::from_promise(*this)};
  }
  std::suspend_always initial_suspend() noexcept { return {}; }
  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> me) noexcept {
      promise_type& p = me.promise();
      void* a = p.awaiter;
      retry_fn f = p.fn;
      std::coroutine_handle<> h = p.resume;
      *p.slot = nullptr;  // the awaiter no longer owns a pending frame
      me.destroy();       // allowed: we are suspended at our final point
      return f(a, h);
    }
    void await_resume() noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { std::terminate(); }

  void* awaiter;
  retry_fn fn;
  std::coroutine_handle<> resume;
  std::coroutine_handle<>* slot;
};

// The frame; `slot` (in the awaiter) holds it until it runs, so that an
// awaiter destroyed first (runtime shutdown) destroys it.
inline budget_retry make_budget_retry(void*, retry_fn, std::coroutine_handle<>, std::coroutine_handle<>*) {
  co_return;
}

// Yields task `t` before an acquire; at its next poll `fn(awaiter, h)` runs.
inline bool yield_then_retry(task_header* t, void* awaiter, retry_fn fn, std::coroutine_handle<> h,
                             std::coroutine_handle<>& slot) {
  budget_retry r = make_budget_retry(awaiter, fn, h, &slot);
  slot = r.handle;
  yield_self(t, r.handle);
  return true;
}

}  // namespace weft::detail
