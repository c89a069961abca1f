// weft::mutex: mutual exclusion under contention, FIFO hand-off, guards,
// cancellation of waiters (before and after the hand-off), random aborts,
// a mass release, and the abort on an unlock of a mutex that is not locked.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/mutex.hpp>
#include <tests/support/child_process.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {

constinit weft::mutex global_mutex;  // constant-initialised: safe as a global

weft::task<void> contender(weft::mutex& m, long& counter, int rounds, int yield_every) {
  for (int i = 0; i < rounds; ++i) {
    auto g = co_await m.lock();
    long v = counter;
    // Sometimes hold the mutex across a suspension, so that others queue.
    if (yield_every && i % yield_every == 0) co_await weft::yield_now();
    counter = v + 1;
  }
}

weft::task<void> lock_and_record(weft::mutex& m, std::vector<int>& order, int i) {
  auto g = co_await m.lock();
  order.push_back(i);
}

struct abort_stress {
  weft::mutex m;
  long counter = 0;
  std::atomic<long> completed{0};
  std::atomic<bool> stop{false};
};

weft::task<void> abortable_locker(abort_stress& s, std::uint64_t seed) {
  rng r(seed);
  while (!s.stop.load(std::memory_order_relaxed)) {
    auto g = co_await s.m.lock();
    ++s.counter;
    s.completed.fetch_add(1, std::memory_order_relaxed);
    if (r.below(4) == 0) co_await weft::yield_now();  // aborted here: the guard unlocks
  }
}

}  // namespace

TEST_SUITE("sync/mutex") {

TEST_CASE("try_lock, guards and unlock without a runtime") {
  weft::mutex m;
  CHECK_FALSE(m.is_locked());
  auto g = m.try_lock();
  CHECK(g.owns_lock());
  CHECK(g.owner() == &m);
  CHECK(m.is_locked());
  CHECK_FALSE(m.try_lock());
  weft::mutex::guard moved = std::move(g);
  CHECK_FALSE(g.owns_lock());
  CHECK(moved);
  moved.unlock();
  CHECK_FALSE(m.is_locked());
  {
    auto g2 = global_mutex.try_lock();
    CHECK(g2);
  }
  CHECK_FALSE(global_mutex.is_locked());
}

// A second unlock once went through silently and left the mutex free while
// its next owner held it. unlock is noexcept (guards call it from their
// destructors), so it aborts with a message instead of throwing.
TEST_CASE("unlocking a mutex that is not locked aborts with a message") {
  auto never_locked = weft_test::run_in_child(
      [] {
        weft::mutex m;
        m.unlock();
        return 0;
      },
      30s);
  auto twice = weft_test::run_in_child(
      [] {
        weft::mutex m;
        auto g = m.try_lock();
        m.unlock();  // by hand, and the guard unlocks again
        return 0;
      },
      30s);
  for (auto& child : {never_locked, twice}) {
    INFO("child stderr: ", child.err);
    REQUIRE(child.finished);
    CHECK(child.killed_by(SIGABRT));
    CHECK(child.err.find("weft::mutex::unlock: the mutex is not locked") != std::string::npos);
  }
}

TEST_CASE("a task looping on a free mutex yields, and never while holding it") {
  weft::runtime_config cfg = workers(1);
  cfg.sync_slice = 0us;  // yield at every spent budget
  weft::runtime rt{cfg};
  rt.block_on([]() -> weft::task<void> {
    weft::mutex m;
    std::atomic<bool> stop{false};
    std::atomic<int> ticks{0}, found_locked{0};
    auto ticker = weft::spawn([](weft::mutex& m, std::atomic<bool>& s, std::atomic<int>& t,
                                 std::atomic<int>& busy) -> weft::task<void> {
      while (!s.load()) {
        ++t;
        if (!m.try_lock()) ++busy;  // the looping task must not hold m while yielded
        co_await weft::yield_now();
      }
    }(m, stop, ticks, found_locked));
    const int n = 20'000;
    long c = 0;
    for (int i = 0; i < n; ++i) {
      auto g = co_await m.lock();
      ++c;
    }
    int seen = ticks.load();
    stop = true;
    co_await ticker;
    CHECK(c == n);
    CHECK(seen >= n / 128 / 2);
    CHECK(found_locked.load() == 0);
    CHECK(weft::detail::sync_probe::waiters(m) == 0);
  }());
}

TEST_CASE("a counter under contention from 64 tasks over 2 and 4 workers") {
  const int rounds = int(scaled(20'000, 1'000));
  for (std::size_t n : {std::size_t(2), std::size_t(4)}) {
    CAPTURE(n);
    for (int yield_every : {0, 16}) {
      CAPTURE(yield_every);
      long counter = run(n, [](int rounds, int ye) -> weft::task<long> {
        weft::mutex m;
        long c = 0;
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < 64; ++i) hs.push_back(weft::spawn(contender(m, c, rounds, ye)));
        for (auto& h : hs) co_await h;
        CHECK_FALSE(m.is_locked());
        CHECK(weft::detail::sync_probe::waiters(m) == 0);
        co_return c;
      }(rounds, yield_every));
      CHECK(counter == 64L * rounds);
    }
  }
}

