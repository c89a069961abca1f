// Stress of cancellation: aborts from plain threads racing the completion of
// sleeps, yields, joins and blocking jobs. Every task ends exactly once, with
// its value or with cancelled; tasks nobody aborted are never cancelled; every
// destructor runs.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>
#include <tests/support/watchdog.hpp>

using namespace std::chrono_literals;
using weft_test::alive_counter;
using weft_test::workers;

namespace {

constexpr bool sanitized = weft_test::sanitized;
using weft_test::watchdog;

weft::task<int> child_sleep(int us) {
  co_await weft::sleep_for(std::chrono::microseconds(us));
  co_return 1;
}

// One of four kinds of work, each ending with `i` unless cancelled.
weft::task<int> work(int i, std::atomic<int>& alive) {
  alive_counter guard(alive);
  switch (i % 4) {
    case 0:
      co_await weft::sleep_for(std::chrono::microseconds(i % 7 * 50));
      break;
    case 1:
      for (int k = 0; k < i % 5 + 1; ++k) co_await weft::yield_now();
      break;
    case 2:
      (void)co_await weft::spawn(child_sleep(i % 5 * 40));
      break;
    default:
      (void)co_await weft::spawn_blocking([] { return 1; });
      break;
  }
  co_return i;
}

struct tally {
  std::vector<int> outcome;  // -1: cancelled, -2: other error, else the value
};

weft::task<void> join_all(std::vector<weft::join_handle<int>>& hs, tally& t) {
  t.outcome.assign(hs.size(), -3);
  for (std::size_t i = 0; i < hs.size(); ++i) {
    try {
      t.outcome[i] = co_await hs[i];
    } catch (const weft::cancelled&) {
      t.outcome[i] = -1;
    } catch (...) {
      t.outcome[i] = -2;
    }
  }
}

}  // namespace

TEST_SUITE("stress/abort") {
  TEST_CASE("aborts from plain threads race completions: one clean end per task") {
    watchdog dog(std::chrono::seconds(sanitized ? 240 : 60), "aborts racing completions");
    weft::runtime rt{workers(2)};
    const int n = sanitized ? 4'000 : 40'000;
    std::atomic<int> alive{0};
    std::vector<weft::join_handle<int>> hs;
    hs.reserve(std::size_t(n));
    for (int i = 0; i < n; ++i) hs.push_back(rt.spawn(work(i, alive)));

    // Two threads abort the even-numbered tasks, at staggered moments, both
    // of them (so some aborts race each other too).
    std::vector<std::thread> aborters;
    for (int a = 0; a < 2; ++a)
      aborters.emplace_back([&hs, n, a] {
        for (int i = a * 2; i < n; i += 4) {
          hs[std::size_t(i)].abort();
          hs[std::size_t((i + 2) % n)].abort();
          if (i % 64 == 0) std::this_thread::yield();
        }
      });
    tally t;
    rt.block_on(join_all(hs, t));
    for (auto& th : aborters) th.join();

    int values = 0, cancelled = 0, wrong = 0, spurious = 0;
    for (int i = 0; i < n; ++i) {
      int o = t.outcome[std::size_t(i)];
      if (o == i) ++values;
      else if (o == -1) {
        ++cancelled;
        if (i % 2) ++spurious;  // nobody aborted the odd ones
      } else {
        ++wrong;
      }
    }
    CAPTURE(values);
    CAPTURE(cancelled);
    CHECK(values + cancelled == n);
    CHECK(wrong == 0);
    CHECK(spurious == 0);
    CHECK(values >= n / 2);
    hs.clear();
    CHECK(alive.load() == 0);
  }
}
