// Stress of the scheduler: a million spawns, a million cross-thread wake-ups
// with no loss, no duplicate and no task resumed on two threads at once,
// spawn/join trees across workers, and spawns from outside the workers
// racing with a worker going to park.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <coroutine>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>
#include <tests/support/watchdog.hpp>

using namespace std::chrono_literals;
using weft_test::workers;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr bool sanitized = weft_test::sanitized;
using weft_test::watchdog;

constexpr std::chrono::seconds watch_limit{sanitized ? 240 : 60};

// Waits, polling with short sleeps, until `pred` holds; false after `limit`.
template <class Pred>
weft::task<bool> eventually(Pred pred, std::chrono::milliseconds limit) {
  auto deadline = clock_type::now() + limit;
  while (!pred()) {
    if (clock_type::now() > deadline) co_return false;
    co_await weft::sleep_for(1ms);
  }
  co_return true;
}

// --- a million spawns ------------------------------------------------------

weft::task<void> count_one(std::atomic<long>& n) {
  n.fetch_add(1, std::memory_order_relaxed);
  co_return;
}

weft::task<bool> spawn_many(long total, std::atomic<long>& n) {
  for (long i = 0; i < total; ++i) weft::spawn(count_one(n));  // detached
  co_return co_await eventually([&] { return n.load() == total; }, 60s);
}

// --- cross-thread wake-ups, through the runtime's internal protocol --------
//
// A task parks itself in a queue of sleepers; a plain std::thread (no worker)
// takes it out and wakes it, so every wake goes through the inject queue and
// may race with the end of the poll that parked the task.

struct mailbox {
  std::atomic<long> wakes_sent{0};
  std::atomic<bool> inside{false};  // set while the task's body runs
};

class sleepers {
 public:
  void park(mailbox* box, weft::detail::task_header* t) {
    {
      std::lock_guard lock(mutex_);
      parked_.push_back({box, t});
    }
    cv_.notify_one();
  }
  // The waker's side: everything parked so far, or nothing once stopped.
  std::vector<std::pair<mailbox*, weft::detail::task_header*>> take() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return !parked_.empty() || stop_; });
    return std::exchange(parked_, {});
  }
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::pair<mailbox*, weft::detail::task_header*>> parked_;
  bool stop_ = false;
};

struct park_in {
  sleepers& queue;
  mailbox& box;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    weft::detail::task_header* t = weft::detail::running_task(h);
    t->resume_point = h;
    queue.park(&box, t);  // the mutex publishes resume_point to the waker
    return true;
  }
  void await_resume() const noexcept {}
};

struct wake_errors {
  std::atomic<long> overlaps{0};    // resumed while already running elsewhere
  std::atomic<long> mismatches{0};  // resumed without (or twice for) a wake
};

weft::task<long> woken_many_times(sleepers& queue, mailbox& box, long rounds, wake_errors& err) {
  long resumes = 0;
  for (long i = 0; i < rounds; ++i) {
    if (box.inside.exchange(true, std::memory_order_acq_rel)) ++err.overlaps;
    box.inside.store(false, std::memory_order_release);
    co_await park_in{queue, box};
    if (box.inside.exchange(true, std::memory_order_acq_rel)) ++err.overlaps;
    ++resumes;
    if (box.wakes_sent.load(std::memory_order_acquire) != i + 1) ++err.mismatches;
    box.inside.store(false, std::memory_order_release);
  }
  co_return resumes;
}

weft::task<long> join_all(std::vector<weft::join_handle<long>> hs) {
  long sum = 0;
  for (auto& h : hs) sum += co_await h;
  co_return sum;
}

// --- spawn/join trees --------------------------------------------------------

struct tree_counts {
  std::atomic<long> bodies{0};
  std::atomic<long> overlaps{0};
};

// Each node spawns two children and joins them; the joins complete on
// whichever workers ran the children, so wake-ups cross workers.
weft::task<long> tree(int depth, tree_counts& c) {
  std::atomic<bool> inside{true};
  c.bodies.fetch_add(1, std::memory_order_relaxed);
  if (depth == 0) co_return 1;
  weft::join_handle<long> left = weft::spawn(tree(depth - 1, c));
  weft::join_handle<long> right = weft::spawn(tree(depth - 1, c));
  inside.store(false);
  long l = co_await left;
  if (inside.exchange(true)) c.overlaps.fetch_add(1);
  inside.store(false);
  long r = co_await right;
  if (inside.exchange(true)) c.overlaps.fetch_add(1);
  co_return 1 + l + r;
}

// --- spawns from outside racing a worker that goes to park -----------------

weft::task<void> raise(std::atomic<bool>& flag) {
  flag.store(true, std::memory_order_release);
  co_return;
}

