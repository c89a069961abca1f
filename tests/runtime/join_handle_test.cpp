// weft::join_handle<T>: joining values and exceptions, detaching, misuse, and
// abort() of tasks in each state they can be in.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/oneshot.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::alive_counter;
using weft_test::ticket;
using weft_test::workers;

namespace {

using clock_type = std::chrono::steady_clock;

// True while the task sits suspended in an await: neither queued, running
// nor complete. An abort now has to go through the pending operation's hook.
template <class T>
bool is_suspended(const weft::join_handle<T>& h) {
  namespace st = weft::detail::state;
  std::uint32_t s = h.header()->state.load(std::memory_order_acquire);
  return (s & (st::notified | st::running | st::complete)) == 0;
}

// Waits (polling with short sleeps) until `pred` holds; false after `limit`.
template <class Pred>
weft::task<bool> eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  auto deadline = clock_type::now() + limit;
  while (!pred()) {
    if (clock_type::now() > deadline) co_return false;
    co_await weft::sleep_for(200us);
  }
  co_return true;
}

weft::task<int> value_after(int v, std::chrono::milliseconds d) {
  co_await weft::sleep_for(d);
  co_return v;
}

weft::task<int> fail_after(std::chrono::milliseconds d) {
  co_await weft::sleep_for(d);
  throw std::runtime_error("child failed");
}

weft::task<void> void_after(std::chrono::milliseconds d, std::atomic<int>& ran) {
  co_await weft::sleep_for(d);
  ++ran;
}

weft::task<std::unique_ptr<std::string>> boxed(std::string s) {
  co_await weft::yield_now();
  co_return std::make_unique<std::string>(std::move(s));
}

// Waits for `gate` to open, polling; `done` tells the world it ended.
weft::task<int> gated(std::atomic<bool>& gate, std::atomic<bool>& done, int v) {
  while (!gate.load()) co_await weft::sleep_for(500us);
  done = true;
  co_return v;
}

struct join_results {
  int named = 0, temporary = 0, ready = 0;
  std::string named_error, temporary_error;
  std::string boxed;
  int void_ran = 0;
};

weft::task<join_results> join_everything() {
  join_results r;
  weft::join_handle<int> h = weft::spawn(value_after(1, 5ms));
  r.named = co_await h;
  r.temporary = co_await weft::spawn(value_after(2, 5ms));

  // Joining a task that has already finished does not suspend.
  weft::join_handle<int> done = weft::spawn(value_after(3, 0ms));
  bool finished = co_await eventually([&] { return done.is_finished(); });
  CHECK(finished);
  r.ready = co_await done;

  weft::join_handle<int> failing = weft::spawn(fail_after(2ms));
  try {
    (void)co_await failing;
  } catch (const std::runtime_error& e) {
    r.named_error = e.what();
  }
  try {
    (void)co_await weft::spawn(fail_after(0ms));
  } catch (const std::runtime_error& e) {
    r.temporary_error = e.what();
  }
  std::unique_ptr<std::string> p = co_await weft::spawn(boxed("move-only"));
  r.boxed = *p;
  std::atomic<int> ran{0};
  co_await weft::spawn(void_after(1ms, ran));
  r.void_ran = ran.load();
  co_return r;
}

struct finish_observations {
  bool before = true, after = false, still_after_join = false;
  int value = 0;
};

weft::task<finish_observations> watch_finish() {
  finish_observations o;
  std::atomic<bool> gate{false}, done{false};
  weft::join_handle<int> h = weft::spawn(gated(gate, done, 11));
  co_await weft::sleep_for(2ms);
  o.before = h.is_finished();
  gate = true;
  o.after = co_await eventually([&] { return h.is_finished(); });
  o.value = co_await h;
  o.still_after_join = h.is_finished();
  co_return o;
}

weft::task<void> detached_body(std::atomic<int>& alive, std::atomic<bool>& finished) {
  alive_counter guard(alive);
  co_await weft::sleep_for(20ms);
  co_await weft::yield_now();
  finished = true;
}

weft::task<bool> detach_and_wait(std::atomic<int>& alive, std::atomic<bool>& finished,
                                 bool explicit_detach) {
  {
    weft::join_handle<void> h = weft::spawn(detached_body(alive, finished));
    if (explicit_detach) {
      h.detach();
      CHECK_FALSE(h.valid());
    }
  }  // destroying the handle detaches the task
  CHECK_FALSE(finished.load());
  co_return co_await eventually([&] { return finished.load() && alive.load() == 0; });
}

