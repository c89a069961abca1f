// weft::channel<T>: the non-waiting API, close semantics, cancellation of
// waiting senders and receivers, cooperative budget, exactly-once delivery
// across threads (with closes mid-stream), mass release, and a ping-pong ring.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/channel.hpp>
#include <tests/sync/sync_test_util.hpp>

using namespace sync_test;

namespace {

using u64_channel = weft::channel<std::uint64_t>;

std::unique_ptr<u64_channel> make_channel(std::size_t capacity) {
  if (capacity == 0) return std::make_unique<u64_channel>(weft::unbounded);
  return std::make_unique<u64_channel>(capacity);
}

// ---- exactly-once delivery ------------------------------------------------

constexpr std::uint64_t encode(std::uint64_t producer, std::uint64_t seq) { return (producer << 40) | seq; }

struct round_stats {
  std::uint64_t delivered = 0;
  std::uint64_t errors = 0;   // duplicates, order breaks, unsent messages received, bad hand-backs
  std::uint64_t missing = 0;  // messages whose send returned but nobody received
  bool closed_mid_stream = false;
};

struct round_state {
  std::size_t producers, consumers;
  std::unique_ptr<u64_channel> ch;
  std::vector<std::uint64_t> quota, sent;
  std::vector<std::unique_ptr<std::atomic<std::uint8_t>[]>> marks;
  std::atomic<std::size_t> producers_left;
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> errors{0};
  std::int64_t close_at;
};

weft::task<void> stress_producer(round_state& s, std::size_t p) {
  for (std::uint64_t seq = 0; seq < s.quota[p]; ++seq) {
    const std::uint64_t msg = encode(p, seq);
    bool closed = false;
    try {
      co_await s.ch->send(msg);
    } catch (const weft::channel_closed<std::uint64_t>& e) {
      // The value comes back; a retry with try_send fails the same way.
      if (e.value() != msg) s.errors.fetch_add(1);
      closed = true;
    }
    if (closed) {
      auto again = s.ch->try_send(msg);
      if (!again.closed() || again.value() != msg) s.errors.fetch_add(1);
      s.sent[p] = seq;
      if (s.producers_left.fetch_sub(1) == 1) s.ch->close();
      co_return;
    }
  }
  s.sent[p] = s.quota[p];
  if (s.producers_left.fetch_sub(1) == 1) s.ch->close();
}

weft::task<void> stress_consumer(round_state& s) {
  std::vector<std::int64_t> last(s.producers, -1);
  while (auto v = co_await s.ch->recv()) {
    std::uint64_t p = *v >> 40, seq = *v & ((std::uint64_t{1} << 40) - 1);
    if (p >= s.producers || seq >= s.quota[p]) {
      s.errors.fetch_add(1);
      continue;
    }
    if (std::int64_t(seq) <= last[p]) s.errors.fetch_add(1);  // per-producer order
    last[p] = std::int64_t(seq);
    if (s.marks[p][seq].exchange(1, std::memory_order_relaxed) != 0) s.errors.fetch_add(1);
    if (std::int64_t(s.received.fetch_add(1, std::memory_order_relaxed)) == s.close_at) s.ch->close();
  }
}

weft::task<round_stats> stress_round(std::size_t producers, std::size_t consumers, std::size_t capacity,
                                     std::uint64_t messages, std::int64_t close_at) {
  round_state s{producers, consumers, make_channel(capacity), {}, {}, {}, {producers}, {}, {}, close_at};
  s.quota.assign(producers, messages / producers);
  s.quota[0] += messages % producers;
  s.sent.assign(producers, 0);
  for (std::size_t p = 0; p < producers; ++p)
    s.marks.push_back(std::make_unique<std::atomic<std::uint8_t>[]>(s.quota[p]));

  std::vector<weft::join_handle<void>> hs;
  for (std::size_t c = 0; c < consumers; ++c) hs.push_back(weft::spawn(stress_consumer(s)));
  for (std::size_t p = 0; p < producers; ++p) hs.push_back(weft::spawn(stress_producer(s, p)));
  for (auto& h : hs) co_await h;

  round_stats r;
  r.errors = s.errors.load();
  std::uint64_t sent_total = 0;
  for (std::size_t p = 0; p < producers; ++p) {
    sent_total += s.sent[p];
    for (std::uint64_t seq = 0; seq < s.quota[p]; ++seq) {
      bool got = s.marks[p][seq].load(std::memory_order_relaxed) != 0;
      if (seq < s.sent[p] && !got) ++r.missing;
      if (seq >= s.sent[p] && got) ++r.errors;  // received although its send failed
    }
  }
  r.delivered = s.received.load();
  if (r.delivered != sent_total) ++r.errors;
  r.closed_mid_stream = sent_total < messages;
  // After the close, nothing more gets in.
  if (s.ch->try_send(1).sent()) ++r.errors;
  co_return r;
}

// Rounds of `messages / 4` until `total` messages were delivered, cycling
// through capacities (1, 16, 1024, unbounded); every other round is closed
// by a consumer at a random point mid-stream.
void exactly_once(std::size_t producers, std::size_t consumers, std::size_t n_workers) {
  const std::uint64_t total = scaled(10'000'000, 100'000);
  // 0: unbounded. 3: a ring whose capacity is not a power of two. 100,000:
  // bounded, but too large for the lock-free ring (the locked buffer).
  const std::size_t capacities[] = {1, 3, 16, 1024, 100'000, 0};
  constexpr std::size_t n_capacities = std::size(capacities);
  rng rand(producers * 131 + consumers);
  weft::runtime rt{workers(n_workers)};
  std::uint64_t delivered = 0;
  int closed_rounds = 0;
  for (int round = 0; delivered < total; ++round) {
    const std::uint64_t messages = std::max<std::uint64_t>(total / n_capacities, producers);
    const std::int64_t close_at = round % 2 ? std::int64_t(rand.below(messages)) : -1;
    const std::size_t capacity = capacities[std::size_t(round) % n_capacities];
    CAPTURE(round);
    CAPTURE(capacity);
    CAPTURE(close_at);
    round_stats r = rt.block_on(stress_round(producers, consumers, capacity, messages, close_at));
    CHECK(r.errors == 0);
    CHECK(r.missing == 0);
    if (close_at < 0) CHECK(r.delivered == messages);
    closed_rounds += r.closed_mid_stream;
    delivered += r.delivered;
  }
  CHECK(closed_rounds > 0);
}

// ---- cancellation under load -----------------------------------------------

struct abort_state {
  u64_channel ch{2};
  std::uint64_t n;
  std::atomic<std::uint64_t> next_id{0};
  std::atomic<std::uint64_t> allowed{0};  // ids released so far: the aborter paces the stream
  std::unique_ptr<std::atomic<std::uint8_t>[]> sent, received;
  std::atomic<std::uint64_t> dups{0};
  explicit abort_state(std::uint64_t count)
      : n(count),
        sent(std::make_unique<std::atomic<std::uint8_t>[]>(count)),
        received(std::make_unique<std::atomic<std::uint8_t>[]>(count)) {}
};

weft::task<void> abortable_producer(abort_state& s) {
  for (;;) {
    while (s.next_id.load() >= s.allowed.load()) co_await weft::yield_now();
    std::uint64_t id = s.next_id.fetch_add(1);
    if (id >= s.n) co_return;
    co_await s.ch.send(id);  // aborted while waiting: id is simply not sent
    s.sent[id].store(1, std::memory_order_relaxed);
  }
}

weft::task<void> abortable_consumer(abort_state& s) {
  while (auto v = co_await s.ch.recv())
    if (s.received[*v].exchange(1, std::memory_order_relaxed)) s.dups.fetch_add(1);
}

weft::task<void> abort_mid_stream() {
  abort_state s(scaled(200'000, 20'000));
  rng rand(7);
  std::vector<weft::join_handle<void>> producers, consumers;
  for (int i = 0; i < 6; ++i) producers.push_back(weft::spawn(abortable_producer(s)));
  for (int i = 0; i < 6; ++i) consumers.push_back(weft::spawn(abortable_consumer(s)));
  std::size_t aborts = 0;
  while (s.next_id.load() < s.n) {
    // Release the stream in about 400 steps, so that it lasts long enough for
    // many aborts whatever the speed of the build.
    s.allowed.fetch_add(s.n / 400 + 1);
    for (int i = 0; i < 4; ++i) co_await weft::yield_now();
    // Abort a random producer and a random consumer; replace them.
    auto& p = producers[rand.below(producers.size())];
    auto& c = consumers[rand.below(consumers.size())];
    if (!p.is_finished()) {
      p.abort();
      producers.push_back(weft::spawn(abortable_producer(s)));
      ++aborts;
    }
    if (!c.is_finished()) {
      c.abort();
      consumers.push_back(weft::spawn(abortable_consumer(s)));
      ++aborts;
    }
  }
  s.allowed = ~std::uint64_t{0};
  for (auto& h : producers) {
    try {
      co_await h;
    } catch (const weft::cancelled&) {
    }
  }
  s.ch.close();
  for (auto& h : consumers) {
    try {
      co_await h;
    } catch (const weft::cancelled&) {
    }
  }
  CHECK(aborts > 100);
  CHECK(s.dups.load() == 0);
  std::uint64_t mismatched = 0, delivered = 0;
  for (std::uint64_t i = 0; i < s.n; ++i) {
    delivered += s.received[i].load();
    if (s.sent[i].load() != s.received[i].load()) ++mismatched;
  }
  CHECK(mismatched == 0);
  CHECK(delivered > s.n / 2);
}

// ---- small tasks ---------------------------------------------------------

weft::task<void> send_n(weft::channel<int>& ch, int n) {
  for (int i = 0; i < n; ++i) co_await ch.send(i);
  ch.close();
}

weft::task<std::vector<int>> recv_all(weft::channel<int>& ch) {
  std::vector<int> got;
  while (auto v = co_await ch.recv()) got.push_back(*v);
  co_return got;
}

weft::task<std::optional<int>> recv_one(weft::channel<int>& ch) { co_return co_await ch.recv(); }

weft::task<int> send_expect_closed(weft::channel<int>& ch, int v) {
  try {
    co_await ch.send(v);
  } catch (const weft::channel_closed<int>& e) {
    co_return e.value();
  }
  co_return -1;
}

}  // namespace

TEST_SUITE("sync/channel") {

TEST_CASE("try_send and try_recv work without a runtime") {
  weft::channel<int> ch{2};
  CHECK(ch.capacity() == 2);
  CHECK(ch.is_bounded());
  CHECK(ch.try_recv().empty());
  CHECK(ch.try_send(1).sent());
  CHECK(ch.try_send(2));
  auto full = ch.try_send(3);
  CHECK(full.full());
  CHECK(full.value() == 3);
  CHECK(ch.size() == 2);
  auto a = ch.try_recv();
  REQUIRE(a.has_value());
  CHECK(*a == 1);
  ch.close();
  CHECK(ch.is_closed());
  auto c = ch.try_send(4);
  CHECK(c.closed());
  CHECK(c.value() == 4);
  auto b = ch.try_recv();
  REQUIRE(b);
  CHECK(*b == 2);
  CHECK(ch.try_recv().closed());
}

TEST_CASE("a capacity of zero is refused") {
  CHECK_THROWS_AS(weft::channel<int>{0}, weft::runtime_misuse);
}

TEST_CASE("messages arrive in order, then nullopt after close") {
  auto got = run(2, []() -> weft::task<std::vector<int>> {
    weft::channel<int> ch{4};
    auto producer = weft::spawn(send_n(ch, 5000));
    auto v = co_await recv_all(ch);
    co_await producer;
    co_return v;
  }());
  REQUIRE(got.size() == 5000);
  bool in_order = true;
  for (int i = 0; i < 5000; ++i) in_order &= got[std::size_t(i)] == i;
  CHECK(in_order);
}

TEST_CASE("send on a closed channel throws channel_closed holding the value") {
  run(1, []() -> weft::task<void> {
    weft::channel<std::unique_ptr<std::string>> ch{1};
    co_await ch.send(std::make_unique<std::string>("kept"));
    ch.close();
    bool thrown = false;
    try {
      co_await ch.send(std::make_unique<std::string>("back"));
    } catch (const weft::channel_closed<std::unique_ptr<std::string>>& e) {
      thrown = true;
      REQUIRE(e.value());
      CHECK(*e.value() == "back");
    }
    CHECK(thrown);
    // Also catchable without naming T.
    CHECK_THROWS_AS(co_await ch.send(nullptr), weft::closed_error);
    // What was sent before the close is still delivered.
    auto first = co_await ch.recv();
    REQUIRE(first);
    CHECK(**first == "kept");
    CHECK_FALSE(co_await ch.recv());
  }());
}

TEST_CASE("closing wakes every waiting sender (value handed back) and receiver") {
  run(2, []() -> weft::task<void> {
    weft::channel<int> full{1};
    CHECK(full.try_send(100).sent());
    std::vector<weft::join_handle<int>> senders;
    for (int i = 0; i < 8; ++i) senders.push_back(weft::spawn(send_expect_closed(full, i)));
    bool queued = co_await until_waiters(full, 8);
    CHECK(queued);
    full.close();
    for (int i = 0; i < 8; ++i) CHECK(co_await senders[std::size_t(i)] == i);
    CHECK(*full.try_recv() == 100);

    weft::channel<int> empty{4};
    std::vector<weft::join_handle<std::optional<int>>> receivers;
    for (int i = 0; i < 8; ++i) receivers.push_back(weft::spawn(recv_one(empty)));
    queued = co_await until_waiters(empty, 8);
    CHECK(queued);
    empty.close();
    for (auto& h : receivers) CHECK_FALSE(co_await h);
  }());
}

TEST_CASE("an unbounded channel never makes a sender wait") {
  run(1, []() -> weft::task<void> {
    weft::unbounded_channel<int> ch;
    CHECK_FALSE(ch.is_bounded());
    const int n = 100'000;
    for (int i = 0; i < n; ++i) co_await ch.send(i);
    CHECK(ch.size() == std::size_t(n));
    bool ok = true;
    for (int i = 0; i < n; ++i) ok &= *co_await ch.recv() == i;
    CHECK(ok);
    CHECK(ch.try_recv().empty());
  }());
}

TEST_CASE("a receiver aborted in recv leaves the queue and takes nothing") {
  run(2, []() -> weft::task<void> {
    weft::channel<int> ch{1};
    auto r = weft::spawn(recv_one(ch));
    bool queued = co_await until_waiters(ch, 1);
    CHECK(queued);
    r.abort();
    CHECK(co_await joined_cancelled(r));
    CHECK(weft::detail::sync_probe::waiters(ch) == 0);
    CHECK(ch.try_send(5).sent());  // not handed to the aborted receiver
    auto v = co_await ch.recv();
    REQUIRE(v);
    CHECK(*v == 5);
  }());
}

TEST_CASE("a sender aborted in send leaves the queue; its message was not sent") {
  run(2, []() -> weft::task<void> {
    weft::channel<int> ch{1};
    co_await ch.send(1);
    auto s = weft::spawn([](weft::channel<int>& c) -> weft::task<void> { co_await c.send(2); }(ch));
    bool queued = co_await until_waiters(ch, 1);
    CHECK(queued);
    s.abort();
    CHECK(co_await joined_cancelled(s));
    CHECK(weft::detail::sync_probe::waiters(ch) == 0);
    CHECK(ch.size() == 1);
    CHECK(*co_await ch.recv() == 1);
    CHECK(ch.try_recv().empty());
    co_await ch.send(3);  // still works
    CHECK(*co_await ch.recv() == 3);
  }());
}

TEST_CASE("an aborted task's next send or recv throws cancelled without touching the channel") {
  run(1, []() -> weft::task<void> {
    weft::channel<int> ch{4};
    co_await ch.send(1);
    auto h = weft::spawn([](weft::channel<int>& c) -> weft::task<void> {
      co_await weft::sleep_for(50ms);
      co_await c.recv();
    }(ch));
    h.abort();
    CHECK(co_await joined_cancelled(h));
    CHECK(ch.size() == 1);
  }());
}

TEST_CASE("recv and send under weft::timeout give up cleanly and lose nothing") {
  run(2, []() -> weft::task<void> {
    weft::channel<int> ch{1};
    CHECK_THROWS_AS(co_await weft::timeout(5ms, ch.recv()), weft::timed_out);
    CHECK(weft::detail::sync_probe::waiters(ch) == 0);
    co_await ch.send(1);
    CHECK_THROWS_AS(co_await weft::timeout(5ms, ch.send(2)), weft::timed_out);
    CHECK(weft::detail::sync_probe::waiters(ch) == 0);
    CHECK(ch.size() == 1);
    auto v = co_await weft::timeout(1s, ch.recv());
    REQUIRE(v);
    CHECK(*v == 1);
    CHECK(ch.try_recv().empty());
  }());
}

// A sender that finds the channel full while the receiver last ran on its
// own worker yields once (to let that receiver run) before it spins or
// queues; here the sender is that receiver, so the retry must queue.
TEST_CASE("a sender that yields to its own worker's receiver still waits, times out and aborts cleanly") {
  run(2, []() -> weft::task<void> {
    weft::channel<int> ch{1};
    co_await ch.send(1);
    CHECK(*co_await ch.recv() == 1);  // the receiver ran here
    co_await ch.send(2);              // full again
    CHECK_THROWS_AS(co_await weft::timeout(5ms, ch.send(3)), weft::timed_out);
    CHECK(weft::detail::sync_probe::waiters(ch) == 0);
    CHECK(ch.size() == 1);

    // A sender task doing the same, aborted while it waits, sent nothing.
    auto s = weft::spawn([](weft::channel<int>& c) -> weft::task<void> {
      CHECK(*co_await c.recv() == 2);
      co_await c.send(4);  // full again
      co_await c.send(5);  // waits: yields, then queues
    }(ch));
    bool queued = co_await until_waiters(ch, 1);
    CHECK(queued);
    s.abort();
    CHECK(co_await joined_cancelled(s));
    CHECK(weft::detail::sync_probe::waiters(ch) == 0);
    CHECK(*co_await ch.recv() == 4);
    CHECK(ch.try_recv().empty());

    // And one that is not aborted completes once a receiver frees a slot.
    auto t = weft::spawn([](weft::channel<int>& c) -> weft::task<void> {
      co_await c.send(6);
      CHECK(*co_await c.recv() == 6);
      co_await c.send(7);
      co_await c.send(8);
    }(ch));
    queued = co_await until_waiters(ch, 1);
    CHECK(queued);
    CHECK(*co_await ch.recv() == 7);
    co_await t;
    CHECK(*co_await ch.recv() == 8);
  }());
}

namespace {
// A ticker that counts its turns on a one-worker runtime while the root
// sends and receives on an always-ready channel; the turns are the root's
// yields. Returns the turns during the sends and during the receives.
// With `for_time` nonzero the root goes on for that long each way instead
// of `n` operations.
std::pair<int, int> ticks_around_ready_ops(weft::runtime_config cfg, int n, std::chrono::milliseconds for_time) {
  weft::runtime rt{cfg};
  return rt.block_on([](int n, std::chrono::milliseconds for_time) -> weft::task<std::pair<int, int>> {
    weft::unbounded_channel<int> ch;
    std::atomic<bool> stop{false};
    std::atomic<int> ticks{0};
    auto ticker = weft::spawn([](std::atomic<bool>& s, std::atomic<int>& t) -> weft::task<void> {
      while (!s.load()) {
        ++t;
        co_await weft::yield_now();
      }
    }(stop, ticks));
    int sent = 0;
    auto until = steady::now() + for_time;
    while (for_time.count() ? steady::now() < until : sent < n) {  // never waits: spends budget
      co_await ch.send(sent);
      ++sent;
    }
    int after_sends = ticks.load();
    for (int i = 0; i < sent; ++i) co_await ch.recv();  // never waits: spends budget
    int after_recvs = ticks.load();
    stop = true;
    co_await ticker;
    co_return std::pair{after_sends, after_recvs - after_sends};
  }(n, for_time));
}
}  // namespace

TEST_CASE("a consumer of an always-ready channel still yields (cooperative budget)") {
  SUBCASE("every `budget` operations, with no sync slice") {
    weft::runtime_config cfg = workers(1);
    cfg.sync_slice = 0us;
    const int n = 20'000;
    auto [sends, recvs] = ticks_around_ready_ops(cfg, n, 0ms);
    // One worker: the ticker runs only when we yield. Budget 128 per poll.
    CHECK(sends >= n / 128 / 2);
    CHECK(recvs >= n / 128 / 2);
  }
  SUBCASE("within the sync slice, past the budget") {
    // 30 ms of ready operations with a 1 ms slice: about 30 yields each way
    // (more when this thread loses its core: the slice is wall time).
    weft::runtime_config cfg = workers(1);
    cfg.sync_slice = 1ms;
    auto [sends, recvs] = ticks_around_ready_ops(cfg, 0, 30ms);
    CHECK(sends >= 10);
    CHECK(recvs >= 1);  // the receives are faster than the sends: fewer slices
  }
  SUBCASE("not before the slice is over") {
    // 20,000 ready sends with the budget of 128 would yield 156 times; with
    // a slice far longer than they take, never.
    weft::runtime_config cfg = workers(1);
    cfg.sync_slice = 10min;
    auto [sends, recvs] = ticks_around_ready_ops(cfg, 20'000, 0ms);
    CHECK(sends == 0);
    CHECK(recvs == 0);
  }
}

// A woken task runs next from the LIFO slot, but only max_lifo_polls times
// in a row: a pair passing a message back and forth for ever must still let
// the rest of its worker's queue run, every so many round trips.
TEST_CASE("a pair passing messages through the LIFO slot cannot keep a worker from its queue") {
  const std::uint64_t max_lifo = weft::runtime_config{}.max_lifo_polls;
  run(1, [](std::uint64_t max_lifo) -> weft::task<void> {
    weft::channel<int> ping{1}, pong{1};
    std::atomic<std::uint64_t> trips{0};
    auto pinger = weft::spawn([](weft::channel<int>& out, weft::channel<int>& in,
                                 std::atomic<std::uint64_t>& n) -> weft::task<void> {
      try {
        for (;;) {
          co_await out.send(1);
          if (!co_await in.recv()) co_return;
          n.fetch_add(1, std::memory_order_relaxed);
        }
      } catch (const weft::channel_closed<int>&) {
      }
    }(ping, pong, trips));
    auto ponger = weft::spawn([](weft::channel<int>& in, weft::channel<int>& out) -> weft::task<void> {
      while (auto v = co_await in.recv()) {
        try {
          co_await out.send(*v);
        } catch (const weft::channel_closed<int>&) {
          co_return;
        }
      }
    }(ping, pong));
    // We run only when the pair lets the queue go: count its round trips
    // between our turns.
    std::uint64_t most = 0, before = trips.load();
    for (int turn = 0; turn < 200; ++turn) {
      co_await weft::yield_now();
      std::uint64_t now = trips.load();
      most = std::max(most, now - before);
      before = now;
    }
    CHECK(trips.load() > 0);
    // A turn of the pair is one poll from the queue and at most max_lifo
    // more from the slot, each poll one half of a round trip.
    CHECK(most <= max_lifo);
    pong.close();
    ping.close();
    co_await pinger;
    co_await ponger;
  }(max_lifo));
}

TEST_CASE("exactly once: 1 producer x 1 consumer") { exactly_once(1, 1, 2); }
TEST_CASE("exactly once: 8 producers x 8 consumers") { exactly_once(8, 8, 4); }
TEST_CASE("exactly once: 64 producers x 1 consumer") { exactly_once(64, 1, 2); }
TEST_CASE("exactly once: 1 producer x 64 consumers") { exactly_once(1, 64, 3); }

TEST_CASE("senders and receivers aborted while the stream runs lose nothing") {
  weft::runtime rt{workers(3)};
  rt.block_on(abort_mid_stream());
}

TEST_CASE("100,000 waiting receivers are released by close without stack growth") {
  run(2, []() -> weft::task<void> {
    const std::size_t n = 100'000;
    weft::channel<int> ch{1};
    stack_spread spread;
    std::atomic<std::size_t> nullopts{0};
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      hs.push_back(weft::spawn([](weft::channel<int>& c, stack_spread& sp,
                                  std::atomic<std::size_t>& k) -> weft::task<void> {
        auto v = co_await c.recv();
        sp.record();
        if (!v) ++k;
      }(ch, spread, nullopts)));
    bool queued = co_await until_waiters(ch, n, 60s);
    CHECK(queued);
    spread.record();
    ch.close();
    for (auto& h : hs) co_await h;
    CHECK(nullopts.load() == n);
    CHECK(spread.max_spread() < 64 * 1024);
  }());
}

TEST_CASE("ping-pong rings over channels, with a watchdog") {
  const std::uint64_t round_trips = scaled(1'000'000, 10'000);
  for (std::size_t ring : {std::size_t(2), std::size_t(16)}) {
    CAPTURE(ring);
    const std::uint64_t hops = 2 * round_trips;
    run(2, [](std::size_t k, std::uint64_t hops) -> weft::task<void> {
      std::vector<std::unique_ptr<u64_channel>> chans;
      for (std::size_t i = 0; i < k; ++i) chans.push_back(std::make_unique<u64_channel>(1));
      watchdog wd(k);
      std::atomic<std::uint64_t> final_count{0};
      std::vector<weft::join_handle<void>> hs;
      for (std::size_t i = 0; i < k; ++i)
        hs.push_back(weft::spawn([](std::size_t i, std::vector<std::unique_ptr<u64_channel>>& cs,
                                    watchdog& wd, std::uint64_t hops,
                                    std::atomic<std::uint64_t>& fin) -> weft::task<void> {
          auto& in = *cs[i];
          auto& out = *cs[(i + 1) % cs.size()];
          while (auto v = co_await in.recv()) {
            wd.beat(i);
            if (*v == hops) {
              fin = *v;
              for (auto& c : cs) c->close();
              break;
            }
            co_await out.send(*v + 1);
          }
          wd.finished(i);
        }(i, chans, wd, hops, final_count)));
      wd.start([&hs] {
        for (auto& h : hs) h.abort();
      });
      co_await chans[0]->send(0);
      for (auto& h : hs) {
        try {
          co_await h;
        } catch (const weft::cancelled&) {
        }
      }
      wd.stop();
      CHECK_FALSE(wd.tripped());
      CHECK(final_count.load() == hops);
    }(ring, hops));
  }
}

TEST_CASE("a runtime destroyed with senders and receivers pending leaves the channel usable") {
  weft::channel<int> full{1}, empty{1};  // outlive the runtime, like globals
  CHECK(full.try_send(1).sent());
  {
    weft::runtime rt{workers(2)};
    rt.block_on([](weft::channel<int>& full, weft::channel<int>& empty) -> weft::task<void> {
      for (int i = 0; i < 4; ++i) {
        weft::spawn([](weft::channel<int>& c) -> weft::task<void> { co_await c.send(2); }(full));
        weft::spawn([](weft::channel<int>& c) -> weft::task<void> { co_await c.recv(); }(empty));
      }
      bool queued = co_await until_waiters(full, 4);
      CHECK(queued);
      queued = co_await until_waiters(empty, 4);
      CHECK(queued);
    }(full, empty));
  }
  CHECK(weft::detail::sync_probe::waiters(full) == 0);
  CHECK(weft::detail::sync_probe::waiters(empty) == 0);
  CHECK(*full.try_recv() == 1);
  CHECK(full.try_recv().empty());
  CHECK(empty.try_send(3).sent());
  CHECK(*empty.try_recv() == 3);
}

}  // TEST_SUITE
