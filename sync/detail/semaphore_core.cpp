#include <sync/detail/semaphore_core.hpp>

namespace weft::detail {

bool semaphore_core::acquire_or_enqueue(permit_waiter& w) noexcept {
  spin_guard g(lock_);
  std::uint64_t s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (!(s & has_waiters) && (s >> 1) >= w.needed) {
      if (state_.compare_exchange_weak(s, s - (w.needed << 1), std::memory_order_acquire,
                                       std::memory_order_relaxed))
        return true;
      continue;
    }
    if (s & has_waiters) break;
    // acquire: fast-path releases before the flag (a reader's release CAS)
    // are ordered only by state_. Whoever later grants under lock_ reads
    // state_ relaxed, so the acquire must be here: the lock then carries it
    // to the granted waiter. (A relaxed CAS let a writer race with the
    // critical section of a reader that released before the writer queued.)
    if (state_.compare_exchange_weak(s, s | has_waiters, std::memory_order_acquire,
                                     std::memory_order_relaxed))
      break;
  }
  waiters_.push_back(&w);
  return false;
}

void semaphore_core::grant(std::uint64_t avail, wake_list& woken) noexcept {
  while (waiter* h = waiters_.front()) {
    auto* pw = static_cast<permit_waiter*>(h);
    if (pw->needed > avail) break;
    avail -= pw->needed;
    waiters_.pop_front();
    pw->status = wait_status::done;
    woken.push(pw);
  }
  // release: permits put back here are published to later fast-path acquirers
  // (granted waiters are ordered by the wake instead).
  state_.store((avail << 1) | (waiters_.empty() ? 0 : has_waiters), std::memory_order_release);
}

bool semaphore_core::release_slow(std::uint64_t n) noexcept {
  wake_list woken;
  {
    spin_guard g(lock_);
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    if (!(s & has_waiters)) {
      // A grant emptied the queue after release() saw the flag, and the
      // lock-free path is open again: a store would overwrite the acquires
      // and releases made there meanwhile, so the permits go back by CAS.
      // Waiters queue only under lock_, so the flag stays clear while we hold it.
      do {
        if (n > max_permits - (s >> 1)) return false;
      } while (!state_.compare_exchange_weak(s, s + (n << 1), std::memory_order_release,
                                             std::memory_order_relaxed));
      return true;
    }
    // With has_waiters set nothing changes state_ outside lock_: it is ours.
    if (n > max_permits - (s >> 1)) return false;
    grant((s >> 1) + n, woken);
  }
  woken.wake_all();
  return true;
}

bool semaphore_core::remove_waiter(permit_waiter& w) noexcept {
  wake_list woken;
  {
    spin_guard g(lock_);
    if (!w.queued) return false;
    bool was_head = waiters_.front() == &w;
    waiters_.remove(&w);
    std::uint64_t s = state_.load(std::memory_order_relaxed);
    // The head may have been what held the others back.
    if (was_head || waiters_.empty()) grant(s >> 1, woken);
  }
  woken.wake_all();
  return true;
}

void semaphore_core::on_cancel(cancel_hook* hook) noexcept {
  auto& w = static_cast<permit_waiter&>(static_cast<waiter&>(*hook));
  if (!w.sem->remove_waiter(w)) return;  // granted already: resumes with its permits
  w.status = wait_status::cancelled;
  wake(w.task);
}

std::size_t semaphore_core::waiter_count() const noexcept {
  spin_guard g(lock_);
  return waiters_.size();
}

}  // namespace weft::detail
