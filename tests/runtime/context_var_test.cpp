// weft::context_var<T>: values inherited at spawn, isolated between tasks,
// kept across suspension and migration to another worker, and defaults.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::workers;

namespace {

using clock_type = std::chrono::steady_clock;

weft::context_var<std::string> request_id;
weft::context_var<int> level{7};
weft::context_var<int> no_default;

weft::task<std::string> read_request_id() {
  co_await weft::yield_now();
  co_return request_id.try_get().value_or("<unset>");
}

weft::task<void> set_in_child(std::string v) {
  request_id.set(std::move(v));
  co_await weft::yield_now();
  co_return;
}

struct family_results {
  std::string child_sees;
  std::string parent_after_child_set;
  std::string late_child_sees;
  std::string snapshot_child_sees;
};

weft::task<std::string> wait_then_read(std::atomic<bool>& go) {
  while (!go.load()) co_await weft::sleep_for(200us);
  co_return request_id.try_get().value_or("<unset>");
}

weft::task<family_results> family() {
  family_results r;
  request_id.set("parent");
  r.child_sees = co_await weft::spawn(read_request_id());
  co_await weft::spawn(set_in_child("child"));
  r.parent_after_child_set = request_id.get();
  // A child takes a snapshot at spawn: the parent's later set is not its.
  std::atomic<bool> go{false};
  weft::join_handle<std::string> early = weft::spawn(wait_then_read(go));
  request_id.set("parent-2");
  go = true;
  r.snapshot_child_sees = co_await early;
  r.late_child_sees = co_await weft::spawn(read_request_id());
  co_return r;
}

// Sets its own value, then checks it through many suspensions while siblings
// do the same with theirs.
weft::task<int> sibling(int i) {
  std::string mine = "sibling-" + std::to_string(i);
  request_id.set(mine);
  level.set(i);
  int wrong = 0;
  for (int k = 0; k < 20; ++k) {
    if (k % 2) co_await weft::yield_now();
    else co_await weft::sleep_for(100us);
    if (request_id.get() != mine) ++wrong;
    if (level.get() != i) ++wrong;
  }
  co_return wrong;
}

weft::task<int> siblings(int n) {
  request_id.set("parent");
  std::vector<weft::join_handle<int>> hs;
  for (int i = 0; i < n; ++i) hs.push_back(weft::spawn(sibling(i)));
  int wrong = 0;
  for (auto& h : hs) wrong += co_await h;
  if (request_id.get() != "parent") ++wrong;
  if (level.get() != 7) ++wrong;  // nobody's set reached the parent
  co_return wrong;
}

struct migration_results {
  bool migrated = false;
  int wrong = 0;
  int hops = 0;
};

// Suspends until it resumes on another thread than it started on, checking
// its value after every resumption. spawn_blocking completes from a pool
// thread, so the task comes back through the inject queue on whichever
// worker takes it first.
weft::task<migration_results> migrate() {
  migration_results r;
  request_id.set("travels");
  std::thread::id start = std::this_thread::get_id();
  auto deadline = clock_type::now() + 5s;
  while (!r.migrated && clock_type::now() < deadline) {
    ++r.hops;
    if (r.hops % 2) co_await weft::spawn_blocking([] { std::this_thread::sleep_for(100us); });
    else co_await weft::yield_now();
    if (request_id.get() != "travels") ++r.wrong;
    r.migrated = std::this_thread::get_id() != start;
  }
  co_await weft::sleep_for(1ms);
  if (request_id.get() != "travels") ++r.wrong;
  co_return r;
}

struct defaults_results {
  int level_default = 0;
  bool no_default_empty = false;
  bool no_default_threw = false;
  int after_reset = 0;
  int after_set = 0;
};

weft::task<defaults_results> defaults() {
  defaults_results r;
  r.level_default = level.get();
  r.no_default_empty = !no_default.try_get().has_value();
  try {
    (void)no_default.get();
  } catch (const weft::runtime_misuse&) {
    r.no_default_threw = true;
  }
  level.set(3);
  r.after_set = level.get();
  level.reset();
  r.after_reset = level.get();
  co_return r;
}

weft::task<void> set_inline() {
  request_id.set("inline");
  co_return;
}

// An awaited (not spawned) task is part of the same task: its set() is ours.
weft::task<std::string> inline_await_shares() {
  request_id.set("outer");
  co_await set_inline();
  co_return request_id.get();
}

struct blocking_results {
  std::string job_sees;
  std::string spawned_from_job_sees;
  std::string next_job_sees;
  std::string task_after_jobs;
};

// spawn_blocking is a spawn: its job runs with the spawner's values, and a
// set() inside one job stays there (pool threads are shared by every task).
weft::task<blocking_results> through_the_pool() {
  blocking_results r;
  request_id.set("req-1");
  r.job_sees = co_await weft::spawn_blocking([] { return request_id.try_get().value_or("<unset>"); });
  co_await weft::spawn_blocking([] { request_id.set("set-in-a-job"); });
  weft::join_handle<std::string> child = co_await weft::spawn_blocking([] {
    return weft::spawn(read_request_id());
  });
  r.spawned_from_job_sees = co_await child;
  request_id.set("req-2");
  r.next_job_sees = co_await weft::spawn_blocking([] { return request_id.try_get().value_or("<unset>"); });
  r.task_after_jobs = request_id.get();
  co_return r;
}

}  // namespace

