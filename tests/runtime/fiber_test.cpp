#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/post.hpp>

#include <runtime/detail/scheduler.hpp>
#include <runtime/fiber.hpp>
#include <runtime/runtime.hpp>
#include <sync/channel.hpp>
#include <sync/event.hpp>
#include <sync/mutex.hpp>
#include <tests/support/child_process.hpp>
#include <tests/support/watchdog.hpp>

using namespace std::chrono_literals;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

constexpr int scaled(int full, int small) { return sanitized ? small : full; }

weft::runtime_config workers(std::size_t n) {
  weft::runtime_config cfg;
  cfg.worker_threads = n;
  return cfg;
}
using weft_test::watchdog;
// Sanitized builds run the same work several times slower.
constexpr std::chrono::seconds watch_limit(std::chrono::seconds limit) {
  return sanitized ? limit * 5 : limit;
}

// Fresh reads of per-thread state. noipa (which implies noinline): the
// compiler may neither inline them nor, having seen that they only call
// const functions, reuse an earlier result.
[[gnu::noipa]] std::thread::id fresh_thread_id() { return std::this_thread::get_id(); }
[[gnu::noipa]] std::size_t fresh_worker_index() {
  weft::detail::worker* w = weft::detail::current_worker();
  return w ? w->index() : SIZE_MAX;
}
thread_local std::size_t tls_marker = SIZE_MAX;
[[gnu::noipa]] std::size_t read_marker() { return tls_marker; }
[[gnu::noipa]] void write_marker(std::size_t v) { tls_marker = v; }

// Counts live instances, to see destructors on fiber stacks run.
struct tracked {
  explicit tracked(std::atomic<int>& live) : live_(&live) { live_->fetch_add(1); }
  tracked(tracked&& o) noexcept : live_(std::exchange(o.live_, nullptr)) {}
  tracked(const tracked&) = delete;
  ~tracked() {
    if (live_) live_->fetch_sub(1);
  }
  std::atomic<int>* live_;
};

weft::task<int> add(int a, int b) {
  co_await weft::yield_now();
  co_return a + b;
}

// Not a lambda: a spawned lambda coroutine outlives its closure and must
// not capture anything.
weft::task<void> set_flag(std::atomic<bool>* flag) {
  flag->store(true);
  co_return;
}

weft::task<long> square(long x) {
  co_await weft::yield_now();
  co_return x * x;
}

// Resumes the awaiting task from worker `target`'s own thread, so that it
// lands in that worker's LIFO slot. Two steps, so the wake-up never meets the
// task still inside the poll that suspended it: the first handler runs on the
// current worker's reactor once that poll is over, and posts the wake to the
// target's reactor. (If an idle peer rescues either reactor, the task may run
// elsewhere: still another thread, usually; the test counts.)
struct hop_to {
  explicit hop_to(std::size_t worker) noexcept : target(worker) {}
  std::size_t target;

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    weft::detail::task_header* t = weft::detail::running_task(h);
    t->resume_point = h;
    weft::detail::scheduler* s = weft::detail::current_scheduler();
    boost::asio::io_context& there = s->worker_at(target).io();
    boost::asio::post(weft::detail::current_worker()->io(), [t, &there] {
      boost::asio::post(there, [t] { weft::detail::wake(t); });
    });
    return true;
  }
  void await_resume() const noexcept {}
};

}  // namespace