TEST_CASE("waiters get the mutex in FIFO order, by hand-off") {
  for (std::size_t n : {std::size_t(1), std::size_t(2)}) {
    CAPTURE(n);
    auto order = run(n, [](bool one_worker) -> weft::task<std::vector<int>> {
      weft::mutex m;
      std::vector<int> order;
      std::vector<weft::join_handle<void>> hs;
      auto g = co_await m.lock();
      for (int i = 0; i < 50; ++i) {
        hs.push_back(weft::spawn(lock_and_record(m, order, i)));
        bool queued = co_await until_waiters(m, std::size_t(i) + 1);
        REQUIRE(queued);
      }
      g.unlock();
      // Handed to the oldest waiter, not released: nobody can barge in. With
      // one worker the new owner cannot have run (and finished) yet.
      if (one_worker) CHECK_FALSE(m.try_lock());
      for (auto& h : hs) co_await h;
      CHECK_FALSE(m.is_locked());
      co_return order;
    }(n == 1));
    REQUIRE(order.size() == 50);
    bool fifo = true;
    for (int i = 0; i < 50; ++i) fifo &= order[std::size_t(i)] == i;
    CHECK(fifo);
  }
}

TEST_CASE("a lock aborted while waiting leaves the queue and never holds the mutex") {
  run(2, []() -> weft::task<void> {
    weft::mutex m;
    std::vector<int> order;
    auto g = co_await m.lock();
    auto a = weft::spawn(lock_and_record(m, order, 1));
    bool queued = co_await until_waiters(m, 1);
    REQUIRE(queued);
    auto b = weft::spawn(lock_and_record(m, order, 2));
    queued = co_await until_waiters(m, 2);
    REQUIRE(queued);
    a.abort();
    CHECK(co_await joined_cancelled(a));
    CHECK(weft::detail::sync_probe::waiters(m) == 1);
    g.unlock();
    co_await b;
    CHECK(order == std::vector<int>{2});
    CHECK_FALSE(m.is_locked());
    // The last waiter left: a plain unlock path again.
    auto g2 = co_await m.lock();
    CHECK(g2);
  }());
}

TEST_CASE("a waiter aborted after the hand-off returns the guard, and unwinding releases it") {
  run(1, []() -> weft::task<void> {
    weft::mutex m;
    std::atomic<bool> held{false};
    auto g = co_await m.lock();
    auto a = weft::spawn([](weft::mutex& m, std::atomic<bool>& held) -> weft::task<void> {
      auto g = co_await m.lock();
      held = true;
      co_await weft::yield_now();  // the abort lands here; the guard unlocks
      held = false;                // not reached
    }(m, held));
    bool queued = co_await until_waiters(m, 1);
    REQUIRE(queued);
    g.unlock();  // handed to `a`, which cannot run before we suspend (one worker)
    a.abort();
    CHECK(co_await joined_cancelled(a));
    CHECK(held.load());
    CHECK_FALSE(m.is_locked());
  }());
}

