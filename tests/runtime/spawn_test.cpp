// weft::spawn and runtime::spawn: where they may be called from, misuse, and
// the report of a detached task that failed.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/channel.hpp>
#include <tests/support/stderr_capture.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::stderr_capture;
using weft_test::ticket;
using weft_test::workers;

namespace {

weft::task<int> value(int v) {
  co_await weft::yield_now();
  co_return v;
}

weft::task<int> counted_value(ticket, int v) { co_return v; }

weft::task<void> explode(const char* message) {
  co_await weft::sleep_for(1ms);
  throw std::runtime_error(message);
}

weft::task<void> sleep_long() { co_await weft::sleep_for(1h); }

int boom_line = 0;

// Detaches a failing task named "boom"; remembers the line of the spawn.
weft::task<void> spawn_boom() {
  boom_line = __LINE__; weft::spawn(explode("kaboom"), {.name = "boom"});  // NOLINT: one line on purpose
  co_return;
}

// Failures that are observed, or are just cancellation, are not reported.
weft::task<bool> quiet_failures() {
  bool joined_error_seen = false;
  try {
    co_await weft::spawn(explode("joined failure"), {.name = "joined"});
  } catch (const std::runtime_error&) {
    joined_error_seen = true;
  }
  weft::join_handle<void> h = weft::spawn(sleep_long(), {.name = "aborted"});
  h.abort();
  h.detach();  // it ends with cancelled, which nobody needs to hear about
  co_return joined_error_seen;
}

weft::task<void> block_on_inside(weft::runtime& rt, std::atomic<int>& alive) {
  // The task handed to block_on must be destroyed, not leaked, when it throws.
  (void)rt.block_on(counted_value(ticket(alive), 1));
  co_return;
}

weft::task<int> spawn_from_blocking() {
  // A spawn_blocking thread knows its runtime: weft::spawn works there.
  weft::join_handle<int> h = co_await weft::spawn_blocking([] { return weft::spawn(value(21)); });
  int v = co_await h;
  co_return v * 2;
}

weft::task<void> spawn_empty() {
  (void)weft::spawn(weft::task<int>{});
  co_return;
}

// Where and whether a task ran.
struct run_probe {
  std::atomic<bool> ran{false};  // release: `where` is written
  std::thread::id where;
  std::thread::id busy_worker;  // the thread that kept computing meanwhile
  bool ran_meanwhile = false;
};

weft::task<void> note_run(run_probe& p) {
  p.where = std::this_thread::get_id();
  p.ran.store(true, std::memory_order_release);
  co_return;
}

// Holds this worker, never suspending, until `p` ran or `limit` passed.
bool compute_until_ran(run_probe& p, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!p.ran.load(std::memory_order_acquire))
    if (std::chrono::steady_clock::now() >= end) return false;
  return true;
}

// The spawned task goes to this worker's LIFO slot, waking nobody.
weft::task<void> spawn_then_compute(run_probe& p) {
  p.busy_worker = std::this_thread::get_id();
  weft::join_handle<void> h = weft::spawn(note_run(p));
  p.ran_meanwhile = compute_until_ran(p, 2s);
  co_await std::move(h);
}

weft::task<void> receive_then_note(weft::channel<int>& ch, run_probe& p) {
  (void)co_await ch.recv();
  co_await note_run(p);
}

// The send wakes the waiting receiver into this worker's LIFO slot.
weft::task<void> send_then_compute(run_probe& p) {
  weft::channel<int> ch{1};
  weft::join_handle<void> h = weft::spawn(receive_then_note(ch, p));
  co_await weft::sleep_for(10ms);  // the receiver waits by then
  p.busy_worker = std::this_thread::get_id();
  co_await ch.send(1);
  p.ran_meanwhile = compute_until_ran(p, 2s);
  co_await std::move(h);
}

// Every worker busy: one computes with tasks queued behind it, the other
// runs a task that yields in a loop, so it never runs dry and never parks.
struct busy_peers_probe {
  std::atomic<bool> stop{false};
  std::atomic<std::thread::id> yielder_thread{};
  std::thread::id computing_thread;
  std::atomic<int> ran{0};
  std::atomic<int> ran_on_computer{0};
  bool arranged = false;
  bool ran_meanwhile = false;
};

