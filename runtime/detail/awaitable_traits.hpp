// What co_await on a value of type A produces, for combinators that accept
// any awaitable (tasks, join handles, sleeps, channel operations, ...).
#pragma once

#include <type_traits>
#include <utility>
#include <variant>

namespace weft::detail {

template <class A>
concept has_member_co_await = requires(A&& a) { std::forward<A>(a).operator co_await(); };

template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (has_member_co_await<A>) return std::forward<A>(a).operator co_await();
  else return std::forward<A>(a);
}

template <class A>
using await_result_t = decltype(get_awaiter(std::declval<A>()).await_resume());

// void results are represented as std::monostate inside tuples and variants.
template <class T>
using non_void_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

}  // namespace weft::detail