weft::task<int> await_twice() {
  weft::join_handle<int> h = weft::spawn(value_after(5, 1ms));
  int first = co_await h;
  try {
    (void)co_await h;
  } catch (const weft::runtime_misuse&) {
    co_return first;
  }
  co_return -1;
}

weft::task<void> await_empty_handle() {
  weft::join_handle<int> h = weft::spawn(value_after(1, 0ms));
  weft::join_handle<int> other = std::move(h);
  CHECK_FALSE(h.valid());  // NOLINT(bugprone-use-after-move): moved-from handles are empty
  CHECK(other.valid());
  int v = co_await other;
  CHECK(v == 1);
  (void)co_await h;
}

// --- abort ------------------------------------------------------------------

struct sleeper_flags {
  std::atomic<int> alive{0};
  std::atomic<bool> started{false};
  std::atomic<bool> sleep_threw{false};
  std::atomic<bool> woke_normally{false};
};

weft::task<void> long_sleep(sleeper_flags& f) {
  alive_counter guard(f.alive);
  f.started = true;
  try {
    co_await weft::sleep_for(1h);
  } catch (const weft::cancelled&) {
    f.sleep_threw = true;
    throw;
  }
  f.woke_normally = true;
}

struct abort_outcome {
  bool suspended = false;
  bool join_cancelled = false;
  std::chrono::milliseconds took{};
};

weft::task<abort_outcome> abort_sleeper(sleeper_flags& f) {
  abort_outcome o;
  weft::join_handle<void> h = weft::spawn(long_sleep(f));
  o.suspended = co_await eventually([&] { return f.started.load() && is_suspended(h); });
  auto t0 = clock_type::now();
  h.abort();
  h.abort();  // twice is harmless
  try {
    co_await h;
  } catch (const weft::cancelled&) {
    o.join_cancelled = true;
  }
  o.took = weft_test::ms_since(t0);
  co_return o;
}

weft::task<void> never_started_body(ticket, std::atomic<bool>& ran) {
  ran = true;
  co_return;
}

struct not_started_outcome {
  bool join_cancelled = false;
  int alive_after = -1;
};

weft::task<not_started_outcome> abort_before_start(std::atomic<int>& alive, std::atomic<bool>& ran) {
  not_started_outcome o;
  // One worker, and we do not suspend between spawn and abort: the child sits
  // in this worker's LIFO slot and cannot have been polled.
  {
    weft::join_handle<void> h = weft::spawn(never_started_body(ticket(alive), ran));
    h.abort();
    try {
      co_await h;
    } catch (const weft::cancelled&) {
      o.join_cancelled = true;
    }
  }  // the frame, and the parameter in it, goes with the last reference
  o.alive_after = alive.load();
  co_return o;
}

weft::task<int> abort_finished() {
  weft::join_handle<int> h = weft::spawn(value_after(9, 0ms));
  bool finished = co_await eventually([&] { return h.is_finished(); });
  CHECK(finished);
  h.abort();
  CHECK(h.is_finished());
  co_return co_await h;
}

struct joiner_flags {
  std::atomic<bool> gate{false};
  std::atomic<bool> child_done{false};
  std::atomic<bool> wait_cancelled{false};
  std::atomic<bool> waiting{false};
};

weft::task<int> waits_for_child(joiner_flags& f) {
  weft::join_handle<int> child = weft::spawn(gated(f.gate, f.child_done, 7));
  f.waiting = true;
  try {
    co_return co_await child;
  } catch (const weft::cancelled&) {
    f.wait_cancelled = true;
    throw;
  }
}

struct joiner_outcome {
  bool suspended = false, join_cancelled = false, child_done_at_abort = true, child_finished = false;
};

weft::task<joiner_outcome> abort_joiner(joiner_flags& f) {
  joiner_outcome o;
  weft::join_handle<int> h = weft::spawn(waits_for_child(f));
  o.suspended = co_await eventually([&] { return f.waiting.load() && is_suspended(h); });
  h.abort();
  try {
    (void)co_await h;
  } catch (const weft::cancelled&) {
    o.join_cancelled = true;
  }
  o.child_done_at_abort = f.child_done.load();
  // The child was detached when its joiner unwound; it keeps running.
  f.gate = true;
  o.child_finished = co_await eventually([&] { return f.child_done.load(); });
  co_return o;
}