weft::task<void> yield_until_stopped(busy_peers_probe& p) {
  while (!p.stop.load(std::memory_order_relaxed)) {
    p.yielder_thread.store(std::this_thread::get_id(), std::memory_order_relaxed);
    co_await weft::yield_now();
  }
}

weft::task<void> note_busy_run(busy_peers_probe& p) {
  if (std::this_thread::get_id() == p.computing_thread) p.ran_on_computer.fetch_add(1);
  p.ran.fetch_add(1, std::memory_order_release);
  co_return;
}

weft::task<void> compute_with_queued_tasks(busy_peers_probe& p, int n) {
  weft::join_handle<void> yielder = weft::spawn(yield_until_stopped(p));
  // Until the yielder runs on the other worker (a peer steals it from us).
  for (int i = 0; i < 200 && !p.arranged; ++i) {
    co_await weft::sleep_for(1ms);
    auto y = p.yielder_thread.load(std::memory_order_relaxed);
    p.arranged = y != std::thread::id{} && y != std::this_thread::get_id();
  }
  if (p.arranged) {
    p.computing_thread = std::this_thread::get_id();
    std::vector<weft::join_handle<void>> queued;
    for (int i = 0; i < n; ++i) queued.push_back(weft::spawn(note_busy_run(p)));
    auto end = std::chrono::steady_clock::now() + 2s;
    while (p.ran.load(std::memory_order_acquire) < n && std::chrono::steady_clock::now() < end) {
    }
    p.ran_meanwhile = p.ran.load() == n;
    for (auto& h : queued) co_await h;
  }
  p.stop = true;
  co_await yielder;
}

}  // namespace

