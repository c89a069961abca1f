// detail::semaphore_core: the counting, FIFO-fair permit pool under
// weft::semaphore and weft::rwlock.
//
// state_ packs the free permits and a flag: (permits << 1) | has_waiters.
// While nobody waits, acquire and release are one CAS on it. Once a task
// waits the flag is set, every acquire and release goes through lock_, and
// released permits go to the queue head first: a request for many permits at
// the head holds back later small ones (strict FIFO, so neither a writer of
// an rwlock nor a large acquire starves).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/budget_retry.hpp>
#include <sync/detail/waiter.hpp>

namespace weft::detail {

class semaphore_core;

struct permit_waiter : waiter {
  semaphore_core* sem = nullptr;
  std::uint64_t needed = 0;
};

class semaphore_core {
 public:
  static constexpr std::uint64_t max_permits = std::uint64_t{1} << 62;

  constexpr explicit semaphore_core(std::uint64_t permits) noexcept : state_(permits << 1) {}
  ~semaphore_core() { waiters_.detach_all(); }
  semaphore_core(const semaphore_core&) = delete;
  semaphore_core& operator=(const semaphore_core&) = delete;

  bool try_acquire(std::uint64_t n) noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & has_waiters) || (s >> 1) < n) return false;
      // acquire: see what the releaser of these permits wrote.
      if (state_.compare_exchange_weak(s, s - (n << 1), std::memory_order_acquire,
                                       std::memory_order_relaxed))
        return true;
    }
  }

  // Adds n permits. False, changing nothing, if the free permits would pass
  // max_permits (more released than were acquired).
  bool release(std::uint64_t n) noexcept {
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    while (!(s & has_waiters)) {
      // Free permits never exceed max_permits, so this cannot wrap; a compare
      // on the value the CAS needs anyway, no extra atomic.
      if (n > max_permits - (s >> 1)) [[unlikely]]
        return false;
      // release: publish our critical section to the next acquirer.
      if (state_.compare_exchange_weak(s, s + (n << 1), std::memory_order_release,
                                       std::memory_order_relaxed))
        return true;
    }
    return release_slow(n);
  }

  std::uint64_t available() const noexcept { return state_.load(std::memory_order_relaxed) >> 1; }

  // Takes w->needed permits now (true) or queues w (false). The caller
  // registered its resume point and cancel hook before.
  bool acquire_or_enqueue(permit_waiter& w) noexcept;
  // Unlinks a waiting w. True if it was queued (then waiters behind it that
  // now fit are granted).
  bool remove_waiter(permit_waiter& w) noexcept;
  std::size_t waiter_count() const noexcept;

  static void on_cancel(cancel_hook* hook) noexcept;

 private:
  static constexpr std::uint64_t has_waiters = 1;

  bool release_slow(std::uint64_t n) noexcept;
  // Under lock_: grants queued waiters from `avail` in FIFO order, stores the
  // new state. Granted waiters go to `woken`.
  void grant(std::uint64_t avail, wake_list& woken) noexcept;

  std::atomic<std::uint64_t> state_;
  mutable backoff_spinlock lock_;
  waiter_list waiters_;
};

// The acquire awaitable shared by semaphore and rwlock; make(n) builds the
// RAII result (permit or guard) for the permits acquired.
template <class Result, class Maker>
class permit_awaiter : public permit_waiter {
 public:
  permit_awaiter(semaphore_core& s, std::uint64_t n, Maker make) noexcept : make_(make) {
    sem = &s;
    needed = n;
  }
  permit_awaiter(permit_awaiter&& o) noexcept : permit_waiter(o), make_(o.make_) {}
  ~permit_awaiter() {
    if (retry_) [[unlikely]] {
      retry_.destroy();  // yielded for budget, never polled again (runtime shutdown)
    } else if (queued) [[unlikely]] {
      sem->remove_waiter(*this);
    } else if (status == wait_status::done && !taken_) [[unlikely]] {
      sem->release(needed);  // granted but never resumed (runtime shutdown)
    }
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task = running_task(h);
    if (task->is_cancelled()) {
      status = wait_status::cancelled;
      return false;
    }
    // Budget spent: yield before taking permits (see budget_retry.hpp).
    if (spend_sync_budget(task)) [[unlikely]]
      return yield_then_retry(task, this, &retry, h, retry_);
    return !acquire_or_wait(h);
  }
  Result await_resume() {
    task->hook = nullptr;
    if (status != wait_status::done) throw cancelled{};
    taken_ = true;
    return make_(needed);
  }

 private:
  // True: acquired now. False: queued (suspend).
  bool acquire_or_wait(std::coroutine_handle<> h) noexcept {
    if (!sem->try_acquire(needed)) [[unlikely]] {
      prepare_wait(*this, h, &semaphore_core::on_cancel, wait_kind::sync);
      if (!sem->acquire_or_enqueue(*this)) return false;
      task->hook = nullptr;
    }
    status = wait_status::done;
    return true;
  }
  static std::coroutine_handle<> retry(void* p, std::coroutine_handle<> h) noexcept {
    // A fresh poll of the task: its budget is full again.
    auto& w = *static_cast<permit_awaiter*>(p);
    if (w.task->is_cancelled()) {
      w.status = wait_status::cancelled;
      return h;
    }
    spend_sync_budget(w.task);
    if (w.acquire_or_wait(h)) return h;
    return std::noop_coroutine();  // queued: the poll ends, a release wakes us
  }

  Maker make_;
  std::coroutine_handle<> retry_;
  bool taken_ = false;
};

}  // namespace weft::detail