weft::task<void> yield_forever(std::atomic<long>& n) {
  for (;;) {
    co_await weft::yield_now();
    ++n;
  }
}

struct yielder_outcome {
  bool progressed = false, join_cancelled = false;
  long at_join = 0, later = 0;
};

weft::task<yielder_outcome> abort_yielder(std::atomic<long>& n) {
  yielder_outcome o;
  weft::join_handle<void> h = weft::spawn(yield_forever(n));
  o.progressed = co_await eventually([&] { return n.load() > 100; });
  h.abort();
  try {
    co_await h;
  } catch (const weft::cancelled&) {
    o.join_cancelled = true;
  }
  o.at_join = n.load();
  co_await weft::sleep_for(5ms);
  o.later = n.load();
  co_return o;
}

struct survivor_flags {
  std::atomic<bool> started{false}, caught{false}, later_await_threw{false};
};

weft::task<int> survives_abort(survivor_flags& f) {
  f.started = true;
  try {
    co_await weft::sleep_for(1h);
  } catch (const weft::cancelled&) {
    f.caught = true;
  }
  // Still cancelled: every later weft await throws again.
  try {
    co_await weft::yield_now();
  } catch (const weft::cancelled&) {
    f.later_await_threw = true;
  }
  co_return 42;
}

weft::task<int> abort_survivor(survivor_flags& f) {
  weft::join_handle<int> h = weft::spawn(survives_abort(f));
  bool suspended = co_await eventually([&] { return f.started.load() && is_suspended(h); });
  CHECK(suspended);
  h.abort();
  co_return co_await h;
}

weft::task<bool> join_expect_cancelled(weft::join_handle<void>& h) {
  try {
    co_await h;
  } catch (const weft::cancelled&) {
    co_return true;
  }
  co_return false;
}

weft::task<int> join_foreign(weft::join_handle<int>& h) {
  // The handle belongs to another runtime: its completion wakes us from that
  // runtime's worker, which must hand us back to ours.
  int v = co_await h;
  co_return v;
}

weft::task<void> throw_int() {
  co_await weft::yield_now();
  throw 42;
}


// Lines up a child's end on one worker with its joiner's await on another.
struct finish_line {
  std::atomic<bool> started{false}, go{false};
};

// Spins a bounded while (a test may run on one worker, and nothing here may
// hang); true if `flag` came up.
bool spin_until(const std::atomic<bool>& flag) {
  for (int i = 0; i < 1'000'000; ++i)
    if (flag.load(std::memory_order_acquire)) return true;
  return false;
}

// `ticket` stands for what a frame's parameter owns: a socket, say.
weft::task<void> own(ticket, finish_line& line) {
  line.started.store(true, std::memory_order_release);
  spin_until(line.go);
  co_return;
}

// Joins tasks that own a resource and end on another worker just as the
// join is awaited, keeping each handle, and counts the joins after which the
// resource was still alive.
weft::task<int> resources_outliving_their_task(std::atomic<int>& alive, int rounds) {
  int late = 0;
  for (int i = 0; i < rounds; ++i) {
    finish_line line;
    weft::join_handle<void> h = weft::spawn(own(ticket(alive), line));
    spin_until(line.started);  // a peer worker took the child
    line.go.store(true, std::memory_order_release);
    co_await h;
    if (alive.load() != 0) ++late;
  }
  co_return late;
}

// A finished task whose handle is kept, never awaited: is what it owned gone?
weft::task<bool> resource_gone_before_join(std::atomic<int>& alive) {
  finish_line line;
  line.go = true;
  weft::join_handle<void> h = weft::spawn(own(ticket(alive), line));
  while (!h.is_finished()) co_await weft::sleep_for(100us);
  bool gone = alive.load() == 0;
  co_await h;
  co_return gone;
}

}  // namespace