TEST_SUITE("runtime/fiber") {

TEST_CASE("a fiber sleeps, yields, joins a task and returns a value") {
  watchdog dog(watch_limit(60s), "basic");
  weft::runtime rt{workers(2)};
  int r = rt.block_on(weft::fiber_task([] {
    CHECK(weft::in_fiber());
    weft::await(weft::sleep_for(1ms));
    weft::await(weft::yield_now());
    weft::join_handle<int> h = weft::spawn(add(1, 2));
    int joined = weft::await(h);
    int inline_task = weft::await(add(3, 4));  // a task awaited inline, on the driver
    return joined + inline_task;
  }));
  CHECK(r == 10);
  CHECK_FALSE(weft::in_fiber());
}

weft::task<int> ready_one() { co_return 1; }

TEST_CASE("a fiber awaiting a million tasks that complete at once keeps a constant stack") {
  // Each await runs the task on the driver's (worker's) stack; without tail
  // calls (sanitizers, -O0) only the bounces of detail::transfer_inline
  // unwind what the transfers leave there.
  watchdog dog(watch_limit(120s), "ready awaits");
  weft::runtime rt{workers(1)};
  const int n = scaled(1'000'000, 200'000);
  int r = rt.block_on(weft::fiber_task([n] {
    int sum = 0;
    for (int i = 0; i < n; ++i) sum += weft::await(ready_one());
    return sum;
  }));
  CHECK(r == n);
}

TEST_CASE("weft::await outside a fiber is runtime_misuse") {
  watchdog dog(watch_limit(60s), "misuse");
  CHECK_THROWS_AS(weft::await(weft::yield_now()), weft::runtime_misuse);
  weft::runtime rt{workers(1)};
  bool threw = rt.block_on([]() -> weft::task<bool> {
    try {
      weft::await(weft::sleep_for(1ms));  // a coroutine task must co_await
    } catch (const weft::runtime_misuse&) {
      co_return true;
    }
    co_return false;
  }());
  CHECK(threw);
}

TEST_CASE("fibers and coroutine tasks await each other") {
  watchdog dog(watch_limit(60s), "interop");
  weft::runtime rt{workers(2)};
  int r = rt.block_on([]() -> weft::task<int> {
    // A task joins a fiber that joins a task.
    weft::join_handle<int> f = weft::spawn_fiber([] {
      weft::join_handle<int> t = weft::spawn(add(20, 22));
      return weft::await(t);
    });
    int a = co_await f;
    // A task awaits a fiber inline.
    int b = co_await weft::fiber_task([] { return weft::await(add(1, 1)); });
    // A fiber joins a fiber, and uses when_all over a task and a fiber.
    int c = co_await weft::spawn_fiber([] {
      weft::join_handle<int> inner = weft::spawn_fiber([] {
        weft::await(weft::sleep_for(1ms));
        return 5;
      });
      auto [x, y] = weft::await(weft::when_all(add(2, 3), weft::fiber_task([] { return 7; })));
      // A fiber awaiting a fiber inline: the inner one runs from the driver's
      // stack, never nested on this one.
      int z = weft::await(weft::fiber_task([] {
        weft::await(weft::yield_now());
        return 1;
      }));
      return weft::await(inner) + x + y + z;
    });
    // timeout() over a fiber that is too slow.
    bool timed_out = false;
    try {
      co_await weft::timeout(5ms, weft::fiber_task([] {
        weft::await(weft::sleep_for(1h));
        return 0;
      }));
    } catch (const weft::timed_out&) {
      timed_out = true;
    }
    CHECK(timed_out);
    co_return a + b + c;
  }());
  CHECK(r == 42 + 2 + 18);
}

// One run of the mixed fiber workload on a fresh runtime: checks every
// result, and returns whether every worker ended at least one fiber.
static bool many_fibers_once(std::size_t n_workers) {
  const int n = scaled(10000, 2000);
  // How far the fibers got, for the watchdog's report should they hang.
  std::atomic<int> slept{0}, yielded{0}, joined{0}, sent{0}, locked{0}, received{0};
  watchdog dog(watch_limit(120s), "many fibers", [&] {
    return "slept " + std::to_string(slept.load()) + ", yielded " + std::to_string(yielded.load()) +
           ", joined " + std::to_string(joined.load()) + ", sent " + std::to_string(sent.load()) +
           ", locked " + std::to_string(locked.load()) + ", received " + std::to_string(received.load()) +
           " of " + std::to_string(n);
  });
  weft::channel<long> ch{64};
  weft::mutex m;
  long guarded = 0;  // only touched under m
  std::vector<std::atomic<int>> ended_on(n_workers);
  weft::runtime rt{workers(n_workers)};
  auto [total, sum_received] = rt.block_on([&]() -> weft::task<std::pair<long, long>> {
    // The consumer is a fiber too: it waits on recv while the producers wait
    // on send (capacity 64 for 10,000 senders).
    weft::join_handle<long> consumer = weft::spawn_fiber([&] {
      long sum = 0;
      for (int i = 0; i < n; ++i) {
        sum += weft::await(ch.recv()).value();
        received.fetch_add(1, std::memory_order_relaxed);
      }
      return sum;
    });
    std::vector<weft::join_handle<long>> hs;
    hs.reserve(std::size_t(n));
    for (int i = 0; i < n; ++i) {
      hs.push_back(weft::spawn_fiber([&, i] {
        weft::await(weft::sleep_for(std::chrono::microseconds(50 + (i * 7919) % 2000)));
        slept.fetch_add(1, std::memory_order_relaxed);
        weft::await(weft::yield_now());
        yielded.fetch_add(1, std::memory_order_relaxed);
        long sq = weft::await(weft::spawn(square(i)));
        joined.fetch_add(1, std::memory_order_relaxed);
        weft::await(ch.send(long(i)));
        sent.fetch_add(1, std::memory_order_relaxed);
        {
          auto g = weft::await(m.lock());
          ++guarded;
        }
        locked.fetch_add(1, std::memory_order_relaxed);
        ended_on[fresh_worker_index()].fetch_add(1, std::memory_order_relaxed);
        return sq;
      }));
    }
    long sum = 0;
    for (auto& h : hs) sum += co_await h;
    co_return std::pair{sum, co_await consumer};
  }());
  long want_total = 0;
  for (long i = 0; i < n; ++i) want_total += i * i;
  CHECK(total == want_total);
  CHECK(sum_received == long(n) * (n - 1) / 2);
  CHECK(guarded == n);
  int sum_ended = 0;
  bool all_took_part = true;
  std::string per_worker;
  for (std::size_t w = 0; w < n_workers; ++w) {
    all_took_part = all_took_part && ended_on[w].load() > 0;
    sum_ended += ended_on[w].load();
    per_worker += std::to_string(ended_on[w].load()) + " ";
  }
  CHECK(sum_ended == n);
  std::uint64_t steals = 0;
  for (auto& w : rt.metrics().workers) steals += w.steals;
  MESSAGE("workers ", n_workers, ": fibers ended per worker: ", per_worker, "steals: ", steals);
  return all_took_part;
}

static void many_fibers(std::size_t n_workers) {
  // Fibers are spread over (stolen by, rescued onto) every worker. One run
  // lasts ~50 ms, and a worker thread that the OS (or the hypervisor) does
  // not schedule for that long takes no part through no fault of ours: seen
  // once in CI. A second and third run on fresh runtimes tell that apart from
  // a worker that is never woken, which fails all three.
  constexpr int attempts = 3;
  bool spread = false;
  for (int a = 0; a < attempts && !spread; ++a) {
    spread = many_fibers_once(n_workers);
    if (!spread) MESSAGE("a worker ended no fiber in run ", a + 1, " of at most ", attempts);
  }
  CHECK(spread);
}

TEST_CASE("10,000 fibers sleep, yield, join, send, recv and lock on 2 workers") { many_fibers(2); }
TEST_CASE("10,000 fibers sleep, yield, join, send, recv and lock on 4 workers") { many_fibers(4); }

TEST_CASE("aborting a fiber cancels its pending await and unwinds its stack") {
  watchdog dog(watch_limit(60s), "abort");
  weft::runtime rt{workers(2)};
  std::atomic<int> live{0};
  std::atomic<int> started{0};
  rt.block_on([&]() -> weft::task<void> {
    // Waiting on a long sleep.
    weft::join_handle<int> sleeper = weft::spawn_fiber([&] {
      tracked t(live);
      started.fetch_add(1);
      weft::await(weft::sleep_for(1h));
      return 1;
    });
    // Waiting on a join of a task that never ends on its own.
    weft::join_handle<void> forever = weft::spawn([]() -> weft::task<void> {
      co_await weft::sleep_for(1h);
    }());
    weft::join_handle<bool> joiner = weft::spawn_fiber([&] {
      tracked t(live);
      started.fetch_add(1);
      try {
        weft::await(forever);
      } catch (const weft::cancelled&) {
        return true;  // the wait ended with cancelled
      }
      return false;
    });
    while (started.load() < 2) co_await weft::sleep_for(100us);
    co_await weft::sleep_for(1ms);  // let both reach their await
    CHECK(live.load() == 2);
    auto t0 = std::chrono::steady_clock::now();
    sleeper.abort();
    joiner.abort();
    bool sleeper_cancelled = false;
    try {
      co_await sleeper;
    } catch (const weft::cancelled&) {
      sleeper_cancelled = true;
    }
    CHECK(sleeper_cancelled);
    CHECK(co_await joiner);
    CHECK(std::chrono::steady_clock::now() - t0 < 10s);
    CHECK(live.load() == 0);  // both fibers' stacks unwound
    forever.abort();
    try {
      co_await forever;
    } catch (const weft::cancelled&) {
    }
    // Aborted before it ever ran: the function never starts.
    bool ran = false;
    weft::join_handle<void> never = weft::spawn_fiber([&] { ran = true; });
    never.abort();
    bool never_cancelled = false;
    try {
      co_await never;
    } catch (const weft::cancelled&) {
      never_cancelled = true;
    }
    CHECK(never_cancelled);
    CHECK_FALSE(ran);
  }());
}

TEST_CASE("a fiber that throws: the join rethrows") {
  watchdog dog(watch_limit(60s), "throws");
  weft::runtime rt{workers(2)};
  std::atomic<int> live{0};
  std::string what = rt.block_on([&]() -> weft::task<std::string> {
    weft::join_handle<int> h = weft::spawn_fiber([&]() -> int {
      tracked t(live);
      weft::await(weft::sleep_for(1ms));
      weft::await(weft::yield_now());
      throw std::runtime_error("fiber failed");
    });
    try {
      co_await h;
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "no exception";
  }());
  CHECK(what == "fiber failed");
  CHECK(live.load() == 0);
  // And from a fiber joining a fiber.
  bool caught = rt.block_on(weft::fiber_task([] {
    weft::join_handle<void> h = weft::spawn_fiber([] { throw std::logic_error("inner"); });
    try {
      weft::await(h);
    } catch (const std::logic_error& e) {
      return std::string(e.what()) == "inner";
    }
    return false;
  }));
  CHECK(caught);
}

TEST_CASE("resumption on another worker: no thread-local state survives a suspension") {
  watchdog dog(watch_limit(240s), "migration");
  const int n = scaled(100000, 10000);
  constexpr std::size_t n_workers = 2;
  weft::runtime rt{workers(n_workers)};
  struct counts {
    int stale_get_id = 0;     // std::this_thread::get_id() after the await disagreed with a fresh read
    int wrong_worker = 0;     // the worker weft says we are on is not this thread's
    int stale_marker = 0;     // a thread_local read after the await was another thread's
    int migrations = 0;       // resumed on another thread than the one we left
    int landed_on_target = 0;
    bool learned_all = false;  // every worker's thread was identified first
  };
  std::vector<std::thread::id> worker_thread(n_workers);
  counts c = rt.block_on(weft::fiber_task([&] {
    counts k;
    // Learn each worker's thread, and give each worker's thread_local its
    // index. (A hop may land elsewhere when a peer rescues a reactor: keep
    // hopping until every worker has been seen.)
    std::size_t learned = 0;
    for (int tries = 0; learned < n_workers && tries < 10000; ++tries) {
      weft::await(hop_to(std::size_t(tries) % n_workers));
      std::size_t here = fresh_worker_index();
      if (here < n_workers && worker_thread[here] == std::thread::id{}) {
        worker_thread[here] = fresh_thread_id();
        write_marker(here);
        ++learned;
      }
    }
    k.learned_all = learned == n_workers;
    if (!k.learned_all) return k;
    for (int i = 0; i < n; ++i) {
      std::size_t target = std::size_t(i) % n_workers;
      std::thread::id before = fresh_thread_id();
      weft::await(hop_to(target));
      std::thread::id after = std::this_thread::get_id();  // read in the body, after the await
      std::thread::id fresh = fresh_thread_id();
      std::size_t w = fresh_worker_index();
      if (after != fresh) ++k.stale_get_id;
      if (w >= n_workers || worker_thread[w] != fresh) ++k.wrong_worker;
      if (read_marker() != w) ++k.stale_marker;
      if (fresh != before) ++k.migrations;
      if (w == target) ++k.landed_on_target;
    }
    return k;
  }));
  MESSAGE("resumptions: ", n, ", migrations: ", c.migrations, ", on the target worker: ",
          c.landed_on_target);
  CHECK(c.stale_get_id == 0);
  REQUIRE(c.learned_all);
  CHECK(c.wrong_worker == 0);
  CHECK(c.stale_marker == 0);
  CHECK(c.migrations > n / 2);  // the hops did move the fiber
}

TEST_CASE("a fiber may suspend inside a catch handler and rethrow on another worker") {
  watchdog dog(watch_limit(60s), "catch handler");
  weft::runtime rt{workers(2)};
  auto body = [](int id) {
    return [id] {
      try {
        throw std::runtime_error("error " + std::to_string(id));
      } catch (...) {
        for (int i = 0; i < 50; ++i) weft::await(hop_to(std::size_t(i % 2)));
        try {
          throw;  // the exception this fiber caught, wherever it now runs
        } catch (const std::runtime_error& e) {
          if (std::uncaught_exceptions() != 0) return std::string("uncaught count leaked");
          return std::string(e.what());
        }
      }
    };
  };
  auto [a, b] = rt.block_on([&]() -> weft::task<std::pair<std::string, std::string>> {
    weft::join_handle<std::string> x = weft::spawn_fiber(body(1));
    weft::join_handle<std::string> y = weft::spawn_fiber(body(2));
    std::string ra = co_await x;
    co_return std::pair{ra, co_await y};
  }());
  CHECK(a == "error 1");
  CHECK(b == "error 2");
}

TEST_CASE("a fiber that never suspends for real still yields its worker (cooperative budget)") {
  watchdog dog(watch_limit(60s), "budget");
  weft::runtime rt{workers(1)};
  std::atomic<bool> other_ran{false};
  long spins = rt.block_on([&]() -> weft::task<long> {
    weft::join_handle<long> spinner = weft::spawn_fiber([&] {
      long k = 0;
      // A past deadline completes at once and spends budget.
      while (!other_ran.load() && k < 100'000'000) {
        weft::await(weft::sleep_for(0ms));
        ++k;
      }
      return k;
    });
    weft::spawn(set_flag(&other_ran));
    co_return co_await spinner;
  }());
  CHECK(other_ran.load());
  CHECK(spins < 100'000'000);
}

TEST_CASE("stack size per spawn; stacks are pooled and reused") {
  watchdog dog(watch_limit(120s), "stacks");
  weft::runtime rt{workers(2)};
  // A big frame fits in a big stack.
  std::size_t used = rt.block_on(weft::fiber_task(
      [] {
        constexpr std::size_t big = 400 * 1024;
        std::vector<char> dummy;  // keep the frame honest
        volatile char frame[big];
        for (std::size_t i = 0; i < big; i += 4096) frame[i] = char(i);
        weft::await(weft::yield_now());
        std::size_t sum = 0;
        for (std::size_t i = 0; i < big; i += 4096) sum += std::size_t(frame[i] != char(i));
        return sum == 0 ? big : 0;
      },
      {.stack_size = 1024 * 1024 + 512 * 1024, .name = "big-stack"}));
  CHECK(used == 400 * 1024);
  // Sequential fibers reuse a handful of stacks.
  weft::fiber_stats before = weft::fiber_statistics();
  int sum = rt.block_on([]() -> weft::task<int> {
    int s = 0;
    for (int i = 0; i < 2000; ++i) s += co_await weft::spawn_fiber([i] { return i & 1; });
    co_return s;
  }());
  CHECK(sum == 1000);
  weft::fiber_stats after = weft::fiber_statistics();
  CHECK(after.stacks_mapped <= before.stacks_mapped + 8);
  CHECK(after.stacks_in_use == before.stacks_in_use);
}

// Starts `n` fibers of `stack` bytes that wait for `go`; returns the stacks
// mapped while all of them hold one.
weft::task<std::size_t> mapped_with_fibers_waiting(int n, std::size_t stack) {
  weft::event go;
  std::atomic<int> started{0};
  std::vector<weft::join_handle<void>> hs;
  for (int i = 0; i < n; ++i)
    hs.push_back(weft::spawn_fiber(
        [&] {
          started.fetch_add(1);
          weft::await(go.wait());
        },
        {.stack_size = stack}));
  while (started.load() < n) co_await weft::sleep_for(1ms);
  std::size_t mapped = weft::fiber_statistics().stacks_mapped;
  go.set();
  for (auto& h : hs) co_await h;
  co_return mapped;
}

TEST_CASE("a stack pool filled with one size makes room for another") {
  watchdog dog(watch_limit(120s), "pool sizes");
  weft::runtime rt{workers(2)};
  // Fill the shared pool (256 stacks) with small stacks...
  (void)rt.block_on(mapped_with_fibers_waiting(600, 16 * 1024));
  // ...then use default-size ones twice: the second round reuses the first's.
  (void)rt.block_on(mapped_with_fibers_waiting(200, 0));
  std::size_t before = weft::fiber_statistics().stacks_mapped;
  std::size_t during = rt.block_on(mapped_with_fibers_waiting(200, 0));
  CAPTURE(before);
  CAPTURE(during);
  // Before the fix the pool, full of small stacks, unmapped every default
  // one: the second round mapped all 200 anew.
  CHECK(during < before + 40);
}

TEST_CASE("fibers show in the runtime's metrics") {
  watchdog dog(watch_limit(60s), "metrics");
  weft::runtime rt{workers(2)};
  std::size_t alive_during = rt.block_on([&]() -> weft::task<std::size_t> {
    weft::channel<int> gate{1};
    std::vector<weft::join_handle<int>> hs;
    for (int i = 0; i < 10; ++i)
      hs.push_back(weft::spawn_fiber([&gate] { return weft::await(gate.recv()).value_or(-1); }));
    co_await weft::sleep_for(2ms);
    std::size_t alive = rt.metrics().tasks_alive;
    gate.close();
    for (auto& h : hs) CHECK(co_await h == -1);
    co_return alive;
  }());
  CHECK(alive_during >= 11);  // the root and ten fibers
}

TEST_CASE("destroying the runtime unwinds pending fibers and releases their stacks") {
  watchdog dog(watch_limit(120s), "shutdown");
  const int n = scaled(500, 100);
  std::atomic<int> live{0};
  std::atomic<int> parked{0};
  weft::channel<int> never_sent{1};  // outlive the runtime: fibers wait on them
  weft::mutex held;
  const std::size_t in_use_before = weft::fiber_statistics().stacks_in_use;
  {
    weft::runtime rt{workers(2)};
    auto guard = rt.block_on([&]() -> weft::task<weft::mutex::guard> {
      weft::mutex::guard g = co_await held.lock();
      weft::join_handle<void> forever = weft::spawn([]() -> weft::task<void> {
        co_await weft::sleep_for(1h);
      }());
      for (int i = 0; i < n; ++i) {
        weft::spawn_fiber([&, i] {
          tracked outer(live);
          auto nested = [&] {
            tracked inner(live);
            parked.fetch_add(1);
            switch (i % 4) {
              case 0: weft::await(weft::sleep_for(1h)); break;
              case 1: (void)weft::await(never_sent.recv()); break;
              case 2: (void)weft::await(held.lock()); break;
              default: weft::await(weft::spawn([]() -> weft::task<void> {
                  co_await weft::sleep_for(1h);
                }())); break;
            }
          };
          nested();
          FAIL_CHECK("a fiber passed its await during shutdown");
        });
      }
      // And fibers that never start: their functions are destroyed unrun.
      for (int i = 0; i < 10; ++i)
        weft::spawn_fiber([t = tracked(live)] { weft::await(weft::sleep_for(1h)); });
      while (parked.load() < n) co_await weft::sleep_for(200us);
      co_return g;
    }());
    CHECK(live.load() == 2 * n + 10);
    CHECK(weft::fiber_statistics().stacks_in_use >= in_use_before + std::size_t(n));
    guard.release();  // the runtime goes with the mutex still locked
  }
  CHECK(live.load() == 0);
  CHECK(weft::fiber_statistics().stacks_in_use == in_use_before);
}

[[gnu::noinline]] int recurse(int depth) {
  volatile char pad[512];
  pad[0] = char(depth);
  if (depth > 1'000'000'000) return pad[0];
  return recurse(depth + 1) + pad[0];
}

TEST_CASE("a fiber stack overflow dies on the guard page with a clear message") {
  auto child = weft_test::run_in_child(
      [] {
        weft::runtime rt{workers(1)};
        rt.block_on(weft::fiber_task([] { return recurse(0); }, {.stack_size = 64 * 1024}));
        return 0;  // survived the overflow: the test fails
      },
      sanitized ? 120s : 30s);
  INFO("child stderr: ", child.err);
  REQUIRE(child.finished);
  CHECK((child.killed_by(SIGABRT) || child.killed_by(SIGSEGV)));
  CHECK(child.err.find("weft: fiber stack overflow (stack size 65536 bytes)") != std::string::npos);
}

[[gnu::noinline]] void big_frame(std::size_t n) {
  // A frame bigger than the guard band: without stack-clash probes the
  // first touch lands below the band, in whatever is mapped there.
  char* p = static_cast<char*>(__builtin_alloca(n));
  for (std::size_t i = 0; i < 4096; ++i) reinterpret_cast<volatile char*>(p)[i] = 1;
}

TEST_CASE("a fiber frame bigger than the guard band dies on the guard too") {
  auto child = weft_test::run_in_child(
      [] {
        weft::runtime rt{workers(1)};
        rt.block_on(weft::fiber_task([] { big_frame(256 * 1024); }, {.stack_size = 64 * 1024}));
        return 0;
      },
      sanitized ? 120s : 30s);
  INFO("child stderr: ", child.err);
  REQUIRE(child.finished);
  CHECK(child.killed_by(SIGABRT));
  CHECK(child.err.find("weft: fiber stack overflow") != std::string::npos);
}

}  // TEST_SUITE
