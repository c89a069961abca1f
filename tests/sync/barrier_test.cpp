// weft::barrier: rounds with one leader each, reuse, cancellation
// withdrawing an arrival.
#include <doctest/doctest.h>

#include <atomic>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/barrier.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

TEST_SUITE("sync/barrier") {

TEST_CASE("rounds complete together, one leader each") {
  const int rounds = int(scaled(2'000, 200));
  run(3, [](int rounds) -> weft::task<void> {
    weft::barrier b{8};
    std::atomic<int> leaders{0};
    std::atomic<int> arrived{0};
    std::atomic<int> early{0};  // a task that got past round r before all 8 arrived at it
    std::vector<weft::join_handle<void>> hs;
    for (int t = 0; t < 8; ++t)
      hs.push_back(weft::spawn([](weft::barrier& b, int rounds, std::atomic<int>& leaders,
                                  std::atomic<int>& arrived, std::atomic<int>& early) -> weft::task<void> {
        for (int r = 0; r < rounds; ++r) {
          arrived.fetch_add(1);
          if (co_await b.arrive_and_wait()) ++leaders;
          if (arrived.load() < 8 * (r + 1)) early.fetch_add(1);
        }
      }(b, rounds, leaders, arrived, early)));
    for (auto& h : hs) co_await h;
    CHECK(leaders.load() == rounds);
    CHECK(early.load() == 0);
    CHECK(b.generation() == std::uint64_t(rounds));
  }(rounds));
}

TEST_CASE("an aborted waiter withdraws its arrival") {
  run(2, []() -> weft::task<void> {
    weft::barrier b{3};
    auto wait_once = [](weft::barrier& b) -> weft::task<bool> { co_return co_await b.arrive_and_wait(); };
    auto a = weft::spawn(wait_once(b));
    auto victim = weft::spawn(wait_once(b));
    bool queued = co_await until_waiters(b, 2);
    REQUIRE(queued);
    victim.abort();
    CHECK(co_await joined_cancelled(victim));
    CHECK(weft::detail::sync_probe::waiters(b) == 1);
    auto c = weft::spawn(wait_once(b));
    queued = co_await until_waiters(b, 2);
    REQUIRE(queued);
    CHECK(b.generation() == 0);  // two arrivals count, not three
    bool leader = co_await b.arrive_and_wait();
    CHECK(leader);
    CHECK_FALSE(co_await a);
    CHECK_FALSE(co_await c);
    CHECK(b.generation() == 1);
  }());
}

}  // TEST_SUITE