TEST_CASE("lock under weft::timeout gives up cleanly") {
  run(2, []() -> weft::task<void> {
    weft::mutex m;
    auto g = co_await m.lock();
    CHECK_THROWS_AS(co_await weft::timeout(5ms, m.lock()), weft::timed_out);
    CHECK(weft::detail::sync_probe::waiters(m) == 0);
    g.unlock();
    CHECK_FALSE(m.is_locked());
    auto g2 = co_await weft::timeout(1s, m.lock());
    CHECK(g2.owns_lock());
  }());
}

TEST_CASE("random aborts of lockers keep the count right and the mutex usable") {
  run(3, []() -> weft::task<void> {
    abort_stress s;
    rng r(11);
    std::vector<weft::join_handle<void>> hs;
    for (int i = 0; i < 24; ++i) hs.push_back(weft::spawn(abortable_locker(s, std::uint64_t(i))));
    const int aborts = int(scaled(3'000, 300));
    for (int k = 0; k < aborts; ++k) {
      for (int y = 0; y < 3; ++y) co_await weft::yield_now();
      hs[r.below(hs.size())].abort();
      hs.push_back(weft::spawn(abortable_locker(s, std::uint64_t(100 + k))));
    }
    s.stop = true;
    for (auto& h : hs) {
      try {
        co_await h;
      } catch (const weft::cancelled&) {
      }
    }
    CHECK(s.counter == s.completed.load());
    CHECK(s.counter > 0);
    CHECK_FALSE(s.m.is_locked());
    CHECK(weft::detail::sync_probe::waiters(s.m) == 0);
    auto g = s.m.try_lock();
    CHECK(g);
  }());
}

TEST_CASE("100,000 queued lockers are released one by one without stack growth") {
  run(2, []() -> weft::task<void> {
    const std::size_t n = 100'000;
    weft::mutex m;
    stack_spread spread;
    std::size_t entered = 0;  // guarded by m
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    auto g = co_await m.lock();
    for (std::size_t i = 0; i < n; ++i)
      hs.push_back(weft::spawn([](weft::mutex& m, stack_spread& sp, std::size_t& k) -> weft::task<void> {
        auto g = co_await m.lock();
        sp.record();
        ++k;
      }(m, spread, entered)));
    bool queued = co_await until_waiters(m, n, 60s);
    CHECK(queued);
    spread.record();
    g.unlock();
    for (auto& h : hs) co_await h;
    CHECK(entered == n);
    CHECK(spread.max_spread() < 64 * 1024);
    CHECK_FALSE(m.is_locked());
  }());
}

TEST_CASE("a runtime destroyed with lockers pending leaves the mutex free") {
  weft::mutex m;  // outlives the runtime, like a global
  for (int round = 0; round < 20; ++round) {
    weft::runtime rt{workers(2)};
    rt.block_on([](weft::mutex& m) -> weft::task<void> {
      auto g = co_await m.lock();
      for (int i = 0; i < 4; ++i)
        weft::spawn([](weft::mutex& m) -> weft::task<void> {
          auto g = co_await m.lock();
          co_await weft::sleep_for(1h);  // holds it until shutdown destroys us
        }(m));
      bool queued = co_await until_waiters(m, 4);
      CHECK(queued);
      // Returning unlocks: the mutex is handed to a waiter that may or may
      // not have run when the runtime is destroyed.
    }(m));
  }
  CHECK_FALSE(m.is_locked());
  CHECK(weft::detail::sync_probe::waiters(m) == 0);
  CHECK(m.try_lock());
}

}  // TEST_SUITE
