// weft::watch<T>: latest value, waiting for a change, close, cancellation,
// readers across workers seeing a monotonic sequence.
#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/watch.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {

// For owner_gone_at_shutdown: the watch outlives the runtime, as a global would.
weft::watch<int>& shared_watch() {
  static weft::watch<int> b{0};
  return b;
}
struct watch_shape {
  using receiver = weft::watch<int>::receiver;
  static receiver make() { return shared_watch().subscribe(); }
  static auto wait(receiver& r) { return r.recv(); }
};

}  // namespace

TEST_SUITE("sync/watch") {

TEST_CASE("latest value, versions and receivers without a runtime") {
  weft::watch<std::string> w{"a"};
  auto rx = w.subscribe();
  CHECK_FALSE(rx.has_changed());
  CHECK(w.get() == "a");
  CHECK(w.version() == 1);
  w.send("b");
  w.send("c");
  CHECK(rx.has_changed());
  CHECK(rx.get() == "c");  // only the latest; marks it seen
  CHECK_FALSE(rx.has_changed());
  w.modify([](std::string& s) { s += "!"; });
  CHECK(w.get() == "c!");
  CHECK(w.version() == 4);
}

TEST_CASE("receivers wait for a change and see a monotonic sequence") {
  const int n = int(scaled(20'000, 2'000));
  run(3, [](int n) -> weft::task<void> {
    weft::watch<int> w{0};
    std::vector<weft::join_handle<int>> hs;
    for (int i = 0; i < 4; ++i)
      hs.push_back(weft::spawn([](weft::watch<int>::receiver rx, int n) -> weft::task<int> {
        int last = 0, bad = 0;
        while (last != n) {
          auto v = co_await rx.recv();
          if (!v || *v <= last) ++bad;
          if (!v) break;
          last = *v;
        }
        co_return bad;
      }(w.subscribe(), n)));
    for (int i = 1; i <= n; ++i) {
      w.send(i);
      if (i % 16 == 0) co_await weft::yield_now();
    }
    for (auto& h : hs) CHECK(co_await h == 0);
  }(n));
}

TEST_CASE("changed() and close") {
  run(2, []() -> weft::task<void> {
    weft::watch<int> w{1};
    auto rx = w.subscribe();
    auto waiter = weft::spawn([](weft::watch<int>::receiver rx) -> weft::task<int> {
      int changes = 0;
      while (co_await rx.changed()) ++changes;
      co_return changes;
    }(rx));
    bool queued = co_await until_waiters(w, 1);
    REQUIRE(queued);
    w.send(2);
    queued = co_await until_waiters(w, 1);
    REQUIRE(queued);
    w.close();
    CHECK(co_await waiter == 1);
    CHECK_THROWS_AS(w.send(3), weft::channel_closed<int>);
    CHECK_THROWS_AS(w.modify([](int&) {}), weft::closed_error);
    auto v = co_await rx.recv();  // rx (a copy) has not seen 2 yet
    REQUIRE(v);
    CHECK(*v == 2);
    CHECK_FALSE(co_await rx.recv());
  }());
}

TEST_CASE("an aborted wait misses nothing") {
  run(2, []() -> weft::task<void> {
    weft::watch<int> w{0};
    auto rx = w.subscribe();
    auto victim = weft::spawn(
        [](weft::watch<int>::receiver& rx) -> weft::task<void> { co_await rx.recv(); }(rx));
    bool queued = co_await until_waiters(w, 1);
    REQUIRE(queued);
    victim.abort();
    CHECK(co_await joined_cancelled(victim));
    CHECK(weft::detail::sync_probe::waiters(w) == 0);
    w.send(9);
    auto v = co_await rx.recv();
    REQUIRE(v);
    CHECK(*v == 9);
  }());
}

TEST_CASE("a runtime destroyed while a task awaits a receiver another task owns") {
  CHECK(owner_gone_at_shutdown<watch_shape>().run() == 2);
  CHECK(weft::detail::sync_probe::waiters(shared_watch()) == 0);
}

}  // TEST_SUITE
