// weft::spawn_blocking: results and exceptions, the pool growing to run
// concurrent jobs and shrinking when idle, and abort of a job still queued.
#include <doctest/doctest.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <runtime/runtime.hpp>
#include <tests/support/child_process.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::workers;

namespace {

using clock_type = std::chrono::steady_clock;

// A gate that blocking jobs wait at, with a bounded wait so that a pool that
// fails to grow fails the test instead of hanging it.
class gate {
 public:
  // Arrives and waits until `n` have arrived; false on timeout.
  bool arrive_and_wait(int n, std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mutex_);
    ++arrived_;
    cv_.notify_all();
    return cv_.wait_for(lock, limit, [&] { return arrived_ >= n || open_; });
  }
  bool wait_open(std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(mutex_);
    ++arrived_;
    cv_.notify_all();
    return cv_.wait_for(lock, limit, [&] { return open_; });
  }
  int arrived() {
    std::lock_guard lock(mutex_);
    return arrived_;
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int arrived_ = 0;
  bool open_ = false;
};

struct blocking_results {
  int value = 0;
  std::string error;
  bool void_ran = false;
  std::unique_ptr<int> boxed;
  bool off_worker = false;
};

weft::task<blocking_results> basic_jobs() {
  blocking_results r;
  r.value = co_await weft::spawn_blocking([] { return 6 * 7; });
  try {
    co_await weft::spawn_blocking([]() -> int { throw std::runtime_error("blocking failed"); });
  } catch (const std::runtime_error& e) {
    r.error = e.what();
  }
  bool ran = false;
  co_await weft::spawn_blocking([&ran] { ran = true; });
  r.void_ran = ran;
  r.boxed = co_await weft::spawn_blocking([] { return std::make_unique<int>(5); });
  // The job runs on a pool thread, not on the worker that awaits it.
  std::thread::id me = std::this_thread::get_id();
  std::thread::id there = co_await weft::spawn_blocking([] { return std::this_thread::get_id(); });
  r.off_worker = me != there;
  co_return r;
}

struct grow_results {
  int all_met = 0;
  std::size_t distinct_threads = 0;
};

weft::task<grow_results> grow(int n, gate& g) {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  std::vector<weft::join_handle<bool>> hs;
  for (int i = 0; i < n; ++i)
    hs.push_back(weft::spawn_blocking([&, n] {
      {
        std::lock_guard lock(mutex);
        threads.insert(std::this_thread::get_id());
      }
      // Every job waits until all n are inside: possible only on n threads.
      return g.arrive_and_wait(n);
    }));
  grow_results r;
  for (auto& h : hs) r.all_met += (co_await h) ? 1 : 0;
  r.distinct_threads = threads.size();
  co_return r;
}

// True while the task sits suspended in an await: neither queued, running
// nor complete (for a spawn_blocking task: its job is in the pool).
template <class T>
bool is_suspended(const weft::join_handle<T>& h) {
  namespace st = weft::detail::state;
  std::uint32_t s = h.header()->state.load(std::memory_order_acquire);
  return (s & (st::notified | st::running | st::complete)) == 0;
}

template <class Pred>
weft::task<bool> eventually(Pred pred, std::chrono::milliseconds limit = 5s) {
  auto deadline = clock_type::now() + limit;
  while (!pred()) {
    if (clock_type::now() > deadline) co_return false;
    co_await weft::sleep_for(200us);
  }
  co_return true;
}

struct abort_results {
  bool first_started = false, second_queued = false, second_cancelled = false;
  int first_value = 0;
};

weft::task<abort_results> abort_queued(gate& g, std::atomic<bool>& second_ran) {
  abort_results r;
  // One pool thread, held by the first job: the second job stays queued.
  weft::join_handle<int> first = weft::spawn_blocking([&g] { return g.wait_open() ? 1 : -1; });
  r.first_started = co_await eventually([&] { return g.arrived() == 1; });
  weft::join_handle<int> second = weft::spawn_blocking([&second_ran] {
    second_ran = true;
    return 2;
  });
  r.second_queued = co_await eventually([&] { return is_suspended(second); });
  second.abort();
  try {
    (void)co_await second;
  } catch (const weft::cancelled&) {
    r.second_cancelled = true;
  }
  g.open();
  r.first_value = co_await first;
  co_return r;
}

struct running_abort_results {
  bool started = false;
  int value = 0;
  bool threw = false;
};

weft::task<running_abort_results> abort_running(gate& g, std::atomic<bool>& finished) {
  running_abort_results r;
  weft::join_handle<int> h = weft::spawn_blocking([&] {
    bool opened = g.wait_open();
    finished = true;
    return opened ? 3 : -1;
  });
  r.started = co_await eventually([&] { return g.arrived() == 1 && is_suspended(h); });
  h.abort();  // too late to drop the job: it runs to its end
  g.open();
  try {
    r.value = co_await h;
  } catch (const weft::cancelled&) {
    r.threw = true;
  }
  co_return r;
}

weft::task<int> capped(int jobs, std::atomic<int>& inside, std::atomic<int>& most) {
  std::vector<weft::join_handle<int>> hs;
  for (int i = 0; i < jobs; ++i)
    hs.push_back(weft::spawn_blocking([&] {
      int now = ++inside;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(5ms);
      --inside;
      return 1;
    }));
  int done = 0;
  for (auto& h : hs) done += co_await h;
  co_return done;
}

}  // namespace

