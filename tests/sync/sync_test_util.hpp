// Helpers shared by the sync/ suites: runtimes of a given size, scaled
// iteration counts, waiting for a primitive's queue to reach a length, a
// stack probe, and a watchdog that fails a test whose tasks stop making
// progress.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <runtime/runtime.hpp>
#include <sync/detail/waiter.hpp>

namespace sync_test {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif

// `full` in an optimised build, `small` under a sanitizer.
constexpr std::uint64_t scaled(std::uint64_t full, std::uint64_t small) {
  return sanitized ? small : full;
}

inline weft::runtime_config workers(std::size_t n) {
  weft::runtime_config cfg;
  cfg.worker_threads = n;
  return cfg;
}

template <class T>
T run(std::size_t n_workers, weft::task<T> t) {
  weft::runtime rt{workers(n_workers)};
  return rt.block_on(std::move(t));
}

// Waits (yielding, then sleeping) until `prim` has at least n waiters; false
// after `limit`.
template <class Prim>
weft::task<bool> until_waiters(const Prim& prim, std::size_t n, std::chrono::milliseconds limit = 10s) {
  auto deadline = steady::now() + limit;
  for (int i = 0; weft::detail::sync_probe::waiters(prim) < n; ++i) {
    if (steady::now() > deadline) co_return false;
    if (i < 64) co_await weft::yield_now();
    else co_await weft::sleep_for(200us);
  }
  co_return true;
}

// Waits until pred() holds; false after `limit`.
template <class Pred>
weft::task<bool> eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = steady::now() + limit;
  for (int i = 0; !pred(); ++i) {
    if (steady::now() > deadline) co_return false;
    if (i < 64) co_await weft::yield_now();
    else co_await weft::sleep_for(200us);
  }
  co_return true;
}

// True while the task is suspended in an await (not queued, running or done).
template <class T>
bool is_suspended(const weft::join_handle<T>& h) {
  namespace st = weft::detail::state;
  std::uint32_t s = h.header()->state.load(std::memory_order_acquire);
  return (s & (st::notified | st::running | st::complete)) == 0;
}

// Joins a task that is expected to have been aborted.
template <class T>
weft::task<bool> joined_cancelled(weft::join_handle<T>& h) {
  try {
    co_await h;
  } catch (const weft::cancelled&) {
    co_return true;
  }
  co_return false;
}

// An address on the real thread stack of the caller (coroutine locals live
// in frames on the heap, so take it from a plain function's frame).
[[gnu::noinline]] inline std::uintptr_t stack_address() {
  return reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
}

// Per worker thread: the lowest and highest stack address seen. A resumption
// nested inside another (a waker resuming a waiter on its own stack) shows
// up as a spread of many frames.
class stack_spread {
 public:
  void record() {
    std::uintptr_t a = stack_address();
    std::lock_guard<std::mutex> g(m_);
    auto id = std::this_thread::get_id();
    for (auto& e : seen_) {
      if (e.id == id) {
        e.lo = std::min(e.lo, a);
        e.hi = std::max(e.hi, a);
        return;
      }
    }
    seen_.push_back({id, a, a});
  }
  std::uintptr_t max_spread() const {
    std::lock_guard<std::mutex> g(m_);
    std::uintptr_t s = 0;
    for (auto& e : seen_) s = std::max(s, e.hi - e.lo);
    return s;
  }

 private:
  struct entry {
    std::thread::id id;
    std::uintptr_t lo, hi;
  };
  mutable std::mutex m_;
  std::vector<entry> seen_;
};

// Fails a test whose tasks stop making progress: every task bumps its own
// counter after each wait; a thread samples the counters, and a task whose
// counter has not moved for `limit` (while not finished) trips the watchdog,
// which then calls `on_trip` (e.g. aborts the tasks so the test can end).
class watchdog {
 public:
  explicit watchdog(std::size_t tasks, std::chrono::milliseconds limit = 1000ms)
      : progress_(tasks), limit_(limit) {}
  ~watchdog() { stop(); }

