// weft::condition_variable: a bounded queue with two conditions, notify_all
// handing the mutex over one by one, misuse, cancellation while waiting for
// the notify and while waiting for the mutex, and a mass notify_all.
#include <doctest/doctest.h>

#include <atomic>
#include <deque>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/condition_variable.hpp>
#include <sync/mutex.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {

constinit weft::condition_variable global_cv;

struct bounded_queue {
  weft::mutex m;
  weft::condition_variable not_empty, not_full;
  std::deque<int> items;
  std::size_t cap = 4;
  bool closed = false;
};

weft::task<void> produce(bounded_queue& q, int from, int n) {
  for (int i = from; i < from + n; ++i) {
    auto g = co_await q.m.lock();
    while (q.items.size() == q.cap) co_await q.not_full.wait(g);
    q.items.push_back(i);
    g.unlock();
    q.not_empty.notify_one();
  }
}

weft::task<long> consume(bounded_queue& q) {
  long sum = 0;
  for (;;) {
    auto g = co_await q.m.lock();
    co_await q.not_empty.wait(g, [&] { return !q.items.empty() || q.closed; });
    REQUIRE(g.owns_lock());
    if (q.items.empty()) co_return sum;
    sum += q.items.front();
    q.items.pop_front();
    g.unlock();
    q.not_full.notify_one();
  }
}

}  // namespace

