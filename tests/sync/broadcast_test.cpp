// weft::broadcast<T>: every receiver sees every message, lag reporting,
// late subscribers, close, cancellation.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/broadcast.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {

// For owner_gone_at_shutdown: the broadcast outlives the runtime, as a global would.
weft::broadcast<int>& shared_broadcast() {
  static weft::broadcast<int> b{4};
  return b;
}
struct broadcast_shape {
  using receiver = weft::broadcast<int>::receiver;
  static receiver make() { return shared_broadcast().subscribe(); }
  static auto wait(receiver& r) { return r.recv(); }
};

}  // namespace

TEST_SUITE("sync/broadcast") {

TEST_CASE("every receiver sees every message in order") {
  const int n = int(scaled(50'000, 5'000));
  run(3, [](int n) -> weft::task<void> {
    weft::broadcast<int> b{std::size_t(n)};  // big enough that nobody lags
    std::vector<weft::join_handle<long>> hs;
    std::vector<weft::broadcast<int>::receiver> rxs;
    for (int i = 0; i < 6; ++i) rxs.push_back(b.subscribe());
    CHECK(b.receiver_count() == 6);
    for (auto& rx : rxs)
      hs.push_back(weft::spawn([](weft::broadcast<int>::receiver& rx) -> weft::task<long> {
        long expect = 0, bad = 0;
        for (;;) {
          auto r = co_await rx.recv();
          if (!r) {
            if (!r.closed) ++bad;
            break;
          }
          if (r.missed || *r.value != expect) ++bad;
          ++expect;
        }
        co_return bad ? -bad : expect;
      }(rx)));
    for (int i = 0; i < n; ++i) {
      CHECK(b.send(i) == 6);
      if (i % 100 == 0) co_await weft::yield_now();
    }
    b.close();
    for (auto& h : hs) CHECK(co_await h == n);
  }(n));
}

TEST_CASE("a slow receiver learns how many it missed, then gets the oldest kept") {
  weft::broadcast<std::string> b{4};
  auto rx = b.subscribe();
  for (int i = 0; i < 10; ++i) b.send(std::to_string(i));
  auto r = rx.try_recv();
  REQUIRE(r.value);
  CHECK(r.missed == 6);
  CHECK(*r.value == "6");
  for (const char* want : {"7", "8", "9"}) {
    auto next = rx.try_recv();
    REQUIRE(next.value);
    CHECK(next.missed == 0);
    CHECK(*next.value == want);
  }
  auto none = rx.try_recv();
  CHECK_FALSE(none.value);
  CHECK_FALSE(none.closed);
  auto late = b.subscribe();  // sees only what comes next
  b.send("10");
  CHECK(*late.try_recv().value == "10");
  CHECK(*rx.try_recv().value == "10");
}

TEST_CASE("close wakes receivers, kept messages still arrive, send after close hands the value back") {
  run(2, []() -> weft::task<void> {
    weft::broadcast<int> b{8};
    auto rx = b.subscribe();
    auto rx2 = b.subscribe();
    auto waiting = weft::spawn([](weft::broadcast<int>::receiver& rx) -> weft::task<bool> {
      auto r = co_await rx.recv();
      co_return !r.value && r.closed;
    }(rx));
    bool queued = co_await until_waiters(b, 1);
    REQUIRE(queued);
    b.close();
    CHECK(co_await waiting);
    bool thrown = false;
    try {
      b.send(5);
    } catch (const weft::channel_closed<int>& e) {
      thrown = e.value() == 5;
    }
    CHECK(thrown);
    CHECK((co_await rx2.recv()).closed);
  }());
  weft::broadcast<int> b{8};
  auto rx = b.subscribe();
  b.send(1);
  b.close();
  CHECK(*rx.try_recv().value == 1);
  CHECK(rx.try_recv().closed);
}

TEST_CASE("an aborted recv loses nothing") {
  run(2, []() -> weft::task<void> {
    weft::broadcast<int> b{8};
    auto rx = b.subscribe();
    auto victim = weft::spawn(
        [](weft::broadcast<int>::receiver& rx) -> weft::task<void> { co_await rx.recv(); }(rx));
    bool queued = co_await until_waiters(b, 1);
    REQUIRE(queued);
    victim.abort();
    CHECK(co_await joined_cancelled(victim));
    CHECK(weft::detail::sync_probe::waiters(b) == 0);
    b.send(42);
    auto r = co_await rx.recv();
    REQUIRE(r.value);
    CHECK(*r.value == 42);
  }());
}

TEST_CASE("a runtime destroyed while a task awaits a receiver another task owns") {
  CHECK(owner_gone_at_shutdown<broadcast_shape>().run() == 2);
  CHECK(weft::detail::sync_probe::waiters(shared_broadcast()) == 0);
}

}  // TEST_SUITE
