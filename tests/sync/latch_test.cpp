// weft::latch: counting down from tasks and threads, misuse, cancellation,
// a mass release.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/latch.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {
constinit weft::latch global_latch{1};
}

TEST_SUITE("sync/latch") {

TEST_CASE("count_down from tasks and a plain thread releases the waiters") {
  run(2, []() -> weft::task<void> {
    weft::latch l{5};
    std::atomic<int> after{0};
    std::vector<weft::join_handle<void>> hs;
    for (int i = 0; i < 3; ++i)
      hs.push_back(weft::spawn([](weft::latch& l, std::atomic<int>& a) -> weft::task<void> {
        co_await l.wait();
        ++a;
      }(l, after)));
    for (int i = 0; i < 3; ++i)
      hs.push_back(weft::spawn([](weft::latch& l) -> weft::task<void> {
        co_await weft::yield_now();
        l.count_down();
      }(l)));
    std::thread t([&] { l.count_down(); });
    co_await l.arrive_and_wait();  // the fifth
    t.join();
    for (auto& h : hs) co_await h;
    CHECK(after.load() == 3);
    CHECK(l.try_wait());
    CHECK(l.count() == 0);
    co_await l.wait();  // at zero: does not wait
  }());
}

TEST_CASE("counting below zero is an error") {
  weft::latch l{2};
  CHECK_THROWS_AS(l.count_down(3), weft::runtime_misuse);
  CHECK(l.count() == 2);
  l.count_down(2);
  CHECK(l.try_wait());
  CHECK_THROWS_AS(l.count_down(), weft::runtime_misuse);
  global_latch.count_down();
  CHECK(global_latch.try_wait());
}

TEST_CASE("an aborted wait leaves the queue") {
  run(2, []() -> weft::task<void> {
    weft::latch l{1};
    auto w = [](weft::latch& l) -> weft::task<void> { co_await l.wait(); };
    auto victim = weft::spawn(w(l));
    auto other = weft::spawn(w(l));
    bool queued = co_await until_waiters(l, 2);
    REQUIRE(queued);
    victim.abort();
    CHECK(co_await joined_cancelled(victim));
    CHECK(weft::detail::sync_probe::waiters(l) == 1);
    l.count_down();
    co_await other;
  }());
}

TEST_CASE("100,000 waiters are released without stack growth") {
  run(2, []() -> weft::task<void> {
    const std::size_t n = 100'000;
    weft::latch l{1};
    stack_spread spread;
    std::atomic<std::size_t> got{0};
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      hs.push_back(weft::spawn([](weft::latch& l, stack_spread& sp,
                                  std::atomic<std::size_t>& g) -> weft::task<void> {
        co_await l.wait();
        sp.record();
        ++g;
      }(l, spread, got)));
    bool queued = co_await until_waiters(l, n, 60s);
    CHECK(queued);
    spread.record();
    l.count_down();
    for (auto& h : hs) co_await h;
    CHECK(got.load() == n);
    CHECK(spread.max_spread() < 64 * 1024);
  }());
}

}  // TEST_SUITE
