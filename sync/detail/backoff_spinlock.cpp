#include <sync/detail/backoff_spinlock.hpp>

#include <thread>

namespace weft::detail {
namespace {
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}
// Roughly a microsecond of pausing: longer than any critical section under
// this lock, so running past it means the holder is not running.
constexpr unsigned spins_before_yield = 128;
}  // namespace

void backoff_spinlock::lock_slow() noexcept {
  unsigned spins = 0;
  for (;;) {
    while (locked_.load(std::memory_order_relaxed)) {
      if (spins < spins_before_yield) {
        ++spins;
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
    if (!locked_.exchange(true, std::memory_order_acquire)) return;
  }
}

}  // namespace weft::detail