weft::task<void> nothing() { co_return; }

weft::task<long> echo(long v) { co_return v; }

// A plain thread spawns one task at a time and spins until it ran, with a
// varying pause between rounds, so that spawns land at every point of the
// worker's way from its last look at the inject queue into park. Runs for
// `rounds` rounds or `time_cap`, whichever ends first (the machine is shared).
// Returns the number of rounds whose task had not run after `patience`.
struct ping_pong_result {
  long rounds = 0;
  long lost = 0;
};

ping_pong_result ping_pong_from_outside(weft::runtime& rt, long rounds,
                                        std::chrono::milliseconds patience,
                                        std::chrono::milliseconds time_cap) {
  ping_pong_result r;
  auto stop_at = clock_type::now() + time_cap;
  for (; r.rounds < rounds && clock_type::now() < stop_at; ++r.rounds) {
    std::atomic<bool> ran{false};
    rt.spawn(raise(ran));
    auto deadline = clock_type::now() + patience;
    while (!ran.load(std::memory_order_acquire)) {
      if (clock_type::now() > deadline) {
        ++r.lost;
        // Kick the worker with another spawn so the test can go on.
        rt.spawn(nothing());
        while (!ran.load(std::memory_order_acquire)) std::this_thread::yield();
        break;
      }
    }
    for (long spin = 0, pause = (r.rounds * 7) % 600; spin < pause; ++spin)
      std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  return r;
}

// --- reactors stay alive through unparks ----------------------------------

weft::task<void> sleep_an_hour() { co_await weft::sleep_for(1h); }

// A fresh runtime, a burst of spawns from outside while its workers make
// their first trips into park (each spawn may unpark one), then aborts from
// outside that cancel the timers those tasks registered. Every cancellation
// is a handler posted to a worker's reactor: a reactor left stopped by an
// unpark never runs it, and nothing unparks that worker again. True if every
// task ended within `patience`.
bool abort_burst_after_startup(std::chrono::milliseconds patience) {
  weft::runtime rt{workers(2)};
  std::vector<weft::join_handle<void>> hs;
  for (int i = 0; i < 10; ++i) hs.push_back(rt.spawn(sleep_an_hour()));
  for (auto& h : hs) h.abort();
  auto all_done = [&] {
    for (auto& h : hs)
      if (!h.is_finished()) return false;
    return true;
  };
  auto deadline = clock_type::now() + patience;
  while (!all_done() && clock_type::now() < deadline) std::this_thread::sleep_for(200us);
  return all_done();  // destroying the runtime ends any stragglers
}

// Runs this very test case again in a child process (fresh threads, cold
// caches: the timing in which the race shows). Returns its exit status.
int run_self_as_child(const char* test_case) {
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string cmd = "WEFT_TEST_CHILD=1 '" + self + "' --no-version --no-skip -ts='stress/scheduler' -tc='" +
                    test_case + "' > /dev/null 2>&1";
  return std::system(cmd.c_str());
}

}  // namespace

