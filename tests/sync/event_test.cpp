// weft::event: set/reset/wait, notify_one/notify_all, cooperative budget,
// cancellation, a mass release, and a ping-pong ring with a watchdog.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/event.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {

constinit weft::event global_event;

weft::task<void> wait_and_count(weft::event& e, std::atomic<int>& n) {
  co_await e.wait();
  ++n;
}

}  // namespace

TEST_SUITE("sync/event") {

TEST_CASE("set stays set until reset, like asyncio.Event") {
  CHECK_FALSE(global_event.is_set());
  run(2, []() -> weft::task<void> {
    weft::event e;
    std::atomic<int> n{0};
    auto a = weft::spawn(wait_and_count(e, n));
    auto b = weft::spawn(wait_and_count(e, n));
    bool queued = co_await until_waiters(e, 2);
    REQUIRE(queued);
    CHECK(n.load() == 0);
    e.set();
    co_await a;
    co_await b;
    CHECK(n.load() == 2);
    CHECK(e.is_set());
    co_await e.wait();  // set: does not wait
    e.set();            // idempotent
    e.reset();
    CHECK_FALSE(e.is_set());
    auto c = weft::spawn(wait_and_count(e, n));
    queued = co_await until_waiters(e, 1);
    REQUIRE(queued);
    e.set();
    co_await c;
    CHECK(n.load() == 3);
  }());
}

TEST_CASE("notify_one wakes the oldest waiter, notify_all the current ones, neither sets") {
  run(1, []() -> weft::task<void> {
    weft::event e;
    std::vector<int> order;
    std::vector<weft::join_handle<void>> hs;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(weft::spawn([](weft::event& e, std::vector<int>& o, int i) -> weft::task<void> {
        co_await e.wait();
        o.push_back(i);
      }(e, order, i)));
      bool queued = co_await until_waiters(e, std::size_t(i) + 1);
      REQUIRE(queued);
    }
    e.notify_one();
    co_await hs[0];
    CHECK(order == std::vector<int>{0});
    CHECK(weft::detail::sync_probe::waiters(e) == 3);
    CHECK_FALSE(e.is_set());
    e.notify_all();
    for (std::size_t i = 1; i < hs.size(); ++i) co_await hs[i];
    CHECK(order.size() == 4);
    CHECK_FALSE(e.is_set());
    e.notify_one();  // nobody waits: no effect, nothing remembered
    std::atomic<int> late_count{0};
    auto late = weft::spawn(wait_and_count(e, late_count));
    bool queued = co_await until_waiters(e, 1);
    CHECK(queued);
    late.abort();
    CHECK(co_await joined_cancelled(late));
    CHECK(late_count.load() == 0);
  }());
}

TEST_CASE("an aborted wait leaves the queue; set still wakes the rest") {
  run(2, []() -> weft::task<void> {
    weft::event e;
    std::atomic<int> n{0};
    auto victim = weft::spawn(wait_and_count(e, n));
    auto other = weft::spawn(wait_and_count(e, n));
    bool queued = co_await until_waiters(e, 2);
    REQUIRE(queued);
    victim.abort();
    CHECK(co_await joined_cancelled(victim));
    CHECK(weft::detail::sync_probe::waiters(e) == 1);
    e.set();
    co_await other;
    CHECK(n.load() == 1);
  }());
}

TEST_CASE("waiting on a set event still yields (cooperative budget)") {
  weft::runtime_config cfg = workers(1);
  cfg.sync_slice = 0us;  // yield at every spent budget (the slice is tested with channels)
  weft::runtime rt{cfg};
  rt.block_on([]() -> weft::task<void> {
    weft::event e{true};
    std::atomic<bool> stop{false};
    std::atomic<int> ticks{0};
    auto ticker = weft::spawn([](std::atomic<bool>& s, std::atomic<int>& t) -> weft::task<void> {
      while (!s.load()) {
        ++t;
        co_await weft::yield_now();
      }
    }(stop, ticks));
    for (int i = 0; i < 10'000; ++i) co_await e.wait();
    int seen = ticks.load();
    stop = true;
    co_await ticker;
    CHECK(seen >= 10'000 / 128 / 2);
  }());
}

TEST_CASE("100,000 waiters are released by set without stack growth") {
  run(2, []() -> weft::task<void> {
    const std::size_t n = 100'000;
    weft::event e;
    stack_spread spread;
    std::atomic<std::size_t> got{0};
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      hs.push_back(weft::spawn([](weft::event& e, stack_spread& sp,
                                  std::atomic<std::size_t>& g) -> weft::task<void> {
        co_await e.wait();
        sp.record();
        ++g;
      }(e, spread, got)));
    bool queued = co_await until_waiters(e, n, 60s);
    CHECK(queued);
    spread.record();
    e.set();
    for (auto& h : hs) co_await h;
    CHECK(got.load() == n);
    CHECK(spread.max_spread() < 64 * 1024);
  }());
}

TEST_CASE("ping-pong rings over events, with a watchdog") {
  const std::uint64_t round_trips = scaled(1'000'000, 10'000);
  for (std::size_t k : {std::size_t(2), std::size_t(16)}) {
    CAPTURE(k);
    run(2, [](std::size_t k, std::uint64_t hops) -> weft::task<void> {
      struct ring {
        std::vector<std::unique_ptr<weft::event>> ev;
        std::uint64_t count = 0;  // only the token holder touches it (set/wait order it)
        std::atomic<bool> done{false};
      } r;
      for (std::size_t i = 0; i < k; ++i) r.ev.push_back(std::make_unique<weft::event>());
      watchdog wd(k);
      std::vector<weft::join_handle<void>> hs;
      for (std::size_t i = 0; i < k; ++i)
        hs.push_back(weft::spawn([](std::size_t i, ring& r, watchdog& wd, std::uint64_t hops) -> weft::task<void> {
          weft::event& mine = *r.ev[i];
          weft::event& next = *r.ev[(i + 1) % r.ev.size()];
          for (;;) {
            co_await mine.wait();
            mine.reset();
            wd.beat(i);
            if (r.done.load()) break;
            if (r.count == hops) {
              r.done = true;
              for (auto& e : r.ev) e->set();
              break;
            }
            ++r.count;
            next.set();
          }
          wd.finished(i);
        }(i, r, wd, hops)));
      wd.start([&hs] {
        for (auto& h : hs) h.abort();
      });
      r.ev[0]->set();
      for (auto& h : hs) {
        try {
          co_await h;
        } catch (const weft::cancelled&) {
        }
      }
      wd.stop();
      CHECK_FALSE(wd.tripped());
      CHECK(r.count == hops);
    }(k, 2 * round_trips));
  }
}

}  // TEST_SUITE
