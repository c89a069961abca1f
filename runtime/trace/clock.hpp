// The tracer's clock. Every record reads it, so it must be cheap: on x86-64
// it is the CPU's time-stamp counter (rdtsc, ~10 ns on our VM against ~24 ns
// for steady_clock::now() through the vDSO); elsewhere steady_clock in ns.
// The choice is made at compile time and the file header says which
// (FORMAT.md, flag_ticks).
//
// The tracer does not convert ticks to ns: it records sync points (a tick
// reading with the steady and system clocks, taken together) at start, ~10 ms
// later, every second and at stop, and weft-trace interpolates between them.
// That also absorbs a counter whose rate is not quite what one calibration
// said, and steady_clock being slewed by NTP.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#define WEFT_TRACE_TSC 1
#else
#define WEFT_TRACE_TSC 0
#endif

namespace weft::detail::trace {

// True when ticks are time-stamp counter counts, false when steady_clock ns.
inline constexpr bool ticks_are_tsc = WEFT_TRACE_TSC != 0;

inline std::uint64_t steady_now_ns() noexcept {
  return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now().time_since_epoch())
                           .count());
}

inline std::uint64_t unix_now_ns() noexcept {
  return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
}

inline std::uint64_t read_ticks() noexcept {
#if WEFT_TRACE_TSC
  // Plain rdtsc, not rdtscp or fenced: it may run a few cycles early or late
  // against the code around it, far below what a trace resolves. This assumes
  // an invariant TSC (constant rate, in step across cores), as every x86-64
  // of the last decade has; buffer::emit keeps a thread's times monotonic
  // should cores disagree by a few ticks.
  return __rdtsc();
#else
  return steady_now_ns();
#endif
}

// The clocks read together. The tick reading is the midpoint of two around
// the steady_clock read, so the pair is off by less than half of one read.
struct sync_point {
  std::uint64_t ticks = 0;
  std::uint64_t steady_ns = 0;
  std::uint64_t unix_ns = 0;
};

inline sync_point take_sync_point() noexcept {
  sync_point s;
#if WEFT_TRACE_TSC
  std::uint64_t before = read_ticks();
  s.steady_ns = steady_now_ns();
  std::uint64_t after = read_ticks();
  s.ticks = before + (after - before) / 2;
#else
  s.steady_ns = steady_now_ns();
  s.ticks = s.steady_ns;
#endif
  s.unix_ns = unix_now_ns();
  return s;
}

// The tick rate between two sync points, in ticks per second (0 if `to` is
// not after `from`).
inline std::uint64_t ticks_per_second(const sync_point& from, const sync_point& to) noexcept {
  if (to.ticks <= from.ticks || to.steady_ns <= from.steady_ns) return 0;
  long double rate = static_cast<long double>(to.ticks - from.ticks) * 1e9L /
                     static_cast<long double>(to.steady_ns - from.steady_ns);
  return std::uint64_t(rate + 0.5L);
}

}  // namespace weft::detail::trace
