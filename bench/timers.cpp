// timers: T tasks each sleep a pseudo-random 1..100 ms (the protocol's LCG,
// drawn in spawn order) and return how late they woke; the root awaits them
// all. Reports p99_late_us (and p50, max), computed after the clock stops.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "workload.hpp"

namespace weft::bench {
namespace {

std::uint64_t lcg_next(std::uint64_t& x) {
  x = x * 6364136223846793005ull + 1442695040888963407ull;
  return 1 + (x >> 33) % 100;
}

// Nanoseconds between the deadline (time before the sleep + duration) and
// the wake-up; 0 if early.
task<std::uint64_t> sleeper(std::chrono::milliseconds dur) {
  auto start = clock::now();
  co_await sleep_for(dur);
  auto late = clock::now() - start - dur;
  co_return late.count() > 0
      ? std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(late).count())
      : 0;
}

// Nearest rank.
std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double pct) {
  if (sorted.empty()) return 0;
  auto rank = std::size_t(std::ceil(pct / 100.0 * double(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

task<outcome> timers(options o) {
  const std::uint64_t t = o.size_or(100'000);
  stopwatch clock;
  std::uint64_t x = 0;
  std::vector<join_handle<std::uint64_t>> handles;
  handles.reserve(t);
  for (std::uint64_t i = 0; i < t; ++i)
    handles.push_back(spawn(sleeper(std::chrono::milliseconds(lcg_next(x)))));
  std::vector<std::uint64_t> late;
  late.reserve(t);
  for (auto& h : handles) late.push_back(co_await h);
  check(late.size() == t, fmt::format("timers: {} of {} woke", late.size(), t));
  outcome r = finish(t, clock);
  std::sort(late.begin(), late.end());
  auto us = [](std::uint64_t ns) { return fmt::format("{:.1f}", double(ns) / 1000.0); };
  r.extra.emplace_back("p99_late_us", us(percentile(late, 99)));
  r.extra.emplace_back("p50_late_us", us(percentile(late, 50)));
  r.extra.emplace_back("max_late_us", us(late.empty() ? 0 : late.back()));
  co_return r;
}

const registrar reg{"timers", &timers};

}  // namespace
}  // namespace weft::bench
