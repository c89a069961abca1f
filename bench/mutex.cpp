// mutex: 16 tasks each do K rounds of lock, increment a shared plain integer,
// unlock, on one weft::mutex; the root awaits them and checks the count
// (under the lock). A lost update would show as a short count.
#include <vector>

#include <fmt/format.h>

#include <sync/mutex.hpp>

#include "workload.hpp"

namespace weft::bench {
namespace {

struct guarded_count {
  weft::mutex m;
  std::uint64_t count = 0;  // plain: only touched under m
};

task<void> incrementer(guarded_count* g, std::uint64_t rounds) {
  for (std::uint64_t i = 0; i < rounds; ++i) {
    auto lock = co_await g->m.lock();
    ++g->count;
  }
}

task<outcome> mutex_workload(options o) {
  constexpr std::uint64_t tasks = 16;
  const std::uint64_t rounds = o.size_or(100'000);
  stopwatch clock;
  guarded_count g;  // in the root's frame: the root joins every task
  std::vector<join_handle<void>> handles;
  handles.reserve(tasks);
  for (std::uint64_t i = 0; i < tasks; ++i) handles.push_back(spawn(incrementer(&g, rounds)));
  for (auto& h : handles) co_await h;
  std::uint64_t v;
  {
    auto lock = co_await g.m.lock();
    v = g.count;
  }
  check(v == tasks * rounds, fmt::format("mutex: count {} != {}", v, tasks * rounds));
  co_return finish(tasks * rounds, clock);
}

const registrar reg{"mutex", &mutex_workload};

}  // namespace
}  // namespace weft::bench
