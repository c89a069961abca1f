// A test-and-test-and-set spinlock for critical sections of a few dozen
// instructions (waiter lists). acquire on lock and release on unlock order
// the protected plain fields; the relaxed inner load spins on the local
// cache line without bouncing it.
#pragma once

#include <atomic>

namespace weft::detail {

class spinlock {
 public:
  void lock() noexcept {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
  }
  bool try_lock() noexcept { return !locked_.exchange(true, std::memory_order_acquire); }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

}  // namespace weft::detail
