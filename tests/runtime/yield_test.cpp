// weft::yield_now: a yielding task goes behind the others, so yielding tasks
// interleave and none starves.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::workers;

namespace {

struct turn_log {
  std::mutex mutex;
  std::vector<int> turns;
  void add(int who) {
    std::lock_guard lock(mutex);
    turns.push_back(who);
  }
};

weft::task<void> take_turns(turn_log& log, int who, int n) {
  for (int i = 0; i < n; ++i) {
    log.add(who);
    co_await weft::yield_now();
  }
}

weft::task<void> two_yielders(turn_log& log, int n) {
  weft::join_handle<void> a = weft::spawn(take_turns(log, 0, n));
  weft::join_handle<void> b = weft::spawn(take_turns(log, 1, n));
  co_await a;
  co_await b;
}

// Yields until a task spawned after it has run: if yield_now did not let the
// rest of the queue go first, this would never end on one worker.
weft::task<void> wait_for_flag(std::atomic<bool>& flag, long& spins) {
  while (!flag.load()) {
    ++spins;
    co_await weft::yield_now();
  }
}

weft::task<void> set_flag(std::atomic<bool>& flag) {
  flag = true;
  co_return;
}

weft::task<long> no_starvation() {
  std::atomic<bool> flag{false};
  long spins = 0;
  weft::join_handle<void> waiter = weft::spawn(wait_for_flag(flag, spins));
  co_await weft::yield_now();  // the waiter starts spinning first
  weft::join_handle<void> setter = weft::spawn(set_flag(flag));
  co_await waiter;
  co_await setter;
  co_return spins;
}

weft::task<long> many_yielders(int tasks, int n) {
  std::atomic<long> total{0};
  std::vector<weft::join_handle<void>> hs;
  for (int t = 0; t < tasks; ++t)
    hs.push_back(weft::spawn([](std::atomic<long>& total, int n) -> weft::task<void> {
      for (int i = 0; i < n; ++i) {
        co_await weft::yield_now();
        ++total;
      }
    }(total, n)));
  for (auto& h : hs) co_await h;
  co_return total.load();
}

// A yielding task waits in a queue still claimed by the scheduler (no wake,
// see yield_self). Thieves move such tasks between workers and aborts land
// on them while they wait: each must still run on one thread at a time,
// count every turn once, and end cancelled if aborted.
struct turn_counter {
  std::atomic<bool> inside{false};
  std::atomic<long> turns{0};
  std::atomic<long> overlaps{0};
};

weft::task<void> count_turns(turn_counter& c, long n) {
  for (long i = 0; i < n; ++i) {
    if (c.inside.exchange(true)) c.overlaps.fetch_add(1);
    c.turns.fetch_add(1);
    c.inside.store(false);
    co_await weft::yield_now();
  }
}

}  // namespace

TEST_SUITE("runtime/yield") {
  TEST_CASE("two yielding tasks on one worker take strict turns") {
    weft::runtime rt{workers(1)};
    turn_log log;
    constexpr int n = 1000;
    rt.block_on(two_yielders(log, n));
    REQUIRE(log.turns.size() == 2 * n);
    int repeats = 0;
    for (std::size_t i = 1; i < log.turns.size(); ++i)
      if (log.turns[i] == log.turns[i - 1]) ++repeats;
    CHECK(repeats == 0);
  }

  TEST_CASE("a yielding task lets a task spawned after it run") {
    weft::runtime rt{workers(1)};
    long spins = rt.block_on(no_starvation());
    CHECK(spins >= 1);
    CHECK(spins < 1000);  // the setter ran within a few turns, not by luck
  }

  TEST_CASE("many yielding tasks on several workers all finish") {
    weft::runtime rt{workers(2)};
    constexpr int tasks = 64, n = weft_test::sanitized ? 200 : 2000;
    CHECK(rt.block_on(many_yielders(tasks, n)) == long(tasks) * n);
  }

  TEST_CASE("yielding tasks moved between workers and aborted while queued run once at a time") {
    weft::runtime rt{workers(2)};
    constexpr int tasks = 200;
    constexpr long n = weft_test::sanitized ? 300 : 3000;
    std::vector<turn_counter> counters(tasks);
    std::vector<weft::join_handle<void>> hs;
    for (int t = 0; t < tasks; ++t) hs.push_back(rt.spawn(count_turns(counters[t], n)));
    // Abort every other task from outside while they take turns.
    while (counters[0].turns.load() < n / 10) std::this_thread::yield();
    std::vector<long> turns_at_abort(tasks, 0);
    for (int t = 1; t < tasks; t += 2) {
      hs[t].abort();
      turns_at_abort[t] = counters[t].turns.load();
    }
    int cancelled = 0, finished = 0;
    for (int t = 0; t < tasks; ++t) {
      try {
        rt.block_on([](weft::join_handle<void>& h) -> weft::task<void> { co_await h; }(hs[t]));
        ++finished;
        CHECK(counters[t].turns.load() == n);
        // Aborted with turns to go: the next resumption must have thrown.
        if (t % 2 == 1) CHECK(turns_at_abort[t] >= n - 1);
      } catch (const weft::cancelled&) {
        ++cancelled;
        CHECK(t % 2 == 1);
        // The abort takes effect at the next yield: one turn more at most
        // (the one that was running when it came).
        CHECK(counters[t].turns.load() <= turns_at_abort[t] + 1);
      }
      CHECK(counters[t].overlaps.load() == 0);
    }
    CHECK(finished >= tasks / 2);
    CHECK(finished + cancelled == tasks);
    auto m = rt.metrics();
    long stolen = 0;
    for (const auto& w : m.workers) stolen += long(w.stolen_tasks);
    CAPTURE(stolen);
  }

  TEST_CASE("a task that yields in a loop does not hold timers back") {
    // A yielded task runs again only after the reactor was polled. Before,
    // the reactor was polled every event_interval (61) polls: a sleep next
    // to a task yielding every 200 us was 8 ms late past its tick.
    weft::runtime rt{workers(1)};
    auto spinner = rt.spawn([]() -> weft::task<void> {
      for (;;) {
        auto t0 = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - t0 < 200us) {
        }
        co_await weft::yield_now();
      }
    }());
    using lateness = std::vector<std::chrono::microseconds>;
    lateness late = rt.block_on([]() -> weft::task<lateness> {
      lateness late;
      for (int i = 0; i < 21; ++i) {
        auto deadline = std::chrono::steady_clock::now() + 3ms;
        co_await weft::sleep_until(deadline);
        // Timers tick every millisecond: count from the tick after the deadline.
        auto late_by = std::chrono::steady_clock::now() - deadline - 1ms;
        late.push_back(std::chrono::duration_cast<std::chrono::microseconds>(late_by));
      }
      co_return late;
    }());
    spinner.abort();
    std::sort(late.begin(), late.end());
    CHECK_MESSAGE(late[late.size() / 2] < 5ms, "median lateness " << late[late.size() / 2].count() << " us");
  }
}
