// spawn_join: the root spawns N tasks, each returning its index, and awaits
// every join handle in order, checking the sum.
#include <vector>

#include <fmt/format.h>

#include "workload.hpp"

namespace weft::bench {
namespace {

task<std::uint64_t> index_of(std::uint64_t i) { co_return i; }

task<outcome> spawn_join(options o) {
  const std::uint64_t n = o.size_or(200'000);
  stopwatch clock;
  std::vector<join_handle<std::uint64_t>> handles;
  handles.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) handles.push_back(spawn(index_of(i)));
  std::uint64_t sum = 0;
  for (auto& h : handles) sum += co_await h;
  const std::uint64_t want = n * (n > 0 ? n - 1 : 0) / 2;
  check(sum == want, fmt::format("spawn_join: sum {} != {}", sum, want));
  co_return finish(n, clock);
}

const registrar reg{"spawn_join", &spawn_join};

}  // namespace
}  // namespace weft::bench
