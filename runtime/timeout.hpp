// weft::timeout(duration, awaitable): the awaitable's result if it finishes
// within the duration; otherwise the work is aborted, waited for (so buffers
// it uses stay valid), and weft::timed_out is thrown. Accepts any awaitable:
// a task, a join handle, a channel operation, a socket read.
//
// The work runs as a child task (possibly on another worker) racing a timer.
// If it finished with a value even though the deadline passed while it was
// being aborted, the value is returned: completed work is never thrown away.
// A deadline that has already passed (a zero timeout) still lets the work
// take its first step, so work that completes without waiting (a value at
// hand, a message in a channel, a read of data the socket's reactor has seen
// arrive) returns its result, as in Tokio; work that would wait is aborted
// and weft::timed_out thrown. On one worker that is certain. With more, a
// peer woken at that moment may run the check before the work's first step,
// and then the work ends as timed out, having taken nothing.
// Cancellation: aborting the awaiting task aborts the work and throws
// weft::cancelled once it has ended.
// The awaitable is taken by value: move a task or join handle in
// (timeout(1s, std::move(h))). A join handle's task is not aborted by the
// deadline, only the wait for it (as when a handle is dropped: it runs on,
// detached); abort it yourself, or pass the task instead of its handle.
// The duration may be floating; a NaN one makes timeout() itself throw
// std::invalid_argument (the awaitable is left with the caller).
#pragma once

#include <chrono>
#include <type_traits>
#include <utility>

#include <runtime/detail/child_group.hpp>
#include <runtime/time.hpp>
#include <runtime/yield.hpp>

namespace weft {

namespace detail {

// A yield that also reports whether the task was aborted (yield_now would
// throw; a timeout must first end its work).
struct yield_reporting_abort : yield_awaitable {
  bool await_resume() const noexcept { return task->is_cancelled(); }
};

template <class R>
R timeout_result(child_slot<R>& work, bool deadline_ended_it) {
  if (work.value) {
    if constexpr (std::is_void_v<R>) return;
    else return std::move(*work.value);
  }
  if (!is_cancellation(work.error)) std::rethrow_exception(work.error);
  if (deadline_ended_it) throw timed_out{};
  throw cancelled{};
}

template <class Aw>
task<await_result_t<Aw>> timeout_impl(clock::time_point deadline, Aw aw) {
  using R = await_result_t<Aw>;
  child_group group;
  child_slot<R> work;
  work.index = 0;
  if (clock::now() >= deadline) {
    // Due already: no timer, but the work gets its first step, as in Tokio.
    // Spawned into this worker's LIFO slot, it runs right after this poll,
    // before we come back from the yield (unless a peer takes us from the
    // queue in between); if that step did not finish it, it is aborted.
    group.adopt(spawn(run_child(std::move(aw), &work, &group)));
    bool aborted = co_await yield_reporting_abort{};
    bool unfinished = group.first_finished() == child_group::none;
    if (aborted || unfinished) group.abort_all();
    co_await group.wait_all();
    co_return timeout_result(work, unfinished && !aborted);
  }
  child_slot<void> timer;
  timer.index = 1;
  group.adopt(spawn(run_child(std::move(aw), &work, &group)));
  group.adopt(spawn(run_child(sleep_until(deadline), &timer, &group)));
  co_await group.wait_change(0);
  group.abort_all();
  co_await group.wait_all();
  co_return timeout_result(work, group.first_finished() == 1 && timer.value);
}

}  // namespace detail

namespace detail {
// A named task or join handle passed without std::move would otherwise fail
// deep inside timeout_impl ("use of deleted function").
template <class Aw>
inline constexpr bool takes_by_value_v =
    !std::is_lvalue_reference_v<Aw> || std::is_copy_constructible_v<std::decay_t<Aw>>;
}  // namespace detail

template <class Rep, class Period, class Aw>
[[nodiscard]] auto timeout(std::chrono::duration<Rep, Period> d, Aw&& aw) {
  static_assert(detail::takes_by_value_v<Aw>,
                "weft::timeout takes the awaitable by value: std::move a named task or join_handle in");
  // First, apart: if d is NaN this throws before the awaitable is moved from.
  const clock::time_point deadline = detail::deadline_after(d);
  return detail::timeout_impl(deadline, std::decay_t<Aw>(std::forward<Aw>(aw)));
}

template <class Aw>
[[nodiscard]] auto timeout_at(clock::time_point deadline, Aw&& aw) {
  static_assert(detail::takes_by_value_v<Aw>,
                "weft::timeout_at takes the awaitable by value: std::move a named task or join_handle in");
  return detail::timeout_impl(deadline, std::decay_t<Aw>(std::forward<Aw>(aw)));
}

}  // namespace weft
