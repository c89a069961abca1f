#include <sync/mutex.hpp>

#include <cstdio>
#include <cstdlib>

namespace weft {

bool mutex::lock_or_enqueue(detail::mutex_waiter& w) noexcept {
  detail::spin_guard g(lock_);
  std::uint32_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (s == unlocked) {
      // Free and nobody queued (a queue keeps the state above `locked`).
      if (state_.compare_exchange_weak(s, locked, std::memory_order_acquire,
                                       std::memory_order_relaxed))
        return true;
      continue;
    }
    // relaxed: `contended` only diverts the owner's unlock to the slow path,
    // which takes lock_ and so sees the queue; a failed CAS re-reads.
    if (s == locked && !state_.compare_exchange_weak(s, contended, std::memory_order_relaxed,
                                                     std::memory_order_relaxed))
      continue;
    break;
  }
  waiters_.push_back(&w);
  return false;
}

bool mutex::lock_slow(lock_awaiter& w, std::coroutine_handle<> h) noexcept {
  detail::prepare_wait(w, h, &on_cancel, detail::wait_kind::sync);
  if (!lock_or_enqueue(w)) return true;
  w.task->hook = nullptr;
  w.status = detail::wait_status::done;
  return false;
}

std::coroutine_handle<> mutex::lock_awaiter::retry(void* p, std::coroutine_handle<> h) noexcept {
  // A fresh poll of the task: its budget is full again.
  auto& w = *static_cast<lock_awaiter*>(p);
  if (w.task->is_cancelled()) {
    w.status = detail::wait_status::cancelled;
    return h;
  }
  detail::spend_sync_budget(w.task);
  if (w.mtx->try_lock_fast() || !w.mtx->lock_slow(w, h)) {
    w.status = detail::wait_status::done;
    return h;
  }
  return std::noop_coroutine();  // queued: the poll ends, a hand-off wakes us
}

void mutex::unlock_slow() noexcept {
  detail::task_header* next_owner;
  {
    detail::spin_guard g(lock_);
    // The fast path found the mutex not plainly `locked`. While someone owns
    // it nobody else can make it `unlocked`, so this unlock is not its
    // owner's: a second unlock, or one that no lock preceded.
    if (state_.load(std::memory_order_relaxed) == unlocked) [[unlikely]] {
      std::fputs("weft::mutex::unlock: the mutex is not locked (unlocked twice?)\n", stderr);
      std::abort();
    }
    detail::waiter* w = waiters_.pop_front();
    if (!w) {
      // Every waiter was cancelled. release: publish the critical section.
      state_.store(unlocked, std::memory_order_release);
      return;
    }
    // Hand-off: the mutex stays locked and now belongs to w. The wake (an
    // acq_rel RMW on w's task state, after lock_ is released) carries our
    // critical section to it.
    if (waiters_.empty()) state_.store(locked, std::memory_order_relaxed);
    w->status = detail::wait_status::done;
    next_owner = w->task;
  }
  detail::wake(next_owner);
}

bool mutex::remove_waiter(detail::mutex_waiter& w) noexcept {
  detail::spin_guard g(lock_);
  if (!w.queued) return false;
  waiters_.remove(&w);
  // Still `contended`, so still owned by someone (whose unlock is diverted
  // here and waits for lock_): drop to plain `locked` when nobody is left.
  if (waiters_.empty()) state_.store(locked, std::memory_order_relaxed);
  return true;
}

void mutex::on_cancel(detail::cancel_hook* hook) noexcept {
  auto& w = static_cast<detail::mutex_waiter&>(static_cast<detail::waiter&>(*hook));
  if (!w.mtx->remove_waiter(w)) return;  // owns the mutex already: resumes with the guard
  w.status = detail::wait_status::cancelled;
  detail::wake(w.task);
}

std::size_t mutex::waiter_count_() const noexcept {
  detail::spin_guard g(lock_);
  return waiters_.size();
}

}  // namespace weft