TEST_SUITE("runtime/join_handle") {
  TEST_CASE("join gives values and rethrows exceptions, as a named handle or a temporary") {
    weft::runtime rt{workers(2)};
    join_results r = rt.block_on(join_everything());
    CHECK(r.named == 1);
    CHECK(r.temporary == 2);
    CHECK(r.ready == 3);
    CHECK(r.named_error == "child failed");
    CHECK(r.temporary_error == "child failed");
    CHECK(r.boxed == "move-only");
    CHECK(r.void_ran == 1);
  }

  TEST_CASE("join_handle is move-only") {
    static_assert(!std::is_copy_constructible_v<weft::join_handle<int>>);
    static_assert(std::is_nothrow_move_constructible_v<weft::join_handle<int>>);
    weft::join_handle<int> empty;
    CHECK_FALSE(empty.valid());
    CHECK_FALSE(empty.is_finished());
    CHECK(empty.id() == 0);
    empty.abort();  // no effect, no crash
  }

  TEST_CASE("is_finished turns true when the task ends, and stays true") {
    weft::runtime rt{workers(2)};
    finish_observations o = rt.block_on(watch_finish());
    CHECK_FALSE(o.before);
    CHECK(o.after);
    CHECK(o.value == 11);
    CHECK(o.still_after_join);
  }

  TEST_CASE("destroying or detaching the handle leaves the task running to its end") {
    weft::runtime rt{workers(2)};
    for (bool explicit_detach : {false, true}) {
      CAPTURE(explicit_detach);
      std::atomic<int> alive{0};
      std::atomic<bool> finished{false};
      CHECK(rt.block_on(detach_and_wait(alive, finished, explicit_detach)));
      CHECK(finished.load());
      CHECK(alive.load() == 0);
    }
  }

  TEST_CASE("awaiting a handle twice is a runtime_misuse") {
    weft::runtime rt{workers(2)};
    CHECK(rt.block_on(await_twice()) == 5);
  }

  TEST_CASE("awaiting an empty (moved-from) handle is a runtime_misuse") {
    weft::runtime rt{workers(1)};
    CHECK_THROWS_AS(rt.block_on(await_empty_handle()), weft::runtime_misuse);
  }

  TEST_CASE("abort of a sleeping task: its sleep throws cancelled and its destructors run") {
    weft::runtime rt{workers(2)};
    sleeper_flags f;
    abort_outcome o = rt.block_on(abort_sleeper(f));
    CHECK(o.suspended);
    CHECK(o.join_cancelled);
    CHECK(f.sleep_threw.load());
    CHECK_FALSE(f.woke_normally.load());
    CHECK(f.alive.load() == 0);
    CHECK(o.took < 1000ms);
  }

  TEST_CASE("abort from a thread that is no worker reaches a sleeping task") {
    weft::runtime rt{workers(2)};
    sleeper_flags f;
    weft::join_handle<void> h = rt.spawn(long_sleep(f));
    auto deadline = clock_type::now() + 5s;
    while (!(f.started.load() && is_suspended(h)) && clock_type::now() < deadline)
      std::this_thread::sleep_for(100us);
    REQUIRE(is_suspended(h));
    h.abort();
    CHECK(rt.block_on(join_expect_cancelled(h)));
    CHECK(f.sleep_threw.load());
    CHECK(f.alive.load() == 0);
    CHECK(h.is_finished());
  }

  TEST_CASE("abort of a task not started yet: its body never runs and the join sees cancelled") {
    weft::runtime rt{workers(1)};
    std::atomic<int> alive{0};
    std::atomic<bool> ran{false};
    not_started_outcome o = rt.block_on(abort_before_start(alive, ran));
    CHECK(o.join_cancelled);
    CHECK_FALSE(ran.load());
    CHECK(o.alive_after == 0);
  }

  TEST_CASE("abort of a finished task has no effect: its value is still there") {
    weft::runtime rt{workers(2)};
    CHECK(rt.block_on(abort_finished()) == 9);
  }

  TEST_CASE("abort of a task waiting on a join: the wait throws, the other task keeps running") {
    weft::runtime rt{workers(2)};
    joiner_flags f;
    joiner_outcome o = rt.block_on(abort_joiner(f));
    CHECK(o.suspended);
    CHECK(o.join_cancelled);
    CHECK(f.wait_cancelled.load());
    CHECK_FALSE(o.child_done_at_abort);
    CHECK(o.child_finished);
  }

  TEST_CASE("abort of a yielding task stops it") {
    weft::runtime rt{workers(2)};
    std::atomic<long> n{0};
    yielder_outcome o = rt.block_on(abort_yielder(n));
    CHECK(o.progressed);
    CHECK(o.join_cancelled);
    CHECK(o.later == o.at_join);
  }

  TEST_CASE("a task that catches cancelled may finish cleanly, and later awaits throw again") {
    weft::runtime rt{workers(2)};
    survivor_flags f;
    CHECK(rt.block_on(abort_survivor(f)) == 42);
    CHECK(f.caught.load());
    CHECK(f.later_await_threw.load());
  }

  // The README's advice for asynchronous cleanup in an aborted task.
  TEST_CASE("an aborted task's cleanup task, spawned after the abort, is not cancelled") {
    weft::runtime rt{workers(2)};
    auto goodbye_sent = rt.block_on([]() -> weft::task<bool> {
      auto [tx, rx] = weft::oneshot<int>();
      auto victim = weft::spawn([](weft::oneshot_sender<int> tx) -> weft::task<void> {
        try {
          co_await weft::sleep_for(10s);
        } catch (const weft::cancelled&) {
          // An await here would throw again; a task spawned for it does not.
          weft::spawn([](weft::oneshot_sender<int> tx) -> weft::task<void> {
            co_await weft::sleep_for(1ms);
            tx.send(7);
          }(std::move(tx))).detach();
          throw;
        }
      }(std::move(tx)));
      co_await weft::sleep_for(5ms);
      victim.abort();
      bool cancelled = false;
      try {
        co_await victim;
      } catch (const weft::cancelled&) {
        cancelled = true;
      }
      std::optional<int> got = co_await weft::timeout(5s, std::move(rx));
      co_return cancelled && got == 7;
    }());
    CHECK(goodbye_sent);
  }

  TEST_CASE("a task joins a task of another runtime") {
    weft::runtime a{workers(2)};
    weft::runtime b{workers(1)};
    std::atomic<bool> gate{false}, done{false};
    weft::join_handle<int> h = b.spawn(gated(gate, done, 17));
    std::thread opener([&] {
      std::this_thread::sleep_for(5ms);
      gate = true;
    });
    CHECK(a.block_on(join_foreign(h)) == 17);
    opener.join();
    CHECK(done.load());
  }

  TEST_CASE("a task joining a task of another runtime hears cancelled when that runtime goes") {
    // It was never woken: the other runtime took every joiner for one of
    // its own tasks, destroyed with it.
    weft::runtime a{workers(1)};
    auto b = std::make_unique<weft::runtime>(workers(1));
    weft::join_handle<int> h = b->spawn([]() -> weft::task<int> {
      co_await weft::sleep_for(1h);
      co_return 1;
    }());
    std::thread destroyer([&] {
      std::this_thread::sleep_for(20ms);
      b.reset();
    });
    CHECK_THROWS_AS(a.block_on(join_foreign(h)), weft::cancelled);
    destroyer.join();
  }

  TEST_CASE("a task joining a task of another runtime, destroyed with its own runtime, is not woken later") {
    // The other task's end woke the joiner it had registered: a task freed
    // with its runtime (ASan: heap-use-after-free; release: a corrupted
    // frame cache and a crash at exit).
    weft::runtime b{workers(1)};
    weft::join_handle<int> h = b.spawn([]() -> weft::task<int> {
      co_await weft::sleep_for(30ms);
      co_return 1;
    }());
    {
      weft::runtime a{workers(1)};
      a.spawn(join_foreign(h));
      std::this_thread::sleep_for(10ms);  // it waits in h's joiner slot
    }
    std::this_thread::sleep_for(50ms);  // b's task ends
    CHECK(h.is_finished());
    CHECK(b.block_on(join_foreign(h)) == 1);  // the result is still there for a join
  }

  TEST_CASE("a non-standard exception crosses a join unchanged") {
    weft::runtime rt{workers(2)};
    bool caught = false;
    try {
      rt.block_on([]() -> weft::task<void> { co_await weft::spawn(throw_int()); }());
    } catch (int v) {
      caught = v == 42;
    }
    CHECK(caught);
  }

  TEST_CASE("a task's frame, and what its parameters own, is gone when it ends, handle or not") {
    // Like its locals: a kept join handle keeps the result, not the socket.
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    CHECK(rt.block_on(resource_gone_before_join(alive)));
    CHECK(rt.block_on(resources_outliving_their_task(alive, 2000)) == 0);
    CHECK(alive.load() == 0);
  }
}
