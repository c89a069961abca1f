// weft::semaphore: permits, FIFO with multi-permit requests, cancellation of
// the queue head, random aborts, a mass release, and the max_permits limit.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/semaphore.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {

constinit weft::semaphore global_semaphore{2};

weft::task<void> take(weft::semaphore& s, std::size_t n, std::vector<int>& order, int tag) {
  auto p = co_await s.acquire(n);
  CHECK(p.count() == n);
  order.push_back(tag);
}

struct abort_stress {
  weft::semaphore sem{3};
  std::atomic<long> in_use{0};
  std::atomic<long> overuse{0};
  std::atomic<bool> stop{false};
};

weft::task<void> abortable_user(abort_stress& s, std::uint64_t seed) {
  rng r(seed);
  while (!s.stop.load(std::memory_order_relaxed)) {
    std::size_t n = 1 + r.below(3);
    auto p = co_await s.sem.acquire(n);
    if (s.in_use.fetch_add(long(n)) + long(n) > 3) s.overuse.fetch_add(1);
    if (r.below(3) == 0) {
      s.in_use.fetch_sub(long(n));  // give back before a suspension that may be aborted
      co_await weft::yield_now();
      continue;
    }
    s.in_use.fetch_sub(long(n));
  }
}

struct held {
  abort_stress& s;
  long n;
  ~held() { s.in_use.fetch_sub(n); }
};

// Holds its permits across a yield, counting how many are held at once.
weft::task<void> holding_user(abort_stress& s, long total, std::uint64_t seed, int rounds) {
  rng r(seed);
  for (int i = 0; rounds < 0 || i < rounds; ++i) {
    std::size_t n = 1 + r.below(2);
    auto p = co_await s.sem.acquire(n);
    held h{s, long(n)};  // counted down also when the yield throws cancelled
    if (s.in_use.fetch_add(long(n)) + long(n) > total) s.overuse.fetch_add(1);
    co_await weft::yield_now();
  }
}

}  // namespace

