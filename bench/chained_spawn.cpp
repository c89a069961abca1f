// chained_spawn: D tasks in a chain, each spawns its successor and ends; the
// last one reports how many ran and wakes the root.
#include <fmt/format.h>

#include "done_event.hpp"
#include "workload.hpp"

namespace weft::bench {
namespace {

struct chain_end {
  std::uint64_t ran = 0;  // written by the last link before done.set()
  done_event done;
};

task<void> link(std::uint64_t left, std::uint64_t ran, chain_end* end) {
  ++ran;
  if (left > 1) {
    spawn(link(left - 1, ran, end));
  } else {
    end->ran = ran;
    end->done.set();  // publishes `ran` (see done_event::set)
  }
  co_return;
}

task<outcome> chained_spawn(options o) {
  const std::uint64_t d = o.size_or(1'000'000);
  stopwatch clock;
  chain_end end;  // in the root's frame, which waits for the last link
  if (d > 0) {
    spawn(link(d, 0, &end));
    co_await end.done.wait();
  }
  check(end.ran == d, fmt::format("chained_spawn: {} tasks ran, want {}", end.ran, d));
  co_return finish(d, clock);
}

const registrar reg{"chained_spawn", &chained_spawn};

}  // namespace
}  // namespace weft::bench
