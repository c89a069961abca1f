// weft::promise<T> / weft::shared_future<T>: many awaiters on many workers,
// values, exceptions, void, a broken promise, misuse, cancellation, and a
// mass release.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/promise.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {
weft::promise<std::string> global_promise;  // constructible with no runtime

weft::task<std::size_t> await_len(weft::shared_future<std::string> f) {
  const std::string& s = co_await f;
  co_return s.size();
}
}  // namespace

TEST_SUITE("sync/promise") {

TEST_CASE("every awaiter on every worker gets the value") {
  std::size_t total = run(3, []() -> weft::task<std::size_t> {
    weft::promise<std::string> p;
    std::vector<weft::join_handle<std::size_t>> hs;
    for (int i = 0; i < 200; ++i) hs.push_back(weft::spawn(await_len(p.get_future())));
    co_await weft::sleep_for(1ms);
    p.set_value("hello");
    std::size_t sum = 0;
    for (auto& h : hs) sum += co_await h;
    // Ready now: awaits complete without waiting; an rvalue future gives a copy.
    std::string copy = co_await p.get_future();
    CHECK(copy == "hello");
    CHECK(p.get_future().get() == "hello");
    co_return sum;
  }());
  CHECK(total == 200 * 5);
}

TEST_CASE("a global promise, set from a plain thread") {
  auto f = global_promise.get_future();
  CHECK_FALSE(f.is_ready());
  CHECK_THROWS_AS(f.get(), weft::runtime_misuse);
  std::size_t n = run(2, [](weft::shared_future<std::string> f) -> weft::task<std::size_t> {
    std::thread setter([] { global_promise.set_value("from a thread"); });
    std::size_t len = (co_await f).size();
    setter.join();
    co_return len;
  }(f));
  CHECK(n == 13);
  CHECK(f.is_ready());
}

TEST_CASE("an exception reaches every awaiter") {
  int caught = run(2, []() -> weft::task<int> {
    weft::promise<int> p;
    auto f = p.get_future();
    std::vector<weft::join_handle<int>> hs;
    for (int i = 0; i < 10; ++i)
      hs.push_back(weft::spawn([](weft::shared_future<int> f) -> weft::task<int> {
        try {
          co_await f;
        } catch (const std::runtime_error&) {
          co_return 1;
        }
        co_return 0;
      }(f)));
    p.set_exception(std::make_exception_ptr(std::runtime_error("boom")));
    int n = 0;
    for (auto& h : hs) n += co_await h;
    co_return n;
  }());
  CHECK(caught == 10);
}

TEST_CASE("void promises, broken promises and setting twice") {
  run(2, []() -> weft::task<void> {
    weft::promise<void> p;
    auto f = p.get_future();
    auto h = weft::spawn([](weft::shared_future<void> f) -> weft::task<void> { co_await f; }(f));
    p.set_value();
    co_await h;
    CHECK_THROWS_AS(p.set_value(), weft::runtime_misuse);

    weft::shared_future<int> orphan;
    {
      weft::promise<int> q;
      orphan = q.get_future();
    }
    CHECK(orphan.is_ready());
    CHECK_THROWS_AS(co_await orphan, weft::broken_promise);

    weft::shared_future<int> empty;
    CHECK_THROWS_AS(co_await empty, weft::runtime_misuse);
  }());
}

TEST_CASE("an aborted awaiter leaves the queue; the others still get the value") {
  run(2, []() -> weft::task<void> {
    weft::promise<int> p;
    auto f = p.get_future();
    auto victim = weft::spawn([](weft::shared_future<int> f) -> weft::task<int> { co_return co_await f; }(f));
    auto other = weft::spawn([](weft::shared_future<int> f) -> weft::task<int> { co_return co_await f; }(f));
    bool queued = co_await until_waiters(f, 2);
    CHECK(queued);
    victim.abort();
    CHECK(co_await joined_cancelled(victim));
    CHECK(weft::detail::sync_probe::waiters(f) == 1);
    p.set_value(3);
    CHECK(co_await other == 3);
  }());
}

TEST_CASE("100,000 awaiters are released without stack growth") {
  run(2, []() -> weft::task<void> {
    const std::size_t n = 100'000;
    weft::promise<int> p;
    stack_spread spread;
    std::atomic<std::size_t> got{0};
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      hs.push_back(weft::spawn([](weft::shared_future<int> f, stack_spread& sp,
                                  std::atomic<std::size_t>& g) -> weft::task<void> {
        int v = co_await f;
        sp.record();
        if (v == 7) ++g;
      }(p.get_future(), spread, got)));
    auto probe = p.get_future();
    bool queued = co_await until_waiters(probe, n, 60s);
    CHECK(queued);
    spread.record();
    p.set_value(7);
    for (auto& h : hs) co_await h;
    CHECK(got.load() == n);
    CHECK(spread.max_spread() < 64 * 1024);
  }());
}

}  // TEST_SUITE