TEST_SUITE("stress/scheduler") {
  TEST_CASE("a million detached spawns all run") {
    watchdog dog(watch_limit, "a million detached spawns all run");
    weft::runtime rt{workers(2)};
    const long total = sanitized ? 100'000 : 1'000'000;
    std::atomic<long> n{0};
    CHECK(rt.block_on(spawn_many(total, n)));
    CHECK(n.load() == total);
    CHECK(rt.metrics().tasks_spawned == std::uint64_t(total) + 1);
  }

  TEST_CASE("spawns from several plain threads all run") {
    watchdog dog(watch_limit, "spawns from several plain threads all run");
    weft::runtime rt{workers(2)};
    const long per_thread = sanitized ? 20'000 : 100'000;
    std::atomic<long> n{0};
    std::vector<std::thread> spawners;
    for (int t = 0; t < 2; ++t)
      spawners.emplace_back([&] {
        for (long i = 0; i < per_thread; ++i) rt.spawn(count_one(n));
      });
    for (auto& t : spawners) t.join();
    auto deadline = clock_type::now() + 30s;
    while (n.load() != 2 * per_thread && clock_type::now() < deadline) std::this_thread::sleep_for(1ms);
    CHECK(n.load() == 2 * per_thread);
  }

  TEST_CASE("a million wake-ups from a plain thread: none lost, none doubled, never two threads at once") {
    watchdog dog(watch_limit, "a million wake-ups from a plain thread");
    weft::runtime rt{workers(2)};
    constexpr int tasks = 256;
    const long rounds = ((sanitized ? 100'000 : 1'000'000) + tasks - 1) / tasks;
    std::vector<std::unique_ptr<mailbox>> boxes;
    sleepers queue;
    wake_errors err;
    std::vector<weft::join_handle<long>> hs;
    for (int i = 0; i < tasks; ++i) {
      boxes.push_back(std::make_unique<mailbox>());
      hs.push_back(rt.spawn(woken_many_times(queue, *boxes.back(), rounds, err)));
    }
    std::atomic<long> wakes{0};
    std::thread waker([&] {
      for (;;) {
        auto batch = queue.take();
        if (batch.empty()) return;  // stopped
        for (auto [box, t] : batch) {
          box->wakes_sent.fetch_add(1, std::memory_order_release);
          weft::detail::wake(t);
          wakes.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
    long resumes = rt.block_on(join_all(std::move(hs)));
    queue.stop();
    waker.join();
    CHECK(resumes == tasks * rounds);
    CHECK(wakes.load() == tasks * rounds);
    CHECK(err.overlaps.load() == 0);
    CHECK(err.mismatches.load() == 0);
  }

  TEST_CASE("spawn/join trees across workers: every node runs once, joins all complete") {
    watchdog dog(watch_limit, "spawn/join trees across workers");
    for (std::size_t n : {2u, 4u}) {
      CAPTURE(n);
      weft::runtime rt{workers(n)};
      const int depth = sanitized ? 13 : 18;
      tree_counts c;
      long nodes = rt.block_on(tree(depth, c));
      long expected = (1L << (depth + 1)) - 1;
      CHECK(nodes == expected);
      CHECK(c.bodies.load() == expected);
      CHECK(c.overlaps.load() == 0);
    }
  }

  TEST_CASE("one worker: a task spawned from outside while the worker goes to park is never lost") {
    // The race this probes (fixed in 3b098bd): a lone worker never became a
    // searcher, so park() skipped its last re-check of the inject queue, and
    // a notifier that saw the worker still awake woke nobody.
    watchdog dog(watch_limit, "one worker: spawn from outside racing park");
    weft::runtime rt{workers(1)};
    ping_pong_result r = ping_pong_from_outside(rt, 200'000, 1000ms, 3s);
    CAPTURE(r.rounds);
    // Enough rounds to have probed the race. Not more: on a loaded 2-core
    // machine the spinning spawner and the worker share a core (~5 ms a round).
    CHECK(r.rounds > 100);
    CHECK(r.lost == 0);
    // block_on is a spawn from outside too: a lost one would trip the watchdog.
    auto stop_at = clock_type::now() + 2s;
    for (int i = 0; i < 50'000 && clock_type::now() < stop_at; ++i) rt.block_on(nothing());
  }

  TEST_CASE("two workers: tasks spawned from outside are picked up promptly") {
    watchdog dog(watch_limit, "two workers: spawn from outside racing park");
    weft::runtime rt{workers(2)};
    ping_pong_result r = ping_pong_from_outside(rt, 100'000, 1000ms, 3s);
    CAPTURE(r.rounds);
    CHECK(r.rounds > 100);  // as above
    CHECK(r.lost == 0);
  }

  TEST_CASE("block_on in a loop returns every root's value") {
    watchdog dog(watch_limit, "block_on in a loop");
    weft::runtime rt{workers(2)};
    long rounds = 0, sum = 0, expected = 0;
    auto stop_at = clock_type::now() + 3s;
    for (; rounds < 50'000 && clock_type::now() < stop_at; ++rounds) {
      sum += rt.block_on(echo(rounds));
      expected += rounds;
    }
    CAPTURE(rounds);
    CHECK(rounds > 1000);
    CHECK(sum == expected);
  }

  // The race this probes: worker::unpark() once stored the wake flag before
  // calling io_.stop(); an owner that consumed the flag in between (restart())
  // was left with a stopped reactor and no wake-up pending, so its timers and
  // their cancellations never ran. Seen in ~3% of fresh processes, rarely in
  // a warm one: hence the child processes.
  TEST_CASE("aborts from outside right after startup always end their sleeps") {
    const char* self_name = "aborts from outside right after startup always end their sleeps";
    if (std::getenv("WEFT_TEST_CHILD")) {  // a child: one round, in a fresh process
      CHECK(abort_burst_after_startup(2000ms));
      return;
    }
    watchdog dog(watch_limit, self_name);
    const int children = sanitized ? 20 : 100;
    int ran = 0, failed = 0;
    auto stop_at = clock_type::now() + (sanitized ? 30s : 10s);
    for (; ran < children && failed == 0 && clock_type::now() < stop_at; ++ran)
      if (run_self_as_child(self_name) != 0) ++failed;
    CAPTURE(ran);
    CHECK(failed == 0);
    if (failed == 0) CHECK(ran >= (sanitized ? 5 : 20));
  }
}