  void start(std::function<void()> on_trip) {
    on_trip_ = std::move(on_trip);
    thread_ = std::thread([this] { loop(); });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> g(m_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // relaxed: only a heartbeat, read by the sampling thread.
  void beat(std::size_t task) noexcept {
    auto& p = progress_[task].value;
    p.store(p.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void finished(std::size_t task) noexcept {
    progress_[task].done.store(true, std::memory_order_relaxed);
  }
  bool tripped() const noexcept { return tripped_.load(); }
  std::chrono::milliseconds worst_stall() const { return worst_; }

 private:
  struct slot {
    std::atomic<std::uint64_t> value{0};
    std::atomic<bool> done{false};
  };
  void loop() {
    std::vector<std::uint64_t> last(progress_.size(), ~std::uint64_t{0});
    std::vector<steady::time_point> since(progress_.size(), steady::now());
    std::unique_lock<std::mutex> g(m_);
    while (!cv_.wait_for(g, 20ms, [this] { return stopping_; })) {
      auto now = steady::now();
      for (std::size_t i = 0; i < progress_.size(); ++i) {
        std::uint64_t v = progress_[i].value.load(std::memory_order_relaxed);
        if (v != last[i] || progress_[i].done.load(std::memory_order_relaxed)) {
          last[i] = v;
          since[i] = now;
          continue;
        }
        auto stalled = std::chrono::duration_cast<std::chrono::milliseconds>(now - since[i]);
        worst_ = std::max(worst_, stalled);
        if (stalled > limit_ && !tripped_.exchange(true)) on_trip_();
      }
    }
  }

  std::vector<slot> progress_;
  std::chrono::milliseconds limit_;
  std::function<void()> on_trip_;
  std::thread thread_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> tripped_{false};
  std::chrono::milliseconds worst_{0};
};

// A runtime destroyed while tasks await a receiver that another task's frame
// owns, in both orders of creation: the owner spawns the awaiting task, or
// the awaiting task exists first and is handed the receiver. The runtime
// destroys the frames in its own order, so in one of the two the receiver
// goes first, and the awaiter's destructor must not touch it (ASan and
// LeakSanitizer check). Shape: `typename Shape::receiver`, `static receiver
// Shape::make()` and `static auto Shape::wait(receiver&)`. Returns how many
// tasks were waiting when the runtime went (2 expected).
template <class Shape>
class owner_gone_at_shutdown {
  using rx_t = typename Shape::receiver;

 public:
  int run() {
    {
      weft::runtime rt{workers(2)};
      rt.block_on(start(*this));
    }
    return waiting_.load();
  }

 private:
  static weft::task<void> await_it(rx_t& rx, std::atomic<int>& waiting) {
    ++waiting;
    (void)co_await Shape::wait(rx);
  }
  static weft::task<void> owner_spawns(std::atomic<int>& waiting) {
    rx_t rx = Shape::make();
    auto h = weft::spawn(await_it(rx, waiting));
    co_await h;
  }
  static weft::task<void> await_when_handed(std::atomic<rx_t*>& slot, std::atomic<int>& waiting) {
    rx_t* rx;
    while (!(rx = slot.load())) co_await weft::sleep_for(1ms);
    co_await await_it(*rx, waiting);
  }
  static weft::task<void> owner_hands(std::atomic<rx_t*>& slot) {
    rx_t rx = Shape::make();
    slot = &rx;
    co_await weft::sleep_for(1h);  // outlived by nothing: the runtime goes first
  }
  static weft::task<void> start(owner_gone_at_shutdown& self) {
    weft::spawn(owner_spawns(self.waiting_));
    weft::spawn(await_when_handed(self.slot_, self.waiting_));
    weft::spawn(owner_hands(self.slot_));
    auto both_waiting = [&self] { return self.waiting_.load() == 2; };
    bool both = co_await eventually(both_waiting);
    CHECK(both);
    co_await weft::sleep_for(5ms);  // into their waits
  }

  std::atomic<rx_t*> slot_{nullptr};
  std::atomic<int> waiting_{0};
};

// xorshift64*: deterministic, cheap randomness for tests.
struct rng {
  std::uint64_t s;
  explicit rng(std::uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
  std::uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  std::uint64_t below(std::uint64_t n) { return next() % n; }
};

}  // namespace sync_test
