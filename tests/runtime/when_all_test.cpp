#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::alive_counter;
using weft_test::workers;

namespace {
weft::task<int> value_after(int v, std::chrono::milliseconds d) {
  co_await weft::sleep_for(d);
  co_return v;
}
weft::task<void> fail_after(std::chrono::milliseconds d) {
  co_await weft::sleep_for(d);
  throw std::runtime_error("child failed");
}
weft::task<void> sleep_forever(std::atomic<int>& alive, std::atomic<int>& cancelled) {
  alive_counter guard(alive);
  try {
    co_await weft::sleep_for(1h);
  } catch (const weft::cancelled&) {
    ++cancelled;
    throw;
  }
}
weft::task<void> count_entry(std::atomic<int>& entered) {
  ++entered;
  co_await weft::sleep_for(1ms);
}
weft::task<void> fail_at_once() {
  throw std::runtime_error("failed at once");
  co_return;
}
}  // namespace

TEST_SUITE("runtime/when_all") {
  TEST_CASE("returns every result in order, void as monostate") {
    weft::runtime rt{workers(2)};
    auto r = rt.block_on([]() -> weft::task<std::tuple<int, std::string, std::monostate>> {
      co_return co_await weft::when_all(value_after(1, 5ms), []() -> weft::task<std::string> {
        co_return "two";
      }(), weft::sleep_for(1ms));
    }());
    CHECK(std::get<0>(r) == 1);
    CHECK(std::get<1>(r) == "two");
  }

  TEST_CASE("children run concurrently") {
    weft::runtime rt{workers(2)};
    auto t0 = std::chrono::steady_clock::now();
    rt.block_on([]() -> weft::task<void> {
      (void)co_await weft::when_all(value_after(1, 100ms), value_after(2, 100ms), value_after(3, 100ms));
    }());
    CHECK(weft_test::ms_since(t0) < 250ms);
  }

  TEST_CASE("the first failure cancels the rest and is rethrown after they ended") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0}, cancelled{0};
    auto t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS(rt.block_on([&]() -> weft::task<void> {
      (void)co_await weft::when_all(sleep_forever(alive, cancelled), fail_after(5ms),
                                    sleep_forever(alive, cancelled));
    }()), "child failed", std::runtime_error);
    CHECK(weft_test::ms_since(t0) < 1s);
    CHECK(cancelled == 2);
    CHECK(alive == 0);  // when_all returned only after the losers unwound
  }

  // On one worker the last child spawned runs first (the LIFO slot): it
  // fails before the first child's first poll, which then never runs, as a
  // spawned task aborted before its first poll never does.
  TEST_CASE("a child aborted before its first poll never runs its body") {
    weft::runtime rt{workers(1)};
    std::atomic<int> entered{0};
    CHECK_THROWS_WITH_AS(rt.block_on([&]() -> weft::task<void> {
      co_await weft::when_all(count_entry(entered), fail_at_once());
    }()), "failed at once", std::runtime_error);
    CHECK(entered == 0);
  }

  TEST_CASE("aborting the awaiting task cancels and awaits the children") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0}, cancelled{0};
    rt.block_on([&]() -> weft::task<void> {
      auto h = weft::spawn([](std::atomic<int>& a, std::atomic<int>& c) -> weft::task<void> {
        (void)co_await weft::when_all(sleep_forever(a, c), sleep_forever(a, c));
      }(alive, cancelled));
      co_await weft::sleep_for(10ms);
      h.abort();
      CHECK_THROWS_AS(co_await h, weft::cancelled);
      CHECK(alive == 0);
      CHECK(cancelled == 2);
    }());
  }

  TEST_CASE("a vector of tasks") {
    weft::runtime rt{workers(2)};
    auto v = rt.block_on([]() -> weft::task<std::vector<int>> {
      std::vector<weft::task<int>> ts;
      for (int i = 0; i < 100; ++i) ts.push_back(value_after(i, std::chrono::milliseconds(i % 7)));
      co_return co_await weft::when_all(std::move(ts));
    }());
    REQUIRE(v.size() == 100);
    for (int i = 0; i < 100; ++i) CHECK(v[i] == i);
  }

  TEST_CASE("join handles and an empty vector of void tasks") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      auto a = weft::spawn(value_after(7, 1ms));
      auto b = weft::spawn(value_after(8, 2ms));
      auto [x, y] = co_await weft::when_all(std::move(a), std::move(b));
      CHECK(x + y == 15);
      co_await weft::when_all(std::vector<weft::task<void>>{});
    }());
  }
}
