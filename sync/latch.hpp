// weft::latch: a single-use countdown, like std::latch.
//
//   weft::latch done{3};             // constexpr: fine as a global
//   done.count_down();               // from anywhere, three times
//   co_await done.wait();            // returns once the count reached zero
//
// Thread safety: every member from any task or thread.
// Completion: wait completes once the count is zero (then it spends
// cooperative budget and does not suspend). Reaching zero wakes every
// waiter. arrive_and_wait(n) is count_down(n) then wait().
// Cancellation: cancel-safe: an aborted wait leaves the queue and throws
// weft::cancelled; its count_down (for arrive_and_wait) stays counted.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/waiter.hpp>

namespace weft {

class latch {
 public:
  class wait_awaiter;

  constexpr explicit latch(std::size_t count) noexcept : count_(count) {}
  ~latch() { waiters_.detach_all(); }
  latch(const latch&) = delete;
  latch& operator=(const latch&) = delete;

  // Throws weft::runtime_misuse when n exceeds the count left.
  void count_down(std::size_t n = 1);
  [[nodiscard]] wait_awaiter wait() noexcept;
  [[nodiscard]] wait_awaiter arrive_and_wait(std::size_t n = 1);
  bool try_wait() const noexcept { return count_.load(std::memory_order_acquire) == 0; }
  std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }

 private:
  friend struct detail::sync_probe;
  bool done_or_enqueue(detail::waiter& w) noexcept;
  static void on_cancel(detail::cancel_hook* hook) noexcept;
  std::size_t waiter_count_() const noexcept;

  // Decremented with acq_rel RMWs: the one that reaches zero has seen every
  // other count_down's writes and publishes them to waiters (via the wakes,
  // and via the acquire load of a wait that finds zero).
  std::atomic<std::size_t> count_;
  mutable detail::backoff_spinlock lock_;
  detail::waiter_list waiters_;
};

class latch::wait_awaiter : public detail::waiter {
 public:
  explicit wait_awaiter(latch& l) noexcept : latch_(&l) {}
  wait_awaiter(wait_awaiter&&) = default;
  ~wait_awaiter() {
    if (queued) detail::abandon_if_queued(latch_->lock_, latch_->waiters_, *this);
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    task = detail::running_task(h);
    if (task->is_cancelled()) {
      status = detail::wait_status::cancelled;
      return false;
    }
    if (!latch_->try_wait()) {
      detail::prepare_wait(*this, h, &on_cancel, detail::wait_kind::sync);
      if (!latch_->done_or_enqueue(*this)) return true;
      task->hook = nullptr;
    }
    status = detail::wait_status::done;
    return detail::yield_if_budget_spent(task, h);
  }
  void await_resume() const {
    task->hook = nullptr;
    if (status == detail::wait_status::cancelled) throw cancelled{};
  }

 private:
  friend class latch;
  latch* latch_;
};

inline latch::wait_awaiter latch::wait() noexcept { return wait_awaiter(*this); }
inline latch::wait_awaiter latch::arrive_and_wait(std::size_t n) {
  count_down(n);
  return wait_awaiter(*this);
}

}  // namespace weft