// Lets the address space grow by `room` bytes beyond what is mapped now
// (soft limit only, so it can be raised again).
bool limit_address_space(std::size_t room) {
  unsigned long pages = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return false;
  bool read = std::fscanf(f, "%lu", &pages) == 1;
  std::fclose(f);
  rlimit lim{};
  if (!read || ::getrlimit(RLIMIT_AS, &lim) != 0) return false;
  lim.rlim_cur = pages * std::size_t(::sysconf(_SC_PAGESIZE)) + room;
  return ::setrlimit(RLIMIT_AS, &lim) == 0;
}

// Runs n jobs of 20 ms at once; returns how many ended well, and the
// message of a failure.
weft::task<int> run_jobs(int n, std::string& failure) {
  std::vector<weft::join_handle<int>> jobs;
  for (int i = 0; i < n; ++i)
    jobs.push_back(weft::spawn_blocking([] {
      std::this_thread::sleep_for(20ms);
      return 1;
    }));
  int ok = 0;
  for (auto& h : jobs) {
    try {
      ok += co_await h;
    } catch (const std::system_error& e) {
      failure = e.what();
    }
  }
  co_return ok;
}

TEST_SUITE("runtime/blocking") {
  TEST_CASE("spawn_blocking returns values and rethrows exceptions, off the workers") {
    weft::runtime rt{workers(2)};
    blocking_results r = rt.block_on(basic_jobs());
    CHECK(r.value == 42);
    CHECK(r.error == "blocking failed");
    CHECK(r.void_ran);
    REQUIRE(r.boxed);
    CHECK(*r.boxed == 5);
    CHECK(r.off_worker);
  }

  TEST_CASE("spawn and spawn_blocking outside any runtime say which was called") {
    // spawn_blocking's error named weft::spawn.
    CHECK_THROWS_WITH_AS(weft::spawn_blocking([] { return 1; }),
                         "weft::spawn_blocking: no runtime here (call it from a task, or use runtime::spawn)",
                         weft::runtime_misuse);
    CHECK_THROWS_WITH_AS(weft::spawn([]() -> weft::task<int> { co_return 1; }()),
                         "weft::spawn: no runtime here (call it from a task, or use runtime::spawn)",
                         weft::runtime_misuse);
  }

  TEST_CASE("the pool grows to run concurrent blocking jobs on as many threads") {
    weft::runtime rt{workers(2)};
    constexpr int n = 8;
    gate g;
    grow_results r = rt.block_on(grow(n, g));
    CHECK(r.all_met == n);
    CHECK(r.distinct_threads == n);
    CHECK(rt.metrics().blocking_threads >= n);
  }

  TEST_CASE("idle pool threads leave after blocking_keep_alive") {
    weft::runtime_config cfg = workers(2);
    cfg.blocking_keep_alive = 50ms;
    weft::runtime rt{cfg};
    constexpr int n = 4;
    gate g;
    grow_results r = rt.block_on(grow(n, g));
    CHECK(r.all_met == n);
    auto deadline = clock_type::now() + 5s;
    while (rt.metrics().blocking_threads != 0 && clock_type::now() < deadline)
      std::this_thread::sleep_for(5ms);
    CHECK(rt.metrics().blocking_threads == 0);
    CHECK(rt.metrics().blocking_idle_threads == 0);
    // And the pool grows again afterwards.
    gate again;
    CHECK(rt.block_on(grow(2, again)).all_met == 2);
  }

  TEST_CASE("the pool never runs more than max_blocking_threads jobs at once") {
    weft::runtime_config cfg = workers(2);
    cfg.max_blocking_threads = 2;
    weft::runtime rt{cfg};
    std::atomic<int> inside{0}, most{0};
    CHECK(rt.block_on(capped(8, inside, most)) == 8);
    CHECK(most.load() <= 2);
    CHECK(most.load() >= 1);
    CHECK(rt.metrics().blocking_threads <= 2);
  }

  TEST_CASE("abort of a job that has not started drops it: the join sees cancelled") {
    weft::runtime_config cfg = workers(2);
    cfg.max_blocking_threads = 1;
    weft::runtime rt{cfg};
    gate g;
    std::atomic<bool> second_ran{false};
    abort_results r = rt.block_on(abort_queued(g, second_ran));
    CHECK(r.first_started);
    CHECK(r.second_queued);
    CHECK(r.second_cancelled);
    CHECK(r.first_value == 1);
    CHECK_FALSE(second_ran.load());
  }

  TEST_CASE("abort of a running job lets it finish, and its result is not lost") {
    weft::runtime rt{workers(2)};
    gate g;
    std::atomic<bool> finished{false};
    running_abort_results r = rt.block_on(abort_running(g, finished));
    CHECK(r.started);
    CHECK(finished.load());
    CHECK_FALSE(r.threw);
    CHECK(r.value == 3);
  }

  // Forked child (see child_process.hpp): no watchdog in this one.
  TEST_CASE("when no pool thread can be started, jobs wait for a busy one, or fail clearly if there is none") {
    // The sanitizers reserve terabytes of shadow memory up front: an
    // address-space limit cannot be set under them.
    if (weft_test::sanitized) return;
    auto child = weft_test::run_in_child(
        [] {
          weft::runtime rt{workers(1)};
          std::string failure;
          // New threads get 64 MiB stacks, so none comes from glibc's cache
          // of stacks that threads of earlier tests left (copied by fork).
          pthread_attr_t attr;
          if (::pthread_attr_init(&attr) != 0 || ::pthread_attr_setstacksize(&attr, 64 << 20) != 0 ||
              ::pthread_setattr_default_np(&attr) != 0)
            return 3;
          // No room for such a stack: with no pool thread at all, every job
          // fails, saying why.
          if (!limit_address_space(2 << 20)) return 3;
          int ok = rt.block_on(run_jobs(3, failure));
          std::fprintf(stderr, "none: ok %d, %s\n", ok, failure.c_str());
          if (ok != 0 || failure.find("weft::spawn_blocking: could not start a thread") == std::string::npos)
            return 4;
          // Room for one thread: it runs all four jobs, one after another.
          failure.clear();
          if (!limit_address_space(80 << 20)) return 3;
          ok = rt.block_on(run_jobs(4, failure));
          std::fprintf(stderr, "one: ok %d, %s\n", ok, failure.c_str());
          if (ok != 4) return 5;
          return 0;  // and the runtime shuts down (it used to wait for a thread that never was)
        },
        30s);
    INFO("child stderr: ", child.err);
    REQUIRE(child.finished);
    CHECK(child.exited(0));
  }
}
