// weft::rwlock: shared readers, exclusive writers, FIFO (writers are not
// starved), cancellation of a queued writer.
#include <doctest/doctest.h>

#include <atomic>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/barrier.hpp>
#include <sync/rwlock.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {

constinit weft::rwlock global_rwlock;

struct pair_state {
  weft::rwlock rw;
  long x = 0, y = 0;  // written together under the write lock
  std::atomic<long> torn{0};
};

weft::task<void> writer(pair_state& s, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    auto g = co_await s.rw.write();
    ++s.x;
    if (i % 8 == 0) co_await weft::yield_now();
    ++s.y;
  }
}

weft::task<void> reader(pair_state& s, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    auto g = co_await s.rw.read();
    long x = s.x;
    if (i % 8 == 0) co_await weft::yield_now();
    if (x != s.y || x != s.x) s.torn.fetch_add(1);
  }
}

weft::task<void> record(weft::rwlock& rw, bool write, std::vector<char>& order, char tag) {
  if (write) {
    auto g = co_await rw.write();
    order.push_back(tag);
  } else {
    auto g = co_await rw.read();
    order.push_back(tag);
  }
}

}  // namespace

TEST_SUITE("sync/rwlock") {

TEST_CASE("try_read and try_write without a runtime") {
  auto r1 = global_rwlock.try_read();
  auto r2 = global_rwlock.try_read();
  CHECK(r1);
  CHECK(r2);
  CHECK_FALSE(global_rwlock.try_write());
  r1.unlock();
  r2.unlock();
  auto w = global_rwlock.try_write();
  CHECK(w);
  CHECK_FALSE(global_rwlock.try_read());
  CHECK_FALSE(global_rwlock.try_write());
}

TEST_CASE("readers hold the lock together") {
  run(2, []() -> weft::task<void> {
    weft::rwlock rw;
    weft::barrier all_in{8};
    std::vector<weft::join_handle<void>> hs;
    for (int i = 0; i < 8; ++i)
      hs.push_back(weft::spawn([](weft::rwlock& rw, weft::barrier& b) -> weft::task<void> {
        auto g = co_await rw.read();
        co_await b.arrive_and_wait();  // passes only if all 8 read at once
      }(rw, all_in)));
    for (auto& h : hs) co_await h;
    CHECK(rw.try_write());
  }());
}

TEST_CASE("writers exclude readers and each other") {
  const int rounds = int(scaled(5'000, 500));
  run(3, [](int rounds) -> weft::task<void> {
    pair_state s;
    std::vector<weft::join_handle<void>> hs;
    for (int i = 0; i < 4; ++i) hs.push_back(weft::spawn(writer(s, rounds)));
    for (int i = 0; i < 12; ++i) hs.push_back(weft::spawn(reader(s, rounds)));
    for (auto& h : hs) co_await h;
    CHECK(s.torn.load() == 0);
    CHECK(s.x == 4L * rounds);
    CHECK(s.y == s.x);
  }(rounds));
}

TEST_CASE("a waiting writer holds back later readers (FIFO)") {
  run(1, []() -> weft::task<void> {
    weft::rwlock rw;
    std::vector<char> order;
    auto mine = co_await rw.read();
    auto w = weft::spawn(record(rw, true, order, 'W'));
    bool queued = co_await until_waiters(rw, 1);
    REQUIRE(queued);
    CHECK_FALSE(rw.try_read());  // would barge past the writer
    auto r = weft::spawn(record(rw, false, order, 'R'));
    queued = co_await until_waiters(rw, 2);
    REQUIRE(queued);
    mine.unlock();
    co_await w;
    co_await r;
    CHECK(order == std::vector<char>{'W', 'R'});
  }());
}

TEST_CASE("aborting a queued writer lets the readers behind it in") {
  run(2, []() -> weft::task<void> {
    weft::rwlock rw;
    std::vector<char> order;
    auto mine = co_await rw.read();
    auto w = weft::spawn(record(rw, true, order, 'W'));
    bool queued = co_await until_waiters(rw, 1);
    REQUIRE(queued);
    auto r = weft::spawn(record(rw, false, order, 'R'));
    queued = co_await until_waiters(rw, 2);
    REQUIRE(queued);
    w.abort();
    CHECK(co_await joined_cancelled(w));
    co_await r;  // granted while we still read
    CHECK(order == std::vector<char>{'R'});
    mine.unlock();
    CHECK(rw.try_write());
  }());
}

}  // TEST_SUITE
