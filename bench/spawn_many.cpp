// spawn_many: the root spawns N tasks; each bumps a shared atomic counter and
// ends; the one that brings it to N wakes the root, which sleeps meanwhile.
#include <atomic>

#include <fmt/format.h>

#include "done_event.hpp"
#include "workload.hpp"

namespace weft::bench {
namespace {

struct shared_count {
  std::atomic<std::uint64_t> count{0};
  done_event done;
};

task<void> bump(shared_count* s, std::uint64_t n) {
  // acq_rel: the task that reaches n has seen every earlier increment, and
  // done_event's set() publishes them to the root.
  if (s->count.fetch_add(1, std::memory_order_acq_rel) + 1 == n) s->done.set();
  co_return;
}

task<outcome> spawn_many(options o) {
  const std::uint64_t n = o.size_or(1'000'000);
  stopwatch clock;
  shared_count s;  // in the root's frame, which outlives every task: the root waits for all
  for (std::uint64_t i = 0; i < n; ++i) spawn(bump(&s, n));
  if (n > 0) co_await s.done.wait();
  std::uint64_t c = s.count.load(std::memory_order_acquire);
  check(c == n, fmt::format("spawn_many: counter {} != {}", c, n));
  co_return finish(n, clock);
}

const registrar reg{"spawn_many", &spawn_many};

}  // namespace
}  // namespace weft::bench
