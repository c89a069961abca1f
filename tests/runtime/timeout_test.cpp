#include <doctest/doctest.h>

#include <limits>
#include <stdexcept>

#include <runtime/runtime.hpp>
#include <sync/channel.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::alive_counter;
using weft_test::workers;

namespace {
weft::task<int> value_after(int v, std::chrono::milliseconds d, std::atomic<int>* alive = nullptr) {
  std::optional<alive_counter> guard;
  if (alive) guard.emplace(*alive);
  co_await weft::sleep_for(d);
  co_return v;
}
}  // namespace

TEST_SUITE("runtime/timeout") {
  TEST_CASE("returns the value when the work finishes in time") {
    weft::runtime rt{workers(2)};
    int v = rt.block_on([]() -> weft::task<int> {
      co_return co_await weft::timeout(1s, value_after(42, 1ms));
    }());
    CHECK(v == 42);
  }

  TEST_CASE("throws timed_out after cancelling and awaiting the work") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    auto t0 = std::chrono::steady_clock::now();
    rt.block_on([&]() -> weft::task<void> {
      CHECK_THROWS_AS((void)co_await weft::timeout(20ms, value_after(1, 1h, &alive)), weft::timed_out);
      CHECK(alive == 0);
    }());
    auto took = weft_test::ms_since(t0);
    CHECK(took >= 20ms);
    CHECK(took < 1s);
  }

  TEST_CASE("accepts any awaitable: a sleep, a join handle") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      co_await weft::timeout(1s, weft::sleep_for(1ms));
      auto h = weft::spawn(value_after(5, 1ms));
      CHECK(co_await weft::timeout(1s, std::move(h)) == 5);
      auto slow = weft::spawn(value_after(6, 1h));
      CHECK_THROWS_AS((void)co_await weft::timeout(5ms, std::move(slow)), weft::timed_out);
    }());
  }

  TEST_CASE("the longest timeouts never expire; a negative one expires at once") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      CHECK(co_await weft::timeout(std::chrono::hours::max(), value_after(7, 5ms)) == 7);
      CHECK(co_await weft::timeout(std::chrono::nanoseconds::max(), value_after(8, 5ms)) == 8);
      CHECK_THROWS_AS((void)co_await weft::timeout(std::chrono::hours::min(), value_after(9, 1h)),
                      weft::timed_out);
    }());
  }

  // timeout(NaN, work) once threw timed_out at once (the NaN's conversion to
  // the clock's ticks was undefined behaviour); 1e300 s must not overflow it.
  TEST_CASE("a NaN timeout throws invalid_argument; a huge floating one never expires") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      const std::chrono::duration<double> nan{std::numeric_limits<double>::quiet_NaN()};
      auto work = value_after(6, 5ms);
      CHECK_THROWS_AS((void)weft::timeout(nan, std::move(work)), std::invalid_argument);
      CHECK(work.valid());  // thrown before the work was taken
      CHECK(co_await weft::timeout(std::chrono::duration<double>(1e300), value_after(7, 5ms)) == 7);
    }());
  }

  TEST_CASE("a deadline already passed still lets the work take its first step") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      for (int i = 0; i < 200; ++i) {
        CHECK(co_await weft::timeout(0ms, []() -> weft::task<int> { co_return 11; }()) == 11);
        co_await weft::timeout(-5ms, weft::sleep_for(0ms));
        weft::channel<int> ch{4};
        REQUIRE(ch.try_send(12));
        CHECK(co_await weft::timeout(0ms, ch.recv()) == std::optional<int>(12));
      }
      // Work that has to wait still ends by the deadline.
      CHECK_THROWS_AS((void)co_await weft::timeout(0ms, value_after(13, 1h)), weft::timed_out);
      // Work that ends cancelled by itself in that step is cancelled, not timed out.
      auto gone = weft::spawn(value_after(14, 1h));
      gone.abort();
      co_await weft::sleep_for(1ms);  // it has ended
      CHECK_THROWS_AS((void)co_await weft::timeout(0ms, std::move(gone)), weft::cancelled);
    }());
  }

  TEST_CASE("with two workers a passed deadline gives the value or timed_out, and loses nothing") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      int values = 0;
      for (int i = 0; i < 500; ++i) {
        weft::channel<int> ch{4};
        REQUIRE(ch.try_send(i));
        bool timed_out = false;
        std::optional<int> got;
        try {
          got = co_await weft::timeout(0ms, ch.recv());
        } catch (const weft::timed_out&) {
          timed_out = true;
        }
        if (!timed_out) {
          CHECK(got == std::optional<int>(i));
          ++values;
        } else {
          auto left = ch.try_recv();
          REQUIRE(left.has_value());
          CHECK(left.value() == i);
        }
      }
      MESSAGE("values: " << values << " of 500");
      CHECK(values > 0);
    }());
  }

  TEST_CASE("the work's own exception passes through") {
    weft::runtime rt{workers(1)};
    CHECK_THROWS_AS(rt.block_on([]() -> weft::task<void> {
      co_await weft::timeout(1s, []() -> weft::task<void> {
        throw std::out_of_range("inner");
        co_return;
      }());
    }()), std::out_of_range);
  }

  TEST_CASE("aborting the task in a timeout throws cancelled, not timed_out") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto h = weft::spawn([]() -> weft::task<int> { co_return co_await weft::timeout(1h, value_after(1, 1h)); }());
      co_await weft::sleep_for(5ms);
      h.abort();
      CHECK_THROWS_AS(co_await h, weft::cancelled);
    }());
  }
}
