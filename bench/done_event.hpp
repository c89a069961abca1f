// done_event: a one-time signal with at most one waiting task, for workloads
// whose root must sleep (not spin) until the last of its tasks is done. A
// stand-in until sync/ has its event; built on the runtime's wake protocol.
//
// Thread safety: set() may be called from any thread, once. wait() is
// awaited by one task, once.
// Completion: wait() returns at once if set() came first; otherwise the
// setter wakes the waiting task.
// Cancellation: if the waiting task is aborted, wait() throws
// weft::cancelled (unless set() got there first; then it returns normally).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>

#include <runtime/runtime.hpp>

namespace weft::bench {

class done_event {
 public:
  done_event() = default;
  done_event(const done_event&) = delete;
  done_event& operator=(const done_event&) = delete;

  void set() noexcept {
    // acq_rel: release publishes what the setter wrote before set() to the
    // waiter; acquire pairs with the waiter's registration, so the task
    // header we wake is fully written.
    std::uintptr_t prev = state_.exchange(set_marker, std::memory_order_acq_rel);
    if (prev != empty && prev != set_marker) detail::wake(reinterpret_cast<detail::task_header*>(prev));
  }

  bool is_set() const noexcept { return state_.load(std::memory_order_acquire) == set_marker; }

  auto wait() noexcept { return awaiter{{}, this}; }

 private:
  // empty, set_marker, or the waiting task's header.
  static constexpr std::uintptr_t empty = 0;
  static constexpr std::uintptr_t set_marker = 1;

  struct awaiter : detail::cancel_hook {
    done_event* ev;
    detail::task_header* task = nullptr;
    bool was_cancelled = false;

    bool await_ready() const noexcept { return ev->is_set(); }

    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
      task = detail::running_task(h);
      if (task->is_cancelled()) {
        was_cancelled = true;
        return false;
      }
      task->resume_point = h;
      fire = &on_cancel;
      task->hook = this;
      std::uintptr_t expected = empty;
      // release: the setter that takes our header sees resume_point and hook;
      // acquire on failure: we see what the setter published.
      if (ev->state_.compare_exchange_strong(expected, reinterpret_cast<std::uintptr_t>(task),
                                             std::memory_order_acq_rel,
                                             std::memory_order_acquire))
        return true;
      // Set meanwhile: go on, but spend budget like any ready operation.
      task->hook = nullptr;
      if (!detail::spend_budget(task)) return false;
      detail::wake(task);  // we hold `running`: requeued at poll end
      return true;
    }

    static void on_cancel(detail::cancel_hook* hook) noexcept {
      auto* self = static_cast<awaiter*>(hook);
      std::uintptr_t expected = reinterpret_cast<std::uintptr_t>(self->task);
      // Unregister; if a setter already took us, its wake is on the way.
      if (self->ev->state_.compare_exchange_strong(expected, empty, std::memory_order_acq_rel,
                                                   std::memory_order_acquire)) {
        self->was_cancelled = true;
        detail::wake(self->task);
      }
    }

    void await_resume() const {
      if (task) task->hook = nullptr;
      if (was_cancelled) throw weft::cancelled{};
    }
  };

  std::atomic<std::uintptr_t> state_{empty};
};

}  // namespace weft::bench
