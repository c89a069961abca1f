// weft::runtime: block_on, weft::run, work spreading over every worker, and
// the metrics counters.
#include <doctest/doctest.h>

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::workers;

namespace {

using clock_type = std::chrono::steady_clock;

weft::task<int> value(int v) {
  co_await weft::yield_now();
  co_return v;
}

weft::task<std::string> worker_name() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  co_return std::string(name);
}

// Which threads ran tasks.
struct thread_log {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  void record() {
    std::lock_guard lock(mutex);
    threads.insert(std::this_thread::get_id());
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return threads.size();
  }
};

// A little work that holds the worker (no await), so that the spawner's
// queue fills up and idle workers have something to steal.
weft::task<void> busy(thread_log& log, std::chrono::microseconds d) {
  log.record();
  auto end = clock_type::now() + d;
  while (clock_type::now() < end) {
  }
  co_return;
}

// Spawns rounds of small tasks from one task until every worker has run one
// (or the deadline passes). Returns how many rounds it took.
weft::task<int> spread(thread_log& log, std::size_t workers_n) {
  auto deadline = clock_type::now() + 10s;
  int rounds = 0;
  while (log.size() < workers_n && clock_type::now() < deadline) {
    ++rounds;
    std::vector<weft::join_handle<void>> hs;
    hs.reserve(64);
    for (int i = 0; i < 64; ++i) hs.push_back(weft::spawn(busy(log, 20us)));
    for (auto& h : hs) co_await h;
  }
  co_return rounds;
}

weft::task<int> spawn_and_join(int n) {
  std::vector<weft::join_handle<int>> hs;
  hs.reserve(std::size_t(n));
  for (int i = 0; i < n; ++i) hs.push_back(weft::spawn(value(1)));
  int sum = 0;
  for (auto& h : hs) sum += co_await h;
  co_return sum;
}

std::uint64_t total(const weft::runtime_metrics& m, std::uint64_t weft::worker_metrics::*field) {
  std::uint64_t sum = 0;
  for (const auto& w : m.workers) sum += w.*field;
  return sum;
}

// n tasks that yield until told to stop, each counting its turns; true once
// every one of them has had a turn (false after 10 s).
weft::task<bool> every_yielder_gets_turns(int n) {
  std::vector<std::atomic<int>> turns(static_cast<std::size_t>(n));
  std::atomic<bool> stop{false};
  std::vector<weft::join_handle<void>> hs;
  for (auto& t : turns)
    hs.push_back(weft::spawn([](std::atomic<int>& mine, std::atomic<bool>& stop) -> weft::task<void> {
      while (!stop.load()) {
        mine.fetch_add(1);
        co_await weft::yield_now();
      }
    }(t, stop)));
  auto deadline = clock_type::now() + 10s;
  auto all_turned = [&] {
    for (auto& t : turns)
      if (t.load() == 0) return false;
    return true;
  };
  while (!all_turned() && clock_type::now() < deadline) co_await weft::sleep_for(1ms);
  bool ok = all_turned();
  stop = true;
  for (auto& h : hs) co_await h;
  co_return ok;
}

weft::task<int> zero_sleeps(int n) {
  for (int i = 0; i < n; ++i) co_await weft::sleep_for(0ms);
  co_return n;
}

}  // namespace