TEST_SUITE("runtime/spawn") {
  TEST_CASE("a task left in the LIFO slot of a worker that keeps computing runs on an idle worker") {
    // The idle worker watching its peers takes it once the busy worker's
    // poll has lasted reactor_rescue_after (0.5 ms); before, it waited for the
    // whole computation. A few attempts, for a machine that keeps the
    // watcher off the CPU for seconds; without the rescue every one fails.
    for (bool by_wake : {false, true}) {
      CAPTURE(by_wake);
      bool passed = false;
      for (int attempt = 0; attempt < 3 && !passed; ++attempt) {
        CAPTURE(attempt);
        weft::runtime rt{workers(2)};
        run_probe p;
        rt.block_on(by_wake ? send_then_compute(p) : spawn_then_compute(p));
        CHECK(p.ran.load());
        passed = p.ran_meanwhile && p.where != p.busy_worker;
      }
      CHECK(passed);
    }
  }

  TEST_CASE("tasks queued behind a worker stuck in one poll run on a peer that is busy too") {
    // No worker parks, so no watcher: the peer, kept busy by a task that
    // yields in a loop, takes them on its reactor-poll ticks once the stuck
    // worker has started no poll for reactor_rescue_after. Before, they
    // waited for the whole computation (a fiber's mmap held up behind a
    // page fault kept 70 fibers from starting for 4 ms in a new-user trial).
    bool passed = false;
    for (int attempt = 0; attempt < 3 && !passed; ++attempt) {
      CAPTURE(attempt);
      weft::runtime rt{workers(2)};
      busy_peers_probe p;
      rt.block_on(compute_with_queued_tasks(p, 20));
      if (!p.arranged) continue;  // the yielder never left our worker
      CAPTURE(p.ran_on_computer.load());
      passed = p.ran_meanwhile && p.ran_on_computer.load() == 0;
    }
    CHECK(passed);
  }

  TEST_CASE("spawn with no runtime around throws runtime_misuse and frees the task") {
    std::atomic<int> alive{0};
    CHECK_THROWS_AS(weft::spawn(counted_value(ticket(alive), 1)), weft::runtime_misuse);
    CHECK(alive.load() == 0);
    CHECK_THROWS_AS(weft::spawn_blocking([] { return 1; }), weft::runtime_misuse);

    // A thread that is not one of a runtime's threads has no runtime either,
    // even while one exists.
    weft::runtime rt{workers(1)};
    bool threw = false;
    std::thread([&] {
      try {
        weft::spawn(counted_value(ticket(alive), 2));
      } catch (const weft::runtime_misuse&) {
        threw = true;
      }
    }).join();
    CHECK(threw);
    CHECK(alive.load() == 0);
  }

  TEST_CASE("spawning an empty task is a runtime_misuse") {
    weft::runtime rt{workers(1)};
    CHECK_THROWS_AS(rt.spawn(weft::task<int>{}), weft::runtime_misuse);
    CHECK_THROWS_AS(rt.block_on(spawn_empty()), weft::runtime_misuse);
    // block_on names itself, and the runtime stays usable.
    CHECK_THROWS_WITH_AS(rt.block_on(weft::task<int>{}), doctest::Contains("block_on: empty task"),
                         weft::runtime_misuse);
    CHECK(rt.block_on(value(3)) == 3);
  }

  TEST_CASE("runtime::spawn works from any thread") {
    weft::runtime rt{workers(2)};
    weft::join_handle<int> from_main = rt.spawn(value(1));
    weft::join_handle<int> from_thread;
    std::thread([&] { from_thread = rt.spawn(value(2)); }).join();
    int sum = rt.block_on([](weft::join_handle<int>& a, weft::join_handle<int>& b) -> weft::task<int> {
      int x = co_await a;
      int y = co_await b;
      co_return x + y;
    }(from_main, from_thread));
    CHECK(sum == 3);
  }

  TEST_CASE("weft::spawn works inside spawn_blocking") {
    weft::runtime rt{workers(2)};
    CHECK(rt.block_on(spawn_from_blocking()) == 42);
  }

  TEST_CASE("block_on from inside a worker throws runtime_misuse") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    CHECK_THROWS_AS(rt.block_on(block_on_inside(rt, alive)), weft::runtime_misuse);
    CHECK(alive.load() == 0);
    CHECK(rt.block_on(value(5)) == 5);  // the runtime is fine afterwards
  }

  TEST_CASE("a detached task that throws is reported on stderr, and the runtime keeps going") {
    weft::runtime rt{workers(2)};
    std::string out;
    bool reported = false;
    {
      stderr_capture capture;
      rt.block_on(spawn_boom());
      reported = capture.wait_for("kaboom");
      out = capture.text();
    }
    CAPTURE(out);
    REQUIRE(reported);
    CHECK(out.find("weft: task ") != std::string::npos);
    CHECK(out.find("(boom)") != std::string::npos);
    CHECK(out.find("spawn_test.cpp:" + std::to_string(boom_line)) != std::string::npos);
    CHECK(out.find("failed and nobody joined it: kaboom") != std::string::npos);
    // The function as written, not g++'s name for the coroutine's body.
    CHECK(out.find("in spawn_boom() failed") != std::string::npos);
    CHECK(out.find(".Frame*") == std::string::npos);
    // One report, one line.
    CHECK(out.find("kaboom") == out.rfind("kaboom"));
    CHECK(rt.block_on(value(7)) == 7);
  }

  TEST_CASE("a detached failure spawned in a coroutine lambda names the lambda") {
    // It read "in )::<lambda()>::operator()(...": the cut was made at the
    // first parenthesis, the one in "main()".
    weft::runtime rt{workers(1)};
    std::string out;
    {
      stderr_capture capture;
      rt.block_on([]() -> weft::task<void> {
        weft::spawn(explode("lambda-boom"));
        co_return;
      }());
      REQUIRE(capture.wait_for("lambda-boom"));
      out = capture.text();
    }
    CAPTURE(out);
    CHECK(out.find("::<lambda()> failed and nobody joined it") != std::string::npos);
    CHECK(out.find(" in DOCTEST_ANON_SUITE") != std::string::npos);
    CHECK(out.find(".Frame*") == std::string::npos);
  }

  TEST_CASE("joined failures and aborted tasks are not reported") {
    weft::runtime rt{workers(2)};
    std::string out;
    bool joined_error_seen = false;
    bool marker_seen = false;
    {
      stderr_capture capture;
      joined_error_seen = rt.block_on(quiet_failures());
      // A report of a detached failure after them, as a marker that the
      // runtime has had every chance to print.
      rt.block_on(spawn_boom());
      marker_seen = capture.wait_for("kaboom");
      // The aborted task may still be ending; give it a moment to misbehave.
      std::this_thread::sleep_for(20ms);
      out = capture.text();
    }
    CAPTURE(out);
    CHECK(joined_error_seen);
    CHECK(marker_seen);
    CHECK(out.find("(joined)") == std::string::npos);
    CHECK(out.find("(aborted)") == std::string::npos);
    CHECK(out.find("cancelled") == std::string::npos);
  }
}
