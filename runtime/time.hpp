// Time: weft::sleep_for, weft::sleep_until (std::chrono::steady_clock).
//
// A sleep is a timer on the current worker's io_context; it completes on that
// reactor (or on an idle peer that rescues it) and wakes the task. Timers
// tick every millisecond, as Tokio's do: a deadline is rounded up to the next
// whole millisecond, so a sleep lasts at least its duration and up to 1 ms
// more, plus the time its task waits for a worker once woken (sleep_for(100us)
// lasts about 1 ms; a loop of sleep_for(1ms), each starting just after a tick,
// sleeps about 2 ms a turn: use sleep_until with a deadline that advances by
// the period for a steady rate). With many timers due at once on busy workers
// that wait adds up: 100,000 sleepers on 2 loaded cores woke up to 3.4 ms late
// (p99 1.3 ms). None wakes early.
// Cancellation: aborting the task cancels the timer; the sleep throws
// weft::cancelled. A deadline already past completes at once (and spends
// cooperative budget, so a loop of zero sleeps still yields). Durations may
// be floating: one past the end of the clock (1e300 s, infinity) never fires,
// a NaN one throws std::invalid_argument.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <stdexcept>

#include <runtime/detail/promise_base.hpp>

namespace weft {

using clock = std::chrono::steady_clock;

namespace detail {

// now + d without overflow: a duration past the end of the clock saturates to
// time_point::max() (never due), one at or below zero is due now. Rounded up,
// so a sleep never ends before the duration asked for. A floating duration
// that is NaN throws std::invalid_argument (as asyncio raises ValueError): it
// compares false with everything, and converting it to the clock's integer
// ticks is undefined behaviour.
template <class Rep, class Period>
clock::time_point deadline_after(std::chrono::duration<Rep, Period> d) noexcept(
    !std::chrono::treat_as_floating_point_v<Rep>) {
  if constexpr (std::chrono::treat_as_floating_point_v<Rep>) {
    if (d != d) [[unlikely]]
      throw std::invalid_argument("weft: a NaN duration (sleep_for, timeout)");
  }
  const clock::time_point now = clock::now();
  if (d <= d.zero()) return now;
  // Compared in long double in d's own units: casting either side to the
  // other's integer units could overflow (hours::max() in nanoseconds).
  using wide = std::chrono::duration<long double, Period>;
  const auto room = clock::time_point::max() - now;
  if (wide(d) >= std::chrono::duration_cast<wide>(room)) return clock::time_point::max();
  const auto step = std::chrono::ceil<clock::duration>(d);
  return step >= room ? clock::time_point::max() : now + step;
}

class sleep_awaitable : cancel_hook {
 public:
  explicit sleep_awaitable(clock::time_point deadline) noexcept : deadline_(deadline) {}
  sleep_awaitable(sleep_awaitable&& o) noexcept : deadline_(o.deadline_) {}
  sleep_awaitable(const sleep_awaitable&) = delete;
  ~sleep_awaitable();

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    return start(running_task(h), h);
  }
  void await_resume();

 private:
  bool start(task_header* t, std::coroutine_handle<> h);
  static void on_cancel(cancel_hook* self) noexcept;
  static void on_fire(sleep_awaitable* self, bool aborted) noexcept;
  friend struct sleep_handler;

  clock::time_point deadline_;
  task_header* task_ = nullptr;
  bool armed_ = false;      // timer_ holds a constructed timer
  bool cancelled_ = false;  // the task was aborted before or during the sleep
  bool yielded_ = false;
  // An asio timer, constructed in place on the current worker's io_context
  // (kept out of this header so that users do not compile Asio for a sleep).
  alignas(16) unsigned char timer_[96];
};

}  // namespace detail

[[nodiscard]] inline detail::sleep_awaitable sleep_until(clock::time_point deadline) noexcept {
  return detail::sleep_awaitable(deadline);
}

// Throws std::invalid_argument for a NaN duration.
template <class Rep, class Period>
[[nodiscard]] detail::sleep_awaitable sleep_for(std::chrono::duration<Rep, Period> d) noexcept(
    noexcept(detail::deadline_after(d))) {
  return detail::sleep_awaitable(detail::deadline_after(d));
}

}  // namespace weft
