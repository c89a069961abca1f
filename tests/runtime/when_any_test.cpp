#include <doctest/doctest.h>

#include <stdexcept>

#include <runtime/runtime.hpp>
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

TEST_SUITE("runtime/when_any") {
  TEST_CASE("the first to finish wins and the losers are cancelled and awaited") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    auto t0 = std::chrono::steady_clock::now();
    auto r = rt.block_on([&]() -> weft::task<weft::when_any_result<int, int, void>> {
      auto res = co_await weft::when_any(value_after(1, 1h, &alive), value_after(2, 5ms, &alive),
                                         weft::sleep_for(1h));
      CHECK(alive == 0);
      co_return res;
    }());
    CHECK(r.index() == 1);
    CHECK(std::get<1>(r) == 2);
    CHECK(weft_test::ms_since(t0) < 1s);
  }

  TEST_CASE("a winner's exception is rethrown") {
    weft::runtime rt{workers(2)};
    CHECK_THROWS_AS(rt.block_on([]() -> weft::task<void> {
      (void)co_await weft::when_any(value_after(1, 1h), []() -> weft::task<int> {
        throw std::logic_error("first");
        co_return 0;
      }());
    }()), std::logic_error);
  }

  TEST_CASE("a vector of tasks returns the winner's index") {
    weft::runtime rt{workers(2)};
    auto [i, v] = rt.block_on([]() -> weft::task<std::pair<std::size_t, int>> {
      std::vector<weft::task<int>> ts;
      ts.push_back(value_after(10, 1h));
      ts.push_back(value_after(11, 1h));
      ts.push_back(value_after(12, 1ms));
      co_return co_await weft::when_any(std::move(ts));
    }());
    CHECK(i == 2);
    CHECK(v == 12);
  }

  TEST_CASE("aborting the awaiting task cancels every child") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    rt.block_on([&]() -> weft::task<void> {
      auto h = weft::spawn([](std::atomic<int>& a) -> weft::task<void> {
        (void)co_await weft::when_any(value_after(1, 1h, &a), value_after(2, 1h, &a));
      }(alive));
      co_await weft::sleep_for(5ms);
      h.abort();
      CHECK_THROWS_AS(co_await h, weft::cancelled);
      CHECK(alive == 0);
    }());
  }

  TEST_CASE("a join handle that loses ends its wait; its task runs on, detached") {
    weft::runtime rt{workers(2)};
    std::atomic<int> finished{0};
    rt.block_on([](std::atomic<int>& finished) -> weft::task<void> {
      auto h = weft::spawn([](std::atomic<int>& f) -> weft::task<int> {
        co_await weft::sleep_for(30ms);
        ++f;
        co_return 1;
      }(finished));
      auto r = co_await weft::when_any(std::move(h), value_after(2, 1ms));
      CHECK(r.index() == 1);
      CHECK(finished == 0);
      co_await weft::sleep_for(300ms);
      CHECK(finished == 1);  // not aborted with the wait
    }(finished));
  }
}
