// weft::oneshot<T>(): delivery before and after the receiver waits, a sender
// or receiver that goes away, cancellation, and a ring of tasks passing a
// token through a fresh oneshot at every hop.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/oneshot.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {

struct token {
  std::uint64_t count;
  weft::oneshot_receiver<token> next;  // the next round's receiver for the same link
};

weft::task<void> ring_node(std::size_t i, weft::oneshot_receiver<token> rx, weft::oneshot_sender<token> tx,
                           bool starts, std::uint64_t hops, watchdog& wd, std::atomic<std::uint64_t>& fin) {
  if (starts) {
    auto [s, r] = weft::oneshot<token>();
    CHECK(tx.send(token{0, std::move(r)}).sent());
    tx = std::move(s);
  }
  while (auto t = co_await rx) {
    wd.beat(i);
    if (t->count == hops) {
      fin = t->count;
      break;
    }
    rx = std::move(t->next);
    auto [s, r] = weft::oneshot<token>();
    tx.send(token{t->count + 1, std::move(r)});
    tx = std::move(s);
  }
  // Parameters live as long as the frame (until the join handle goes), so
  // drop the sender explicitly: the next node then sees nullopt, and so on.
  { auto gone = std::move(tx); }
  wd.finished(i);
}

}  // namespace

namespace {

// For owner_gone_at_shutdown: the sender stays with the receiver, unsent.
struct oneshot_shape {
  struct receiver {
    weft::oneshot_sender<int> tx;
    weft::oneshot_receiver<int> rx;
  };
  static receiver make() {
    auto [tx, rx] = weft::oneshot<int>();
    return {std::move(tx), std::move(rx)};
  }
  static auto wait(receiver& r) { return r.rx.recv(); }
};

}  // namespace

TEST_SUITE("sync/oneshot") {

TEST_CASE("send before the receiver waits, and without a runtime") {
  auto [tx, rx] = weft::oneshot<std::string>();
  CHECK(rx.try_recv().empty());
  CHECK_FALSE(tx.is_closed());
  CHECK(tx.send("hi").sent());
  CHECK_FALSE(tx.valid());
  auto r = rx.try_recv();
  REQUIRE(r);
  CHECK(*r == "hi");
  CHECK_THROWS_AS(rx.try_recv(), weft::runtime_misuse);  // taken once
}

TEST_CASE("the receiver waits, the sender sends from another task") {
  int v = run(2, []() -> weft::task<int> {
    auto [tx, rx] = weft::oneshot<std::unique_ptr<int>>();
    auto h = weft::spawn([](weft::oneshot_sender<std::unique_ptr<int>> s) -> weft::task<void> {
      co_await weft::sleep_for(2ms);
      s.send(std::make_unique<int>(41));
    }(std::move(tx)));
    auto got = co_await rx;
    co_await h;
    co_return got && *got ? **got + 1 : -1;
  }());
  CHECK(v == 42);
}

TEST_CASE("a sender destroyed unsent gives the receiver nullopt, waiting or not") {
  run(2, []() -> weft::task<void> {
    {
      auto [tx, rx] = weft::oneshot<int>();
      { auto gone = std::move(tx); }
      CHECK(rx.try_recv().closed());
      CHECK_FALSE(co_await rx.recv());
    }
    {
      auto [tx, rx] = weft::oneshot<int>();
      auto h = weft::spawn([](weft::oneshot_sender<int> s) -> weft::task<void> {
        co_await weft::sleep_for(2ms);
        auto gone = std::move(s);  // destroyed unsent (the parameter would live on in the frame)
      }(std::move(tx)));
      CHECK_FALSE(co_await rx);
      co_await h;
    }
  }());
}

TEST_CASE("a receiver that is gone makes send hand the value back") {
  auto [tx, rx] = weft::oneshot<std::string>();
  { auto gone = std::move(rx); }
  CHECK(tx.is_closed());
  auto r = tx.send("back");
  CHECK(r.closed());
  CHECK(r.value() == "back");
  CHECK_THROWS_AS(tx.send("again"), weft::runtime_misuse);
}

TEST_CASE("an aborted wait throws cancelled; the value still arrives for a later await") {
  run(2, []() -> weft::task<void> {
    auto [tx, rx] = weft::oneshot<int>();
    auto waiter = weft::spawn([](weft::oneshot_receiver<int>& r) -> weft::task<void> { co_await r; }(rx));
    bool parked = co_await eventually([&] { return is_suspended(waiter); });
    CHECK(parked);
    waiter.abort();
    CHECK(co_await joined_cancelled(waiter));
    CHECK(tx.send(9).sent());
    auto v = co_await rx;
    REQUIRE(v);
    CHECK(*v == 9);
  }());
}

TEST_CASE("sends and receives race across workers") {
  const int n = int(scaled(100'000, 10'000));
  int ok = run(3, [](int n) -> weft::task<int> {
    std::vector<weft::oneshot_sender<int>> senders;
    std::vector<weft::oneshot_receiver<int>> receivers;
    for (int i = 0; i < n; ++i) {
      auto [s, r] = weft::oneshot<int>();
      senders.push_back(std::move(s));
      receivers.push_back(std::move(r));
    }
    auto producer = weft::spawn([](std::vector<weft::oneshot_sender<int>>& ss) -> weft::task<void> {
      for (std::size_t i = 0; i < ss.size(); ++i) {
        if (i % 3 == 2) {
          auto gone = std::move(ss[i]);  // every third is dropped unsent
        } else {
          ss[i].send(int(i));
        }
        if (i % 64 == 0) co_await weft::yield_now();
      }
    }(senders));
    int good = 0;
    for (int i = 0; i < n; ++i) {
      auto v = co_await receivers[std::size_t(i)];
      good += (i % 3 == 2) ? !v : (v && *v == i);
    }
    co_await producer;
    co_return good;
  }(n));
  CHECK(ok == n);
}

TEST_CASE("ping-pong rings over oneshots, with a watchdog") {
  const std::uint64_t round_trips = scaled(1'000'000, 10'000);
  for (std::size_t k : {std::size_t(2), std::size_t(16)}) {
    CAPTURE(k);
    run(2, [](std::size_t k, std::uint64_t hops) -> weft::task<void> {
      std::vector<weft::oneshot_sender<token>> s;
      std::vector<weft::oneshot_receiver<token>> r;
      for (std::size_t i = 0; i < k; ++i) {  // link i feeds node i
        auto [a, b] = weft::oneshot<token>();
        s.push_back(std::move(a));
        r.push_back(std::move(b));
      }
      watchdog wd(k);
      std::atomic<std::uint64_t> fin{0};
      std::vector<weft::join_handle<void>> hs;
      for (std::size_t i = 0; i < k; ++i)
        hs.push_back(weft::spawn(ring_node(i, std::move(r[i]), std::move(s[(i + 1) % k]), i == k - 1, hops,
                                           wd, fin)));
      wd.start([&hs] {
        for (auto& h : hs) h.abort();
      });
      for (auto& h : hs) {
        try {
          co_await h;
        } catch (const weft::cancelled&) {
        }
      }
      wd.stop();
      CHECK_FALSE(wd.tripped());
      CHECK(fin.load() == hops);
    }(k, 2 * round_trips));
  }
}

TEST_CASE("a runtime destroyed while a task awaits a receiver another task owns") {
  CHECK(owner_gone_at_shutdown<oneshot_shape>().run() == 2);
}

}  // TEST_SUITE
