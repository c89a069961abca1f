// weft::when_all(aws...): asyncio.gather. Runs every awaitable concurrently,
// each as its own task (so they may run on different workers), and returns
// all results as a tuple (void results as std::monostate). The overload taking
// a std::vector<task<T>> returns a std::vector<T> in the same order
// (std::vector<task<void>>: returns nothing).
//
// Failure: the first child to throw makes when_all abort the others, wait for
// them to end, and rethrow that first exception.
// Cancellation: if the awaiting task is aborted, every child is aborted and
// waited for, then weft::cancelled is thrown. when_all never returns or throws
// while a child still runs, so buffers the children use stay valid.
// A join handle among the awaitables is a wait, not the task: aborting it
// ends the wait and leaves the task running, detached (as dropping its
// handle does). Pass the task itself for it to be aborted with the others.
#pragma once

#include <array>
#include <tuple>
#include <utility>
#include <vector>

#include <runtime/detail/child_group.hpp>

namespace weft {

namespace detail {

template <class... Aws, std::size_t... I>
task<std::tuple<non_void_t<await_result_t<Aws>>...>> when_all_impl(std::index_sequence<I...>,
                                                                    Aws... aws) {
  child_group group;
  std::tuple<child_slot<await_result_t<Aws>>...> slots;
  ((std::get<I>(slots).index = I), ...);
  (group.adopt(spawn(run_child(std::move(aws), &std::get<I>(slots), &group))), ...);
  co_await group.wait_all_abort_on_failure();
  std::array<std::exception_ptr, sizeof...(Aws)> errors{std::get<I>(slots).error...};
  group.rethrow_first_failure(errors.data());
  co_return std::tuple<non_void_t<await_result_t<Aws>>...>(std::move(*std::get<I>(slots).value)...);
}

template <class T>
task<std::vector<non_void_t<T>>> when_all_vector(std::vector<task<T>> tasks) {
  child_group group;
  std::vector<child_slot<T>> slots(tasks.size());
  group.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    slots[i].index = i;
    group.adopt(spawn(run_child(std::move(tasks[i]), &slots[i], &group)));
  }
  co_await group.wait_all_abort_on_failure();
  std::vector<std::exception_ptr> errors;
  errors.reserve(slots.size());
  for (auto& s : slots) errors.push_back(s.error);
  group.rethrow_first_failure(errors.data());
  std::vector<non_void_t<T>> out;
  out.reserve(slots.size());
  for (auto& s : slots) out.push_back(std::move(*s.value));
  co_return out;
}

inline task<void> when_all_void_vector(std::vector<task<void>> tasks) {
  (void)co_await when_all_vector<void>(std::move(tasks));
}

}  // namespace detail

template <class... Aws>
[[nodiscard]] auto when_all(Aws&&... aws) {
  return detail::when_all_impl(std::index_sequence_for<Aws...>{},
                               std::decay_t<Aws>(std::forward<Aws>(aws))...);
}

template <class T>
[[nodiscard]] task<std::vector<T>> when_all(std::vector<task<T>> tasks) {
  return detail::when_all_vector<T>(std::move(tasks));
}

[[nodiscard]] inline task<void> when_all(std::vector<task<void>> tasks) {
  return detail::when_all_void_vector(std::move(tasks));
}

}  // namespace weft
