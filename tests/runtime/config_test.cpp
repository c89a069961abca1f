// weft::runtime_config: the worker count from the config and from
// WEFT_WORKER_THREADS, bad values, thread names, and degenerate settings.
#include <doctest/doctest.h>

#include <pthread.h>
#include <sched.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::workers;

namespace {

// Sets (or unsets) an environment variable for its lifetime, then restores it.
class env_override {
 public:
  env_override(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  env_override(const env_override&) = delete;
  env_override& operator=(const env_override&) = delete;
  ~env_override() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

weft::task<std::string> thread_name() {
  char name[32] = {};
  pthread_getname_np(pthread_self(), name, sizeof name);
  co_return std::string(name);
}

weft::task<int> child(int v) {
  co_await weft::yield_now();
  co_return v;
}

// Touches every part the degenerate settings feed: the event and inject
// intervals, the budget, the blocking pool, timers.
weft::task<int> exercise() {
  int sum = 0;
  for (int i = 0; i < 200; ++i) sum += co_await weft::spawn(child(1));
  for (int i = 0; i < 50; ++i) co_await weft::sleep_for(0ms);
  co_await weft::sleep_for(1ms);
  sum += co_await weft::spawn_blocking([] { return 1; });
  sum += co_await weft::spawn_blocking([] { return 1; });
  co_return sum;
}

}  // namespace

TEST_SUITE("runtime/config") {
  TEST_CASE("worker_count follows runtime_config::worker_threads") {
    for (std::size_t n : {1u, 2u, 3u}) {
      CAPTURE(n);
      weft::runtime rt{workers(n)};
      CHECK(rt.worker_count() == n);
      CHECK(rt.metrics().workers.size() == n);
    }
  }

  TEST_CASE("worker_threads = 0 reads WEFT_WORKER_THREADS") {
    env_override env("WEFT_WORKER_THREADS", "3");
    weft::runtime rt{workers(0)};
    CHECK(rt.worker_count() == 3);
    weft::runtime by_default;  // the default config has worker_threads = 0 as well
    CHECK(by_default.worker_count() == 3);
  }

  TEST_CASE("an explicit worker_threads wins over WEFT_WORKER_THREADS") {
    env_override env("WEFT_WORKER_THREADS", "3");
    weft::runtime rt{workers(2)};
    CHECK(rt.worker_count() == 2);
  }

  TEST_CASE("without WEFT_WORKER_THREADS there is one worker per CPU the process may use") {
    env_override env("WEFT_WORKER_THREADS", nullptr);
    cpu_set_t mask;
    REQUIRE(sched_getaffinity(0, sizeof mask, &mask) == 0);
    weft::runtime rt{workers(0)};
    CHECK(rt.worker_count() == std::size_t(CPU_COUNT(&mask)));
  }

  TEST_CASE("under a narrowed CPU mask: that many workers, pinned inside it") {
    // The count and the pinning went by the machine's cores: two workers
    // under `taskset -c 1`, and worker 0 pinned to CPU 0, outside the mask.
    env_override env("WEFT_WORKER_THREADS", nullptr);
    cpu_set_t mask;
    REQUIRE(sched_getaffinity(0, sizeof mask, &mask) == 0);
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &mask)) last = c;
    REQUIRE(last >= 0);
    std::thread narrowed([&] {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(last, &one);
      REQUIRE(pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0);
      {
        weft::runtime rt{workers(0)};
        CHECK(rt.worker_count() == 1);
      }
      weft::runtime_config cfg = workers(2);
      cfg.pin_threads = true;
      weft::runtime rt{cfg};
      // Every worker (each polls one of these) sits on the one CPU allowed.
      int elsewhere = rt.block_on([](int cpu) -> weft::task<int> {
        int off = 0;
        for (int i = 0; i < 20; ++i) {
          std::vector<weft::join_handle<int>> hs;
          for (int k = 0; k < 8; ++k)
            hs.push_back(weft::spawn([](int cpu) -> weft::task<int> {
              co_await weft::yield_now();
              co_return sched_getcpu() != cpu;
            }(cpu)));
          for (auto& h : hs) off += co_await h;
        }
        co_return off;
      }(last));
      CHECK(elsewhere == 0);
    });
    narrowed.join();
  }

  TEST_CASE("a bad WEFT_WORKER_THREADS throws runtime_misuse") {
    for (const char* bad : {"0", "-2", "abc", "3x", "4097", "99999999999999999999999"}) {
      CAPTURE(bad);
      env_override env("WEFT_WORKER_THREADS", bad);
      CHECK_THROWS_AS(weft::runtime{workers(0)}, weft::runtime_misuse);
    }
  }

  TEST_CASE("worker threads carry the configured name") {
    weft::runtime_config cfg = workers(2);
    cfg.thread_name = "cfgtest";
    weft::runtime rt{cfg};
    std::string name = rt.block_on(thread_name());
    CHECK(name.rfind("cfgtest-", 0) == 0);
    // Default name, truncated to the 15 characters Linux allows.
    weft::runtime plain{workers(1)};
    CHECK(plain.block_on(thread_name()) == "weft-worker-0");
  }

  TEST_CASE("the OS shows the workers' names once the constructor returns") {
    // They were set by each thread as it started: a new user's program that
    // read /proc right after construction saw the process's name.
    weft::runtime_config cfg = workers(3);
    cfg.thread_name = "early";
    for (int round = 0; round < 20; ++round) {
      weft::runtime rt{cfg};
      int named = 0;
      for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(entry.path() / "comm");
        std::string name;
        std::getline(comm, name);
        named += name.rfind("early-", 0) == 0;
      }
      CHECK(named == 3);
    }
  }

  TEST_CASE("a long thread name is cut before the index, an empty one is the default") {
    weft::runtime_config cfg = workers(1);
    cfg.thread_name = "a-very-long-thread-name";
    weft::runtime rt{cfg};
    CHECK(rt.block_on(thread_name()) == "a-very-long-t-0");
    cfg.thread_name = "";
    weft::runtime unnamed{cfg};
    CHECK(unnamed.block_on(thread_name()) == "weft-worker-0");
  }

  TEST_CASE("worker_threads above 4096 throws runtime_misuse") {
    for (std::size_t bad : {std::size_t{4097}, ~std::size_t{0}}) {
      CAPTURE(bad);
      try {
        weft::runtime rt{workers(bad)};
        FAIL("no error");
      } catch (const weft::runtime_misuse& e) {
        CHECK(std::string(e.what()).find("worker_threads must be at most 4096") != std::string::npos);
      }
    }
  }

  TEST_CASE("degenerate settings are clamped to something that works") {
    weft::runtime_config cfg = workers(2);
    cfg.event_interval = 0;
    cfg.global_queue_interval = 0;
    cfg.budget = 0;
    cfg.max_lifo_polls = 0;
    cfg.max_blocking_threads = 0;
    cfg.reactor_rescue_after = 0us;
    cfg.blocking_keep_alive = 0ms;
    weft::runtime rt{cfg};
    CHECK(rt.block_on(exercise()) == 202);
  }

  TEST_CASE("pinned workers run tasks") {
    weft::runtime_config cfg = workers(2);
    cfg.pin_threads = true;
    weft::runtime rt{cfg};
    CHECK(rt.block_on(exercise()) == 202);
  }
}
