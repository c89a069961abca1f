// weft::when_any(aws...): the first awaitable to finish wins. Every awaitable
// runs concurrently as its own task; when the first ends, the others are
// aborted and awaited, then when_any returns the winner's result as a
// std::variant whose index() names the winner (void as std::monostate), or
// rethrows the winner's exception. The overload taking std::vector<task<T>>
// returns {index, value}.
//
// Cancellation: if the awaiting task is aborted, every child is aborted and
// waited for; then the first child to have ended decides as above (usually
// with weft::cancelled). when_any never returns while a child still runs.
// A loser that completed anyway has its result dropped: do not race an
// operation whose result must not be lost (e.g. a channel recv) against
// another unless losing it is fine. A join handle that loses is a wait that
// ends: its task goes on running, detached (as dropping its handle does);
// race the task itself for it to be aborted.
#pragma once

#include <array>
#include <utility>
#include <variant>
#include <vector>

#include <runtime/detail/child_group.hpp>

namespace weft {

template <class... Ts>
using when_any_result = std::variant<detail::non_void_t<Ts>...>;

namespace detail {

template <class Result, class Slots, std::size_t I>
Result take_winner(Slots& slots, std::size_t winner) {
  if constexpr (I + 1 < std::tuple_size_v<Slots>) {
    if (winner != I) return take_winner<Result, Slots, I + 1>(slots, winner);
  }
  auto& s = std::get<I>(slots);
  if (s.error) std::rethrow_exception(s.error);
  return Result(std::in_place_index<I>, std::move(*s.value));
}

template <class... Aws, std::size_t... I>
task<when_any_result<await_result_t<Aws>...>> when_any_impl(std::index_sequence<I...>, Aws... aws) {
  child_group group;
  std::tuple<child_slot<await_result_t<Aws>>...> slots;
  ((std::get<I>(slots).index = I), ...);
  (group.adopt(spawn(run_child(std::move(aws), &std::get<I>(slots), &group))), ...);
  co_await group.wait_change(0);
  group.abort_all();
  co_await group.wait_all();
  co_return take_winner<when_any_result<await_result_t<Aws>...>, decltype(slots), 0>(
      slots, group.first_finished());
}

template <class T>
task<std::pair<std::size_t, non_void_t<T>>> when_any_vector(std::vector<task<T>> tasks) {
  if (tasks.empty()) throw runtime_misuse("weft::when_any: no tasks");
  child_group group;
  std::vector<child_slot<T>> slots(tasks.size());
  group.reserve(tasks.size());
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    slots[i].index = i;
    group.adopt(spawn(run_child(std::move(tasks[i]), &slots[i], &group)));
  }
  co_await group.wait_change(0);
  group.abort_all();
  co_await group.wait_all();
  std::size_t w = group.first_finished();
  if (slots[w].error) std::rethrow_exception(slots[w].error);
  co_return std::pair<std::size_t, non_void_t<T>>(w, std::move(*slots[w].value));
}

}  // namespace detail

template <class... Aws>
[[nodiscard]] auto when_any(Aws&&... aws) {
  static_assert(sizeof...(Aws) > 0, "weft::when_any needs at least one awaitable");
  return detail::when_any_impl(std::index_sequence_for<Aws...>{},
                               std::decay_t<Aws>(std::forward<Aws>(aws))...);
}

template <class T>
[[nodiscard]] auto when_any(std::vector<task<T>> tasks) {
  return detail::when_any_vector<T>(std::move(tasks));
}

}  // namespace weft
