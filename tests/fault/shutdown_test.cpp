// Fault: a runtime destroyed with tasks pending in every state. Their
// destructors run, nothing leaks (LeakSanitizer in the ASan build is the
// judge), and join handles that outlive the runtime report cancelled.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <runtime/detail/scheduler.hpp>  // current_scheduler()->shutting_down()
#include <runtime/runtime.hpp>
#include <tests/support/child_process.hpp>
#include <tests/support/test_runtime.hpp>
#include <tests/support/watchdog.hpp>

using namespace std::chrono_literals;
using weft_test::alive_counter;
using weft_test::ticket;
using weft_test::workers;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr bool sanitized = weft_test::sanitized;
using weft_test::watchdog;

weft::context_var<std::string> tag;

struct census {
  std::atomic<int> alive{0};        // RAII guards (and tickets) in task frames
  std::atomic<int> sleepers{0};     // started, now sleeping for an hour
  std::atomic<int> children{0};     // never-finishing tasks that joiners wait on
  std::atomic<int> joiners{0};      // started, now waiting on a child's handle
  std::atomic<int> yielders{0};     // started, yielding forever
  std::atomic<int> blocked{0};      // started, waiting on a spawn_blocking job
  std::atomic<int> spinning{0};     // spinners holding a worker
  std::atomic<int> queued_ran{0};   // bodies of the queued tasks that ran (must stay 0)
  std::atomic<int> finished{0};     // tasks of any kind that got past their wait (must stay 0)
  std::atomic<int> blocking_ran{0}; // queued blocking jobs that ran (must stay 0)
};

weft::task<void> sleeper(census& c, std::atomic<int>& started) {
  alive_counter guard(c.alive);
  tag.set(std::string(200, 's'));  // a context map that has to be freed too
  ++started;
  co_await weft::sleep_for(1h);
  ++c.finished;
}

weft::task<void> joiner(census& c) {
  alive_counter guard(c.alive);
  weft::join_handle<void> child = weft::spawn(sleeper(c, c.children));
  ++c.joiners;
  co_await child;
  ++c.finished;
}

// The scheduler under test, caught by a task, for the stall report below.
std::atomic<weft::detail::scheduler*> scheduler_seen{nullptr};

weft::task<void> yielder(census& c) {
  alive_counter guard(c.alive);
  scheduler_seen.store(weft::detail::current_scheduler());
  ++c.yielders;
  for (;;) co_await weft::yield_now();
}

weft::task<void> blocked_on_pool(census& c) {
  alive_counter guard(c.alive);
  ++c.blocked;
  co_await weft::spawn_blocking([&c] { ++c.blocking_ran; });
  ++c.finished;
}

// True once the runtime's destructor has begun. Pool threads and workers both
// know their scheduler; this is the one signal a task gets of shutdown.
bool shutting_down() { return weft::detail::current_scheduler()->shutting_down(); }

weft::task<void> hold_the_pool(std::atomic<int>& holding) {
  // Occupies the only pool thread, so later jobs stay queued, until the pool
  // itself is shut down: that comes after the workers are joined, which takes
  // far less than the margin here (the margin only decides whether the
  // "queued jobs are dropped" path is the one exercised).
  co_await weft::spawn_blocking([&holding] {
    ++holding;
    auto deadline = clock_type::now() + 20s;
    while (!shutting_down() && clock_type::now() < deadline) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(300ms);
  });
}

weft::task<void> spinner(census& c) {
  alive_counter guard(c.alive);
  ++c.spinning;
  // Holds this worker (no await) until the runtime is being destroyed: the
  // workers stop right after this poll, so nothing queued ever starts.
  auto deadline = clock_type::now() + 20s;
  while (!shutting_down() && clock_type::now() < deadline) {
  }
  co_return;
}

weft::task<void> queued(ticket, census& c) {
  ++c.queued_ran;
  co_return;
}

