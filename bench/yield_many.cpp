// yield_many: T tasks each yield to the scheduler Y times; the root awaits
// them all and checks the number of yields.
#include <vector>

#include <fmt/format.h>

#include "workload.hpp"

namespace weft::bench {
namespace {

task<std::uint64_t> yielder(std::uint64_t y) {
  for (std::uint64_t i = 0; i < y; ++i) co_await yield_now();
  co_return y;
}

task<outcome> yield_many(options o) {
  const std::uint64_t t = o.size_or(1'000);
  constexpr std::uint64_t y = 1'000;
  stopwatch clock;
  std::vector<join_handle<std::uint64_t>> handles;
  handles.reserve(t);
  for (std::uint64_t i = 0; i < t; ++i) handles.push_back(spawn(yielder(y)));
  std::uint64_t total = 0;
  for (auto& h : handles) total += co_await h;
  check(total == t * y, fmt::format("yield_many: {} yields != {}", total, t * y));
  co_return finish(t * y, clock);
}

const registrar reg{"yield_many", &yield_many};

}  // namespace
}  // namespace weft::bench