TEST_SUITE("sync/condition_variable") {

TEST_CASE("a bounded queue with two conditions delivers everything") {
  const int per = int(scaled(20'000, 1'000));
  long total = run(3, [](int per) -> weft::task<long> {
    bounded_queue q;
    std::vector<weft::join_handle<void>> producers;
    std::vector<weft::join_handle<long>> consumers;
    for (int c = 0; c < 4; ++c) consumers.push_back(weft::spawn(consume(q)));
    for (int p = 0; p < 4; ++p) producers.push_back(weft::spawn(produce(q, p * per, per)));
    for (auto& h : producers) co_await h;
    {
      auto g = co_await q.m.lock();
      q.closed = true;
    }
    q.not_empty.notify_all();
    long sum = 0;
    for (auto& h : consumers) sum += co_await h;
    CHECK_FALSE(q.m.is_locked());
    co_return sum;
  }(per));
  const long n = 4L * per;
  CHECK(total == n * (n - 1) / 2);
}

TEST_CASE("notify_all moves every waiter to the mutex; they run one at a time") {
  run(2, []() -> weft::task<void> {
    weft::mutex m;
    weft::condition_variable cv;
    bool go = false;
    int inside = 0, max_inside = 0, done = 0;  // guarded by m
    std::vector<weft::join_handle<void>> hs;
    for (int i = 0; i < 16; ++i)
      hs.push_back(weft::spawn([](weft::mutex& m, weft::condition_variable& cv, bool& go, int& inside,
                                  int& max_inside, int& done) -> weft::task<void> {
        auto g = co_await m.lock();
        while (!go) co_await cv.wait(g);
        ++inside;
        max_inside = std::max(max_inside, inside);
        co_await weft::yield_now();  // still holding m
        --inside;
        ++done;
      }(m, cv, go, inside, max_inside, done)));
    bool queued = co_await until_waiters(cv, 16);
    REQUIRE(queued);
    {
      auto g = co_await m.lock();
      go = true;
      cv.notify_all();  // while holding m: all of them queue on m behind us
      CHECK(weft::detail::sync_probe::waiters(cv) == 0);
      CHECK(weft::detail::sync_probe::waiters(m) == 16);
    }
    for (auto& h : hs) co_await h;
    CHECK(done == 16);
    CHECK(max_inside == 1);
  }());
}

TEST_CASE("waiting needs a guard that owns the mutex") {
  run(1, []() -> weft::task<void> {
    weft::mutex::guard empty;
    CHECK_THROWS_AS(co_await global_cv.wait(empty), weft::runtime_misuse);
  }());
}

TEST_CASE("aborted while waiting for the notify: cancelled, the guard no longer owns the mutex") {
  run(2, []() -> weft::task<void> {
    weft::mutex m;
    weft::condition_variable cv;
    std::atomic<int> owned_after{-1};
    auto w = weft::spawn([](weft::mutex& m, weft::condition_variable& cv, std::atomic<int>& o) -> weft::task<void> {
      auto g = co_await m.lock();
      try {
        co_await cv.wait(g);
      } catch (const weft::cancelled&) {
        o = g.owns_lock() ? 1 : 0;
        throw;
      }
    }(m, cv, owned_after));
    bool queued = co_await until_waiters(cv, 1);
    REQUIRE(queued);
    w.abort();
    CHECK(co_await joined_cancelled(w));
    CHECK(owned_after.load() == 0);
    CHECK(weft::detail::sync_probe::waiters(cv) == 0);
    CHECK_FALSE(m.is_locked());
    cv.notify_one();  // nobody: harmless
    CHECK(m.try_lock());
  }());
}

TEST_CASE("aborted while waiting to get the mutex back after a notify") {
  run(2, []() -> weft::task<void> {
    weft::mutex m;
    weft::condition_variable cv;
    std::atomic<int> owned_after{-1};
    auto w = weft::spawn([](weft::mutex& m, weft::condition_variable& cv, std::atomic<int>& o) -> weft::task<void> {
      auto g = co_await m.lock();
      try {
        co_await cv.wait(g);
      } catch (const weft::cancelled&) {
        o = g.owns_lock() ? 1 : 0;
        throw;
      }
    }(m, cv, owned_after));
    bool queued = co_await until_waiters(cv, 1);
    REQUIRE(queued);
    auto g = co_await m.lock();
    cv.notify_one();  // we hold m: the waiter moves to m's queue
    CHECK(weft::detail::sync_probe::waiters(m) == 1);
    w.abort();
    CHECK(co_await joined_cancelled(w));
    CHECK(owned_after.load() == 0);
    CHECK(weft::detail::sync_probe::waiters(m) == 0);
    g.unlock();
    CHECK_FALSE(m.is_locked());
  }());
}

// asyncio.Condition (3.13) and Tokio's Notify pass such a notification on;
// it used to die with the cancelled waiter while an item sat ready.
weft::task<int> take_token(weft::mutex& m, weft::condition_variable& cv, int& tokens) {
  auto g = co_await m.lock();
  while (tokens == 0) co_await cv.wait(g);
  --tokens;
  co_return 1;
}

TEST_CASE("a notified waiter aborted before it gets the mutex back passes the notification on") {
  for (std::size_t threads : {1, 2}) {
    CAPTURE(threads);
    run(threads, []() -> weft::task<void> {
      weft::mutex m;
      weft::condition_variable cv;
      int tokens = 0;
      auto first = weft::spawn(take_token(m, cv, tokens));
      bool one = co_await until_waiters(cv, 1);
      REQUIRE(one);
      auto second = weft::spawn(take_token(m, cv, tokens));
      bool two = co_await until_waiters(cv, 2);
      REQUIRE(two);
      {
        auto g = co_await m.lock();
        tokens = 1;
        cv.notify_one();  // the first waiter moves to m's queue...
        first.abort();    // ...and is aborted there
      }
      CHECK(co_await joined_cancelled(first));
      CHECK(co_await weft::timeout(10s, std::move(second)) == 1);
      CHECK(tokens == 0);
    }());
  }
}

TEST_CASE("100,000 waiters are released by notify_all without stack growth") {
  run(2, []() -> weft::task<void> {
    const std::size_t n = 100'000;
    weft::mutex m;
    weft::condition_variable cv;
    bool go = false;
    std::size_t done = 0;  // guarded by m
    stack_spread spread;
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      hs.push_back(weft::spawn([](weft::mutex& m, weft::condition_variable& cv, bool& go, std::size_t& done,
                                  stack_spread& sp) -> weft::task<void> {
        auto g = co_await m.lock();
        while (!go) co_await cv.wait(g);
        sp.record();
        ++done;
      }(m, cv, go, done, spread)));
    bool queued = co_await until_waiters(cv, n, 60s);
    CHECK(queued);
    spread.record();
    {
      auto g = co_await m.lock();
      go = true;
    }
    cv.notify_all();
    for (auto& h : hs) co_await h;
    CHECK(done == n);
    CHECK(spread.max_spread() < 64 * 1024);
  }());
}

}  // TEST_SUITE
