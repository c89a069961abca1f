// detail::backoff_spinlock: the lock around a sync primitive's waiter lists and
// buffers. Critical sections under it are a handful of pointer moves, far
// shorter than a futex round trip, so a test-and-test-and-set lock beats
// std::mutex here: one exchange to take it uncontended, one store to drop it.
// Waiting spins read-only (the cache line stays shared) with a pause, then
// yields the thread: with more workers than cores the holder may have been
// preempted, and spinning against it would only burn its time slice.
// (runtime/detail/spinlock.hpp never yields; sync/ locks are taken by every
// task of a contended primitive, so they need the fallback.)
#pragma once

#include <atomic>

namespace weft::detail {

class backoff_spinlock {
 public:
  constexpr backoff_spinlock() noexcept = default;
  backoff_spinlock(const backoff_spinlock&) = delete;
  backoff_spinlock& operator=(const backoff_spinlock&) = delete;

  void lock() noexcept {
    // acquire: the critical section sees everything the previous holder wrote.
    if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]]
      return;
    lock_slow();
  }
  bool try_lock() noexcept {
    // relaxed peek first so a failing try does not steal the line from the holder.
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  // release: publish the critical section to the next holder.
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  void lock_slow() noexcept;

  std::atomic<bool> locked_{false};
};

// Scoped holder (std::lock_guard without pulling <mutex> into every header).
class spin_guard {
 public:
  explicit spin_guard(backoff_spinlock& l) noexcept : l_(l) { l_.lock(); }
  ~spin_guard() { l_.unlock(); }
  spin_guard(const spin_guard&) = delete;
  spin_guard& operator=(const spin_guard&) = delete;

 private:
  backoff_spinlock& l_;
};

}  // namespace weft::detail