TEST_SUITE("runtime/runtime") {
  TEST_CASE("block_on returns the root's value, many times over on one runtime") {
    weft::runtime rt{workers(2)};
    int sum = 0;
    for (int i = 0; i < 1000; ++i) sum += rt.block_on(value(i));
    CHECK(sum == 999 * 1000 / 2);
  }

  TEST_CASE("weft::run runs one task on a default runtime") {
    CHECK(weft::run(value(3)) == 3);
  }

  TEST_CASE("tasks only run on the runtime's worker threads") {
    weft::runtime rt{workers(2)};
    std::string name = rt.block_on(worker_name());
    CHECK(name.rfind("weft-worker-", 0) == 0);
  }

  TEST_CASE("tasks spawned by one task run on every worker (work stealing)") {
    for (std::size_t n : {2u, 4u}) {
      CAPTURE(n);
      weft::runtime rt{workers(n)};
      thread_log log;
      int rounds = rt.block_on(spread(log, n));
      CAPTURE(rounds);
      CHECK(log.size() == n);
      weft::runtime_metrics m = rt.metrics();
      CHECK(total(m, &weft::worker_metrics::steals) > 0);
      CHECK(total(m, &weft::worker_metrics::stolen_tasks) >= total(m, &weft::worker_metrics::steals));
      for (const auto& w : m.workers) CHECK(w.polls > 0);
    }
  }

  TEST_CASE("tasks a worker's local queue had no room for are not starved by tasks that keep yielding") {
    // 1,000 yielders on one worker: 256 fit its local queue, which never
    // runs dry while they keep yielding; the rest wait in its overflow,
    // which gets a turn every global_queue_interval polls.
    for (std::size_t n : {1u, 2u}) {
      CAPTURE(n);
      weft::runtime rt{workers(n)};
      CHECK(rt.block_on(every_yielder_gets_turns(1000)));
      if (n == 1) CHECK(rt.metrics().workers[0].local_queue_depth == 0);
    }
  }

  TEST_CASE("metrics: polls move and tasks_spawned counts every spawn") {
    weft::runtime rt{workers(2)};
    weft::runtime_metrics before = rt.metrics();
    CHECK(before.workers.size() == 2);
    CHECK(before.tasks_spawned == 0);
    CHECK(before.tasks_alive == 0);
    CHECK(rt.block_on(spawn_and_join(500)) == 500);
    weft::runtime_metrics after = rt.metrics();
    CHECK(after.tasks_spawned == 501);  // 500 children and block_on's root
    // Every task has been polled at least once; most more (each yields once).
    CHECK(total(after, &weft::worker_metrics::polls) >= 1001);
    CHECK(after.inject_queue_depth == 0);
    CHECK(rt.metrics().tasks_alive == 0);  // block_on's root included, at once
    (void)rt.spawn(value(1));  // runtime::spawn counts too
    CHECK(rt.metrics().tasks_spawned == 502);
  }

  TEST_CASE("metrics: block_on's root is no longer alive once block_on returns") {
    weft::runtime rt{workers(2)};
    int stale = 0;
    for (int i = 0; i < 2000; ++i) {
      rt.block_on(value(i));
      if (rt.metrics().tasks_alive != 0) ++stale;
    }
    CHECK(stale == 0);
  }

  // Also a regression test for an unpark that left a worker's reactor
  // stopped (stress/scheduler, "aborts from outside ... end their sleeps").
  TEST_CASE("metrics: tasks_alive counts tasks that have not finished") {
    weft::runtime rt{workers(2)};
    std::vector<weft::join_handle<void>> sleepers;
    for (int i = 0; i < 10; ++i)
      sleepers.push_back(rt.spawn([]() -> weft::task<void> { co_await weft::sleep_for(1h); }()));
    CHECK(rt.metrics().tasks_alive == 10);
    for (auto& h : sleepers) h.abort();
    auto deadline = clock_type::now() + 5s;
    while (rt.metrics().tasks_alive != 0 && clock_type::now() < deadline) std::this_thread::sleep_for(1ms);
    CHECK(rt.metrics().tasks_alive == 0);
    for (auto& h : sleepers) CHECK(h.is_finished());
  }

  TEST_CASE("metrics: budget_yields counts polls cut short by the cooperative budget") {
    weft::runtime_config cfg = workers(1);
    cfg.budget = 8;
    weft::runtime rt{cfg};
    CHECK(rt.block_on(zero_sleeps(1000)) == 1000);
    CHECK(total(rt.metrics(), &weft::worker_metrics::budget_yields) > 0);
  }
}