TEST_SUITE("runtime/context_var") {
  TEST_CASE("defaults, set, reset, and get without a value") {
    weft::runtime rt{workers(1)};
    defaults_results r = rt.block_on(defaults());
    CHECK(r.level_default == 7);
    CHECK(r.no_default_empty);
    CHECK(r.no_default_threw);
    CHECK(r.after_set == 3);
    CHECK(r.after_reset == 7);
  }

  TEST_CASE("a child inherits at spawn; its own set stays its own") {
    weft::runtime rt{workers(2)};
    family_results r = rt.block_on(family());
    CHECK(r.child_sees == "parent");
    CHECK(r.parent_after_child_set == "parent");
    CHECK(r.snapshot_child_sees == "parent");
    CHECK(r.late_child_sees == "parent-2");
  }

  TEST_CASE("siblings that set their own values never see each other's") {
    weft::runtime rt{workers(2)};
    CHECK(rt.block_on(siblings(weft_test::sanitized ? 50 : 200)) == 0);
  }

  TEST_CASE("the value survives suspension and migration to another worker") {
    weft::runtime rt{workers(2)};
    migration_results r = rt.block_on(migrate());
    CAPTURE(r.hops);
    CHECK(r.migrated);
    CHECK(r.wrong == 0);
  }

  TEST_CASE("an inline await shares the awaiting task's context") {
    weft::runtime rt{workers(1)};
    CHECK(rt.block_on(inline_await_shares()) == "inline");
  }

  TEST_CASE("outside any task the value belongs to the thread, and block_on inherits it") {
    weft::runtime rt{workers(2)};
    request_id.set("from-main");
    CHECK(request_id.get() == "from-main");
    CHECK(rt.block_on(read_request_id()) == "from-main");
    std::string other_thread;
    std::thread([&] { other_thread = request_id.try_get().value_or("<unset>"); }).join();
    CHECK(other_thread == "<unset>");
    request_id.reset();
    CHECK_FALSE(request_id.try_get().has_value());
    CHECK(rt.block_on(read_request_id()) == "<unset>");
  }

  // A job once ran with its pool thread's own values (none), and its set()
  // stuck to the thread, leaking into later jobs of other tasks.
  TEST_CASE("a spawn_blocking job sees its spawner's values, and its set() stays in the job") {
    weft::runtime_config cfg = workers(2);
    cfg.max_blocking_threads = 1;  // every job on the same pool thread
    weft::runtime rt{cfg};
    blocking_results r = rt.block_on(through_the_pool());
    CHECK(r.job_sees == "req-1");
    CHECK(r.spawned_from_job_sees == "req-1");
    CHECK(r.next_job_sees == "req-2");
    CHECK(r.task_after_jobs == "req-2");
  }
}
