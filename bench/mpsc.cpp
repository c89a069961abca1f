// mpsc: 4 producers each send M consecutive integers into one bounded
// channel of capacity 1,024; the last producer to finish closes it. The root
// is the one consumer: it receives until the channel is closed and drained,
// then checks the count and the sum.
#include <atomic>
#include <vector>

#include <fmt/format.h>

#include <sync/channel.hpp>

#include "workload.hpp"

namespace weft::bench {
namespace {

struct shared_channel {
  channel<std::uint64_t> ch{1024};
  std::atomic<std::uint64_t> producers_left;
};

task<void> producer(shared_channel* s, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t v = from; v < to; ++v) co_await s->ch.send(v);
  // acq_rel: the last producer orders every producer's sends before its
  // close (the channel's lock orders them for the consumer anyway).
  if (s->producers_left.fetch_sub(1, std::memory_order_acq_rel) == 1) s->ch.close();
}

task<outcome> mpsc(options o) {
  constexpr std::uint64_t producers = 4;
  const std::uint64_t m = o.size_or(2'500'000);
  stopwatch clock;
  shared_channel s;  // in the root's frame: the root joins every producer
  s.producers_left.store(producers, std::memory_order_relaxed);
  std::vector<join_handle<void>> handles;
  handles.reserve(producers);
  for (std::uint64_t p = 0; p < producers; ++p) handles.push_back(spawn(producer(&s, p * m, (p + 1) * m)));
  std::uint64_t count = 0, sum = 0;
  while (std::optional<std::uint64_t> v = co_await s.ch.recv()) {
    ++count;
    sum += *v;
  }
  for (auto& h : handles) co_await h;
  const std::uint64_t total = producers * m;
  const std::uint64_t want = total * (total > 0 ? total - 1 : 0) / 2;
  check(count == total && sum == want,
        fmt::format("mpsc: received {} values summing to {}, want {} summing to {}", count, sum, total,
                    want));
  co_return finish(total, clock);
}

const registrar reg{"mpsc", &mpsc};

}  // namespace
}  // namespace weft::bench