bool wait_until(const std::atomic<int>& n, int target, std::chrono::seconds limit = 30s) {
  auto deadline = clock_type::now() + limit;
  while (n.load() < target) {
    if (clock_type::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// What each worker was doing: printed when a worker failed to pick up a
// queued task in time (seen once in CI: a spinner waited 20 s for a worker).
void report_stall(weft::runtime& rt) {
  weft::runtime_metrics m = rt.metrics();
  std::string out = fmt::format("stall: inject depth {}", m.inject_queue_depth);
  if (weft::detail::scheduler* s = scheduler_seen.load()) {
    out += fmt::format(", unparked {}, searching {}", s->idle().unparked(), s->idle().searching_count());
    for (std::size_t i = 0; i < s->worker_count(); ++i)
      out += fmt::format("; worker {} parked {}", i, s->worker_at(i).parked.load());
  }
  for (std::size_t i = 0; i < m.workers.size(); ++i) {
    const auto& w = m.workers[i];
    out += fmt::format("\n  worker {}: polls {} parks {} steals {} inject pulls {} io polls {} rescues {} queue {}",
                       i, w.polls, w.parks, w.steals, w.inject_pulls, w.io_polls, w.reactor_rescues,
                       w.local_queue_depth);
  }
  std::fprintf(stderr, "%s\n", out.c_str());
}

weft::task<bool> join_is_cancelled(weft::join_handle<void>& h) {
  try {
    co_await h;
  } catch (const weft::cancelled&) {
    co_return true;
  }
  co_return false;
}

weft::task<int> value(int v) {
  co_await weft::yield_now();
  co_return v;
}

weft::task<void> sleep_long() { co_await weft::sleep_for(1h); }

}  // namespace

TEST_SUITE("fault/shutdown") {
  TEST_CASE("a runtime destroyed with tasks pending in every state destroys them all") {
    watchdog dog(std::chrono::seconds(sanitized ? 300 : 60), "shutdown with tasks in every state");
    const int n = sanitized ? 2'000 : 10'000;
    const int blocking_waiters = 100;
    census c;
    std::vector<weft::join_handle<void>> kept;  // handles that outlive the runtime
    {
      weft::runtime_config cfg = workers(2);
      cfg.max_blocking_threads = 1;
      auto rt = std::make_unique<weft::runtime>(cfg);

      // Suspended on timers, and suspended on join handles of tasks that
      // never finish.
      for (int i = 0; i < n; ++i) {
        auto h = rt->spawn(sleeper(c, c.sleepers));
        if (i % 100 == 0) kept.push_back(std::move(h));
      }
      for (int i = 0; i < n; ++i) {
        auto h = rt->spawn(joiner(c));
        if (i % 100 == 0) kept.push_back(std::move(h));
      }
      REQUIRE(wait_until(c.sleepers, n));
      REQUIRE(wait_until(c.joiners, n));
      REQUIRE(wait_until(c.children, n));

      // Suspended on blocking jobs that sit in the pool's queue.
      std::atomic<int> holding{0};
      (void)rt->spawn(hold_the_pool(holding));
      REQUIRE(wait_until(holding, 1));
      for (int i = 0; i < blocking_waiters; ++i) (void)rt->spawn(blocked_on_pool(c));
      REQUIRE(wait_until(c.blocked, blocking_waiters));

      // Runnable: yielding in a loop.
      for (int i = 0; i < n; ++i) (void)rt->spawn(yielder(c));
      REQUIRE(wait_until(c.yielders, n));

      // Every worker held by a spinner, then queued tasks nobody will start.
      for (std::size_t i = 0; i < rt->worker_count(); ++i) (void)rt->spawn(spinner(c));
      if (!wait_until(c.spinning, int(rt->worker_count()), 5s)) {
        report_stall(*rt);
        std::this_thread::sleep_for(100ms);
        report_stall(*rt);  // twice: which counters move
      }
      REQUIRE(wait_until(c.spinning, int(rt->worker_count())));
      for (int i = 0; i < n; ++i) {
        auto h = rt->spawn(queued(ticket(c.alive), c));
        if (i % 100 == 0) kept.push_back(std::move(h));
      }

      // sleepers, joiners, their children, yielders, queued; blocked; spinners
      const int expected_alive = 5 * n + blocking_waiters + int(rt->worker_count());
      CHECK(c.alive.load() == expected_alive);
      CHECK(rt->metrics().tasks_alive >= std::size_t(expected_alive));

      auto t0 = clock_type::now();
      rt.reset();
      CHECK(clock_type::now() - t0 < 10s);
    }
    CHECK(c.alive.load() == 0);
    CHECK(c.queued_ran.load() == 0);
    CHECK(c.finished.load() == 0);
    CHECK(c.blocking_ran.load() == 0);

    // Handles that outlived their runtime: finished, cancelled, abort is a no-op.
    for (auto& h : kept) {
      CHECK(h.is_finished());
      h.abort();
    }
    weft::runtime other{workers(1)};
    for (auto& h : kept) CHECK(other.block_on(join_is_cancelled(h)));
    kept.clear();  // frees the last task headers (ASan would see a leak or a double free)
  }

  TEST_CASE("a runtime with nothing to do shuts down at once, in every worker count") {
    watchdog dog(60s, "idle shutdown");
    for (std::size_t n : {1u, 2u, 4u}) {
      CAPTURE(n);
      auto t0 = clock_type::now();
      { weft::runtime rt{workers(n)}; }
      {
        weft::runtime rt{workers(n)};
        CHECK(rt.block_on(value(1)) == 1);
      }
      CHECK(clock_type::now() - t0 < 2s);
    }
  }

  TEST_CASE("a runtime destroyed right after block_on, with detached work still going") {
    watchdog dog(60s, "shutdown after block_on");
    std::atomic<int> alive{0};
    for (int round = 0; round < 20; ++round) {
      weft::runtime rt{workers(2)};
      rt.block_on([](std::atomic<int>& alive) -> weft::task<void> {
        for (int i = 0; i < 100; ++i) {
          weft::spawn([](std::atomic<int>& alive) -> weft::task<void> {
            alive_counter guard(alive);
            for (;;) co_await weft::yield_now();
          }(alive));
          weft::spawn([](std::atomic<int>& alive, int ms) -> weft::task<void> {
            alive_counter guard(alive);
            co_await weft::sleep_for(std::chrono::milliseconds(ms));
          }(alive, 1 + i % 5));
        }
        co_return;
      }(alive));
    }
    CHECK(alive.load() == 0);
  }

  TEST_CASE("join handles of a destroyed runtime can be dropped from another thread") {
    watchdog dog(60s, "handles dropped elsewhere");
    std::vector<weft::join_handle<void>> kept;
    {
      weft::runtime rt{workers(2)};
      for (int i = 0; i < 1000; ++i) kept.push_back(rt.spawn(sleep_long()));
    }
    std::thread([&] {
      for (auto& h : kept) CHECK(h.is_finished());
      kept.clear();
    }).join();
    CHECK(kept.empty());
  }

  TEST_CASE("block_on on another thread ends with cancelled when the runtime is destroyed") {
    watchdog dog(60s, "block_on across shutdown");
    for (int round = 0; round < 20; ++round) {
      auto rt = std::make_unique<weft::runtime>(workers(2));
      std::atomic<bool> started{false};
      std::string outcome;
      std::thread caller([&] {
        try {
          rt->block_on([](std::atomic<bool>& started) -> weft::task<void> {
            started = true;
            co_await weft::sleep_for(1h);
          }(started));
          outcome = "returned";
        } catch (const weft::cancelled&) {
          outcome = "cancelled";
        } catch (const std::exception& e) {
          outcome = e.what();
        }
      });
      while (!started) std::this_thread::sleep_for(1ms);
      rt.reset();
      caller.join();
      CHECK(outcome == "cancelled");
    }
  }

  TEST_CASE("block_on whose root never started ends with cancelled when the runtime is destroyed") {
    // The root waited behind a long poll on the only worker and was destroyed
    // unstarted: its signal to block_on lived in its body, never reached.
    watchdog dog(60s, "block_on of an unstarted root across shutdown");
    for (int round = 0; round < 5; ++round) {
      auto rt = std::make_unique<weft::runtime>(workers(1));
      std::atomic<bool> hogging{false}, root_ran{false};
      rt->spawn([](std::atomic<bool>& hogging) -> weft::task<void> {
        hogging = true;
        std::this_thread::sleep_for(150ms);  // holds the only worker
        co_return;
      }(hogging));
      while (!hogging) std::this_thread::sleep_for(1ms);
      std::string outcome;
      std::thread caller([&, raw = rt.get()] {
        try {
          raw->block_on([](std::atomic<bool>& ran) -> weft::task<void> {
            ran = true;
            co_return;
          }(root_ran));
          outcome = "returned";
        } catch (const weft::cancelled&) {
          outcome = "cancelled";
        }
      });
      std::this_thread::sleep_for(20ms);  // block_on's root is queued behind the hog
      rt.reset();
      caller.join();
      CHECK(outcome == (root_ran ? "returned" : "cancelled"));
      CHECK_FALSE(root_ran);  // the hog held the worker until shutdown
    }
  }

  TEST_CASE("block_on in a spawn_blocking job ends with cancelled when the runtime is destroyed") {
    // The runtime waited for its blocking pool before destroying tasks, and
    // the pool thread waited in block_on for a task destroyed after: a hang.
    watchdog dog(60s, "block_on in a blocking job across shutdown");
    for (int round = 0; round < 5; ++round) {
      auto rt = std::make_unique<weft::runtime>(workers(2));
      std::atomic<bool> waiting{false};
      std::string outcome;
      auto job = [rt = rt.get(), &waiting, &outcome] {
        try {
          rt->block_on([](std::atomic<bool>& waiting) -> weft::task<void> {
            waiting = true;
            co_await weft::sleep_for(1h);
          }(waiting));
          outcome = "returned";
        } catch (const weft::cancelled&) {
          outcome = "cancelled";
        }
      };
      rt->spawn([](decltype(job) job) -> weft::task<void> {
        auto h = weft::spawn_blocking(std::move(job));
        co_await h;
      }(std::move(job)));
      while (!waiting) std::this_thread::sleep_for(1ms);
      rt.reset();
      CHECK(outcome == "cancelled");
    }
    // While the runtime lives, it works there as anywhere.
    weft::runtime rt{workers(2)};
    int got = rt.block_on([](weft::runtime* rt) -> weft::task<int> {
      auto nested = [rt] { return rt->block_on(value(41)) + 1; };
      auto h = weft::spawn_blocking(nested);
      co_return co_await h;
    }(&rt));
    CHECK(got == 42);
  }

  // Calls a task's destructor makes while the runtime destroys the task
  // (the moved-from copy makes none).
  struct calls_back_at_shutdown {
    weft::runtime* rt;
    std::string* block_on_error;
    std::string* spawn_error;
    calls_back_at_shutdown(weft::runtime* r, std::string* b, std::string* s) noexcept
        : rt(r), block_on_error(b), spawn_error(s) {}
    calls_back_at_shutdown(calls_back_at_shutdown&& o) noexcept
        : rt(std::exchange(o.rt, nullptr)), block_on_error(o.block_on_error), spawn_error(o.spawn_error) {}
    ~calls_back_at_shutdown() {
      if (!rt) return;
      try {
        rt->block_on(value(1));
      } catch (const weft::runtime_misuse& e) {
        *block_on_error = e.what();
      }
      try {
        weft::spawn(value(2));
      } catch (const weft::runtime_misuse& e) {
        *spawn_error = e.what();
      }
    }
  };

  TEST_CASE("block_on and spawn from a task's destructor at shutdown say the runtime is shutting down") {
    watchdog dog(60s, "calls from destructors at shutdown");
    std::string block_on_error, spawn_error;
    {
      weft::runtime rt{workers(2)};
      std::atomic<bool> started{false};
      rt.spawn([](calls_back_at_shutdown guard, std::atomic<bool>& started) -> weft::task<void> {
        started = true;
        co_await weft::sleep_for(1h);
        (void)guard;
      }(calls_back_at_shutdown{&rt, &block_on_error, &spawn_error}, started));
      while (!started) std::this_thread::sleep_for(1ms);
    }
    CHECK(block_on_error.find("shutting down") != std::string::npos);
    CHECK(spawn_error.find("shutting down") != std::string::npos);
  }

  // Forked children (see child_process.hpp): no watchdog in these.
  TEST_CASE("a runtime destroyed from one of its own tasks dies with a clear message") {
    auto child = weft_test::run_in_child(
        [] {
          auto rt = std::make_unique<weft::runtime>(workers(2));
          rt->block_on([](std::unique_ptr<weft::runtime>& rt) -> weft::task<void> {
            rt.reset();
            co_return;
          }(rt));
          return 0;
        },
        sanitized ? 120s : 30s);
    INFO("child stderr: ", child.err);
    REQUIRE(child.finished);
    CHECK(child.killed_by(SIGABRT));
    CHECK(child.err.find("weft: a runtime was destroyed from one of its own threads") != std::string::npos);
  }

  TEST_CASE("a runtime whose worker threads cannot all start throws, and cleans up") {
    // The address-space limit leaves room for a few thread stacks, not 64.
    // The sanitizers reserve terabytes of shadow memory up front, so
    // there the limit cannot be set.
    if (sanitized) return;
    auto child = weft_test::run_in_child(
        [] {
          // 64 MiB stacks, so none comes from glibc's cache of stacks that
          // threads of earlier tests left (copied by fork).
          pthread_attr_t attr;
          if (::pthread_attr_init(&attr) != 0 || ::pthread_attr_setstacksize(&attr, 64 << 20) != 0 ||
              ::pthread_setattr_default_np(&attr) != 0)
            return 3;
          rlimit lim{};
          unsigned long pages = 0;
          FILE* f = std::fopen("/proc/self/statm", "r");
          if (!f || std::fscanf(f, "%lu", &pages) != 1 || ::getrlimit(RLIMIT_AS, &lim) != 0) return 3;
          std::fclose(f);
          lim.rlim_cur = pages * std::size_t(::sysconf(_SC_PAGESIZE)) + (200 << 20);  // three stacks' worth
          if (::setrlimit(RLIMIT_AS, &lim) != 0) return 3;
          try {
            weft::runtime rt{workers(64)};
            return 4;  // every thread started: the limit did not bite
          } catch (const std::system_error& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 0;
          } catch (const std::exception& e) {
            std::fprintf(stderr, "other: %s\n", e.what());
            return 5;
          }
        },
        30s);
    INFO("child stderr: ", child.err);
    REQUIRE(child.finished);
    CHECK(child.exited(0));
    CHECK(child.err.find("weft::runtime: could not start worker thread") != std::string::npos);
  }
}