TEST_SUITE("sync/semaphore") {

TEST_CASE("permits without a runtime") {
  CHECK(global_semaphore.available() == 2);
  auto a = global_semaphore.try_acquire();
  CHECK(a.count() == 1);
  auto b = global_semaphore.try_acquire(2);
  CHECK_FALSE(b);
  auto c = global_semaphore.try_acquire();
  CHECK(c);
  CHECK(global_semaphore.available() == 0);
  a.release();
  CHECK(global_semaphore.available() == 1);
  c.forget();
  CHECK(global_semaphore.available() == 1);
  global_semaphore.release();
  CHECK(global_semaphore.available() == 2);
  CHECK_THROWS_AS(global_semaphore.try_acquire(0), weft::runtime_misuse);
}

// The count once wrapped silently: release(max_permits) twice, or
// semaphore{0}.release(SIZE_MAX), left a nonsense number of free permits.
TEST_CASE("more than max_permits free permits is refused, with or without waiters") {
  constexpr std::size_t max = weft::semaphore::max_permits;
  CHECK_THROWS_AS(weft::semaphore{max + 10}, weft::runtime_misuse);
  CHECK_THROWS_AS(weft::semaphore{SIZE_MAX}, weft::runtime_misuse);
  weft::semaphore full{max};
  CHECK(full.available() == max);
  CHECK_THROWS_AS(full.release(), weft::runtime_misuse);
  weft::semaphore s{1};
  s.release(max - 1);
  CHECK(s.available() == max);
  CHECK_THROWS_AS(s.release(max), weft::runtime_misuse);
  CHECK(s.available() == max);  // a refused release adds nothing
  weft::semaphore empty{0};
  CHECK_THROWS_AS(empty.release(SIZE_MAX), weft::runtime_misuse);
  CHECK(empty.available() == 0);
  // With a waiter queued, release takes the locked path.
  run(2, [](weft::semaphore& s) -> weft::task<void> {
    std::vector<int> order;
    auto waiter = weft::spawn(take(s, 2, order, 1));
    bool queued = co_await until_waiters(s, 1);
    REQUIRE(queued);
    CHECK_THROWS_AS(s.release(max + 1), weft::runtime_misuse);
    CHECK(weft::detail::sync_probe::waiters(s) == 1);
    s.release(2);
    co_await waiter;
    CHECK(order == std::vector<int>{1});
    CHECK(s.available() == 2);
  }(empty));
}

TEST_CASE("a task looping on free permits yields, and never while holding them") {
  weft::runtime_config cfg = workers(1);
  cfg.sync_slice = 0us;  // yield at every spent budget
  weft::runtime rt{cfg};
  rt.block_on([]() -> weft::task<void> {
    weft::semaphore s{1};
    std::atomic<bool> stop{false};
    std::atomic<int> ticks{0}, found_taken{0};
    auto ticker = weft::spawn([](weft::semaphore& s, std::atomic<bool>& st, std::atomic<int>& t,
                                 std::atomic<int>& busy) -> weft::task<void> {
      while (!st.load()) {
        ++t;
        if (!s.try_acquire()) ++busy;
        co_await weft::yield_now();
      }
    }(s, stop, ticks, found_taken));
    const int n = 20'000;
    for (int i = 0; i < n; ++i) auto p = co_await s.acquire();
    int seen = ticks.load();
    stop = true;
    co_await ticker;
    CHECK(seen >= n / 128 / 2);
    CHECK(found_taken.load() == 0);
    CHECK(s.available() == 1);
  }());
}

TEST_CASE("a large request at the head holds back smaller ones (FIFO)") {
  run(1, []() -> weft::task<void> {
    weft::semaphore s{2};
    std::vector<int> order;
    auto both = co_await s.acquire(2);
    auto big = weft::spawn(take(s, 2, order, 2));
    bool queued = co_await until_waiters(s, 1);
    REQUIRE(queued);
    auto small = weft::spawn(take(s, 1, order, 1));
    queued = co_await until_waiters(s, 2);
    REQUIRE(queued);
    both = weft::semaphore::permit();  // frees 2 at once; `big` is first
    co_await big;
    co_await small;
    CHECK(order == std::vector<int>{2, 1});
    CHECK(s.available() == 2);
  }());
}

TEST_CASE("one free permit does not let a later small request pass a waiting large one") {
  run(1, []() -> weft::task<void> {
    weft::semaphore s{2};
    std::vector<int> order;
    auto p1 = co_await s.acquire();
    auto p2 = co_await s.acquire();
    auto big = weft::spawn(take(s, 2, order, 2));
    bool queued = co_await until_waiters(s, 1);
    REQUIRE(queued);
    auto small = weft::spawn(take(s, 1, order, 1));
    queued = co_await until_waiters(s, 2);
    REQUIRE(queued);
    p1.release();
    CHECK(s.available() == 1);
    CHECK(weft::detail::sync_probe::waiters(s) == 2);
    CHECK_FALSE(s.try_acquire());
    p2.release();
    co_await big;
    co_await small;
    CHECK(order == std::vector<int>{2, 1});
  }());
}

TEST_CASE("aborting the waiting head grants the waiters behind it") {
  run(2, []() -> weft::task<void> {
    weft::semaphore s{2};
    std::vector<int> order;
    auto p1 = co_await s.acquire();
    auto big = weft::spawn(take(s, 2, order, 2));
    bool queued = co_await until_waiters(s, 1);
    REQUIRE(queued);
    auto small = weft::spawn(take(s, 1, order, 1));
    queued = co_await until_waiters(s, 2);
    REQUIRE(queued);
    big.abort();
    CHECK(co_await joined_cancelled(big));
    co_await small;  // the free permit goes to it
    CHECK(order == std::vector<int>{1});
    p1.release();
    CHECK(s.available() == 2);
  }());
}

TEST_CASE("random aborts never leak or overuse permits") {
  run(3, []() -> weft::task<void> {
    abort_stress s;
    rng r(5);
    std::vector<weft::join_handle<void>> hs;
    for (int i = 0; i < 24; ++i) hs.push_back(weft::spawn(abortable_user(s, std::uint64_t(i))));
    const int aborts = int(scaled(3'000, 300));
    for (int k = 0; k < aborts; ++k) {
      for (int y = 0; y < 3; ++y) co_await weft::yield_now();
      hs[r.below(hs.size())].abort();
      hs.push_back(weft::spawn(abortable_user(s, std::uint64_t(100 + k))));
    }
    s.stop = true;
    for (auto& h : hs) {
      try {
        co_await h;
      } catch (const weft::cancelled&) {
      }
    }
    CHECK(s.overuse.load() == 0);
    CHECK(s.sem.available() == 3);
    CHECK(weft::detail::sync_probe::waiters(s.sem) == 0);
  }());
}

TEST_CASE("a release racing the grant that empties the queue keeps the count") {
  // release() saw waiters, and by the time it held the lock a grant had
  // emptied the queue and reopened the lock-free path; its store then
  // overwrote fast-path acquires and releases made meanwhile (a new user's
  // program saw 6 of 5 permits held, and available() ending at 8 or 3).
  run(2, []() -> weft::task<void> {
    abort_stress s;
    s.sem.release(2);  // five permits
    rng r(11);
    std::vector<weft::join_handle<void>> steady;
    for (int i = 0; i < 8; ++i) steady.push_back(weft::spawn(holding_user(s, 5, r.next(), 2000)));
    const int rounds = int(scaled(200, 60));
    for (int k = 0; k < rounds; ++k) {
      std::vector<weft::join_handle<void>> aborted;
      for (int i = 0; i < 4; ++i) aborted.push_back(weft::spawn(holding_user(s, 5, r.next(), -1)));
      co_await weft::sleep_for(std::chrono::microseconds(r.below(500)));
      for (auto& h : aborted) h.abort();
      for (auto& h : aborted) {
        try {
          co_await h;
        } catch (const weft::cancelled&) {
        }
      }
    }
    for (auto& h : steady) co_await h;
    CHECK(s.overuse.load() == 0);
    CHECK(s.sem.available() == 5);
  }());
}

TEST_CASE("100,000 waiters are released at once without stack growth") {
  run(2, []() -> weft::task<void> {
    const std::size_t n = 100'000;
    weft::semaphore s{0};
    stack_spread spread;
    std::atomic<std::size_t> got{0};
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      hs.push_back(weft::spawn([](weft::semaphore& s, stack_spread& sp,
                                  std::atomic<std::size_t>& g) -> weft::task<void> {
        auto p = co_await s.acquire();
        sp.record();
        p.forget();
        ++g;
      }(s, spread, got)));
    bool queued = co_await until_waiters(s, n, 60s);
    CHECK(queued);
    spread.record();
    s.release(n);
    for (auto& h : hs) co_await h;
    CHECK(got.load() == n);
    CHECK(s.available() == 0);
    CHECK(spread.max_spread() < 64 * 1024);
  }());
}

TEST_CASE("a runtime destroyed with acquirers pending gives every permit back") {
  weft::semaphore s{2};  // outlives the runtime, like a global
  for (int round = 0; round < 20; ++round) {
    weft::runtime rt{workers(2)};
    rt.block_on([](weft::semaphore& s) -> weft::task<void> {
      auto p = co_await s.acquire(2);
      for (int i = 0; i < 4; ++i)
        weft::spawn([](weft::semaphore& s) -> weft::task<void> {
          auto p = co_await s.acquire();
          co_await weft::sleep_for(1h);  // holds it until shutdown destroys us
        }(s));
      bool queued = co_await until_waiters(s, 4);
      CHECK(queued);
    }(s));
  }
  CHECK(s.available() == 2);
  CHECK(weft::detail::sync_probe::waiters(s) == 0);
}

}  // TEST_SUITE
