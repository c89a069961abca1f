// ping_pong: P pairs of tasks; in each pair the pinger sends a token i over
// one capacity-1 channel and waits for it to come back over another, R times;
// the ponger echoes until the pinger closes its channel. The root awaits all
// of them and checks every round trip and every echo.
#include <memory>
#include <vector>

#include <fmt/format.h>

#include <sync/channel.hpp>

#include "workload.hpp"

namespace weft::bench {
namespace {

struct pair_channels {
  channel<std::uint64_t> ping{1};
  channel<std::uint64_t> pong{1};
};

// Returns the round trips whose token came back unchanged.
task<std::uint64_t> pinger(pair_channels* c, std::uint64_t r) {
  std::uint64_t ok = 0;
  for (std::uint64_t i = 0; i < r; ++i) {
    co_await c->ping.send(i);
    std::optional<std::uint64_t> v = co_await c->pong.recv();
    if (!v || *v != i) break;
    ++ok;
  }
  c->ping.close();  // ends the ponger
  co_return ok;
}

// Returns the tokens it echoed.
task<std::uint64_t> ponger(pair_channels* c) {
  std::uint64_t n = 0;
  while (std::optional<std::uint64_t> v = co_await c->ping.recv()) {
    co_await c->pong.send(*v);
    ++n;
  }
  co_return n;
}

task<outcome> ping_pong(options o) {
  const std::uint64_t p = o.size_or(1'000);
  constexpr std::uint64_t r = 1'000;
  stopwatch clock;
  // In the root's frame, which outlives every task: the root joins them all.
  std::vector<std::unique_ptr<pair_channels>> pairs;
  std::vector<join_handle<std::uint64_t>> pingers, pongers;
  pairs.reserve(p);
  pingers.reserve(p);
  pongers.reserve(p);
  for (std::uint64_t k = 0; k < p; ++k) {
    pairs.push_back(std::make_unique<pair_channels>());
    pingers.push_back(spawn(pinger(pairs.back().get(), r)));
    pongers.push_back(spawn(ponger(pairs.back().get())));
  }
  std::uint64_t trips = 0, echoed = 0;
  for (auto& h : pingers) trips += co_await h;
  for (auto& h : pongers) echoed += co_await h;
  check(trips == p * r && echoed == p * r,
        fmt::format("ping_pong: {} round trips, {} echoes, want {}", trips, echoed, p * r));
  co_return finish(p * r, clock);
}

const registrar reg{"ping_pong", &ping_pong};

}  // namespace
}  // namespace weft::bench
