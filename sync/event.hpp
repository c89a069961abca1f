// weft::event: a flag tasks wait on, like asyncio.Event.
//
//   weft::event ev;                  // constexpr: fine as a global
//   co_await ev.wait();              // returns at once while set
//   ev.set();                        // wakes every waiter; stays set
//   ev.reset();                      // later waits wait again
//   ev.notify_one(); ev.notify_all();  // wake waiters without setting
//
// Thread safety: every member from any task or thread.
// Completion: wait completes when the event is set (then it spends
// cooperative budget and does not suspend), or at a set() or notify while it
// waits. notify_one wakes the oldest waiter; notify_all wakes every current
// waiter; neither changes the flag nor affects later waits.
// Cancellation: cancel-safe: an aborted wait leaves the queue and throws
// weft::cancelled; a wait that was already woken returns normally.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/waiter.hpp>

namespace weft {

class event {
 public:
  class wait_awaiter;

  constexpr event() noexcept = default;
  constexpr explicit event(bool initially_set) noexcept : set_(initially_set) {}
  ~event() { waiters_.detach_all(); }
  event(const event&) = delete;
  event& operator=(const event&) = delete;

  [[nodiscard]] wait_awaiter wait() noexcept;

  void set() noexcept;
  void reset() noexcept {
    // release: orders with set(); a wait that reads false under the lock queues.
    set_.store(false, std::memory_order_release);
  }
  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }
  void notify_one() noexcept;
  void notify_all() noexcept;

 private:
  friend struct detail::sync_probe;
  // True: set (complete now). False: queued.
  bool set_or_enqueue(detail::waiter& w) noexcept;
  static void on_cancel(detail::cancel_hook* hook) noexcept;
  std::size_t waiter_count_() const noexcept;

  // Invariant (at lock_ release): set_ implies no waiters. A waiter queues
  // only after reading false under lock_, and set() drains the queue under
  // lock_ as it sets the flag.
  std::atomic<bool> set_{false};
  mutable detail::backoff_spinlock lock_;
  detail::waiter_list waiters_;
};

class event::wait_awaiter : public detail::waiter {
 public:
  explicit wait_awaiter(event& e) noexcept : ev_(&e) {}
  wait_awaiter(wait_awaiter&&) = default;
  ~wait_awaiter() {
    if (queued) detail::abandon_if_queued(ev_->lock_, ev_->waiters_, *this);
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    task = detail::running_task(h);
    if (task->is_cancelled()) {
      status = detail::wait_status::cancelled;
      return false;
    }
    // acquire: see what the setter wrote before set().
    if (!ev_->set_.load(std::memory_order_acquire)) {
      detail::prepare_wait(*this, h, &on_cancel, detail::wait_kind::sync);
      if (!ev_->set_or_enqueue(*this)) return true;
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
  friend class event;
  event* ev_;
};

inline event::wait_awaiter event::wait() noexcept { return wait_awaiter(*this); }

}  // namespace weft
