// weft::barrier: a reusable rendezvous of `parties` tasks.
//
//   weft::barrier b{4};                        // constexpr: fine as a global
//   bool leader = co_await b.arrive_and_wait();  // true for exactly one per round
//
// Each round (generation) completes when `parties` tasks have arrived: the
// last to arrive does not wait, gets `true`, and wakes the others (`false`).
// Then the barrier is ready for the next round.
// Thread safety: from any task on any worker.
// Completion: as above; the last arrival spends cooperative budget.
// Cancellation: a task aborted while waiting withdraws its arrival (the
// round then needs one more task) and throws weft::cancelled. If its round
// completed before the abort took effect, it returns normally.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/waiter.hpp>

namespace weft {

class barrier {
 public:
  class wait_awaiter;

  // parties >= 1 (0 is treated as 1).
  constexpr explicit barrier(std::size_t parties) noexcept
      : parties_(parties ? parties : 1) {}
  ~barrier() { waiters_.detach_all(); }
  barrier(const barrier&) = delete;
  barrier& operator=(const barrier&) = delete;

  // co_await: bool, true for the arrival that completed the round.
  [[nodiscard]] wait_awaiter arrive_and_wait() noexcept;
  std::size_t parties() const noexcept { return parties_; }
  // Completed rounds so far.
  std::uint64_t generation() const noexcept {
    detail::spin_guard g(lock_);
    return generation_;
  }

 private:
  friend struct detail::sync_probe;
  // True: this arrival completed the round (the others are in `woken`).
  bool arrive(detail::waiter& w, detail::wake_list& woken) noexcept;
  // Takes a waiting `w` back out of its round. True if it was waiting.
  bool withdraw(detail::waiter& w) noexcept;
  static void on_cancel(detail::cancel_hook* hook) noexcept;
  std::size_t waiter_count_() const noexcept;

  const std::size_t parties_;
  std::size_t arrived_ = 0;  // this round; == queue length, under lock_
  std::uint64_t generation_ = 0;
  mutable detail::backoff_spinlock lock_;
  detail::waiter_list waiters_;
};

class barrier::wait_awaiter : public detail::waiter {
 public:
  explicit wait_awaiter(barrier& b) noexcept : b_(&b) {}
  wait_awaiter(wait_awaiter&&) = default;
  ~wait_awaiter() {
    if (queued) b_->withdraw(*this);
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    task = detail::running_task(h);
    if (task->is_cancelled()) {
      status = detail::wait_status::cancelled;
      return false;
    }
    detail::prepare_wait(*this, h, &on_cancel, detail::wait_kind::sync);
    detail::wake_list woken;
    if (!b_->arrive(*this, woken)) return true;
    task->hook = nullptr;
    leader_ = true;
    status = detail::wait_status::done;
    woken.wake_all();
    return detail::yield_if_budget_spent(task, h);
  }
  bool await_resume() const {
    task->hook = nullptr;
    if (status == detail::wait_status::cancelled) throw cancelled{};
    return leader_;
  }

 private:
  friend class barrier;
  barrier* b_;
  bool leader_ = false;
};

}  // namespace weft
