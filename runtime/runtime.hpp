// weft::runtime: the worker threads, their reactors and the blocking pool.
// This is also the umbrella header of runtime/: include it for everything.
//
//   weft::runtime rt{cfg};                 // starts cfg.worker_threads workers
//   int r = rt.block_on(main_task());      // or: weft::run(main_task())
//
// Destroying the runtime stops the workers, waits for running blocking jobs,
// and destroys every task still alive (queued, sleeping or suspended), running
// their destructors. Join handles that outlive it report weft::cancelled.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include <runtime/blocking.hpp>
#include <runtime/config.hpp>
#include <runtime/context_var.hpp>
#include <runtime/errors.hpp>
#include <runtime/fiber.hpp>
#include <runtime/join_handle.hpp>
#include <runtime/spawn.hpp>
#include <runtime/task.hpp>
#include <runtime/task_group.hpp>
#include <runtime/time.hpp>
#include <runtime/timeout.hpp>
#include <runtime/when_all.hpp>
#include <runtime/when_any.hpp>
#include <runtime/yield.hpp>

namespace weft {

struct worker_metrics {
  std::uint64_t polls = 0;
  std::uint64_t steals = 0;
  std::uint64_t stolen_tasks = 0;
  std::uint64_t parks = 0;
  std::uint64_t lifo_polls = 0;
  std::uint64_t inject_pulls = 0;
  std::uint64_t io_polls = 0;
  std::uint64_t reactor_rescues = 0;
  std::uint64_t budget_yields = 0;  // polls that ended because the task spent its budget
  std::size_t local_queue_depth = 0;  // its run queue, with what overflowed from it
  // Time spent awake (running tasks, polling I/O, searching) since the
  // runtime started; with wall time it gives the worker's busy share.
  std::chrono::nanoseconds busy_time{0};
};

struct runtime_metrics {
  std::vector<worker_metrics> workers;
  std::uint64_t tasks_spawned = 0;
  std::size_t tasks_alive = 0;
  std::size_t inject_queue_depth = 0;
  std::size_t blocking_threads = 0;
  std::size_t blocking_idle_threads = 0;
};

namespace detail {
// Parks the calling thread until signalled; used by block_on.
class thread_blocker {
 public:
  thread_blocker();
  ~thread_blocker();
  void signal() noexcept;
  void wait() noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// What block_on's thread and its root task share. On the heap: a block_on
// on one of the runtime's blocking-pool threads is let go when the runtime
// shuts down (the pool waits for that thread), while its root task is
// destroyed only later. `value` is block_on's result slot (optional<T>).
struct block_on_core {
  thread_blocker done;
  std::exception_ptr error;
  // The root's frame is gone: error (and the value) are final. acq/rel, as
  // block_on may be let go before the root writes them.
  std::atomic<bool> ended{false};
};

// Signals block_on's thread when its root task ends, or when a runtime
// destroyed on another thread destroys the task unfinished: block_on then
// throws weft::cancelled rather than wait forever. A parameter of the root
// coroutine, so that it lives in the frame from the start: a root destroyed
// before its first poll signals too. Moving it (into the frame) disarms the
// source.
struct block_on_signal {
  std::shared_ptr<block_on_core> core;
  bool finished = false;
  explicit block_on_signal(std::shared_ptr<block_on_core> c) noexcept : core(std::move(c)) {}
  block_on_signal(block_on_signal&& o) noexcept : core(std::move(o.core)), finished(o.finished) {}
  block_on_signal& operator=(block_on_signal&&) = delete;
  ~block_on_signal() {
    if (!core) return;
    if (!finished && !core->error) core->error = std::make_exception_ptr(cancelled{});
    core->ended.store(true, std::memory_order_release);
    core->done.signal();
  }
};
}  // namespace detail

class runtime {
 public:
  runtime();
  explicit runtime(const runtime_config& cfg);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Runs `t` on the workers and blocks the calling thread until it finishes;
  // returns its value or rethrows its exception. Throws runtime_misuse when
  // called from one of this process's worker threads or while the runtime is
  // being destroyed; throws weft::cancelled when the runtime is destroyed
  // (from another thread) before `t` finished.
  // (`where`: the root task's spawn site in the trace is the caller's line.)
  template <class T>
  T block_on(task<T> t, std::source_location where = std::source_location::current()) {
    check_block_on_allowed();
    if (!t.valid()) throw runtime_misuse("weft::runtime::block_on: empty task (moved from?)");
    auto core = std::make_shared<detail::block_on_core>();
    // Read now: once the root is spawned, another thread may destroy us.
    detail::scheduler* s = sched_.get();
    if constexpr (std::is_void_v<T>) {
      auto h = spawn(block_on_root(std::move(t), detail::block_on_signal(core)), {}, where);
      wait_for_root(s, core);
    } else {
      auto value = std::make_shared<std::optional<T>>();
      auto h = spawn(block_on_root_value(std::move(t), detail::block_on_signal(core), value), {}, where);
      wait_for_root(s, core);
      return std::move(**value);
    }
  }

  // Spawns onto this runtime; callable from any thread.
  template <class T>
  join_handle<T> spawn(task<T> t, spawn_options opts = {},
                       std::source_location where = std::source_location::current()) {
    auto h = t.release();
    if (!h) throw runtime_misuse("weft::runtime::spawn: empty task");
    return join_handle<T>(detail::spawn_frame(sched_.get(), h, h.promise(), opts, where));
  }

  std::size_t worker_count() const noexcept;
  runtime_metrics metrics() const;
  // Flight-recorder mode (runtime_config::trace_flight_recorder): writes the
  // last seconds of trace to `path`. Returns false when not flight-recording
  // or the file cannot be written. A worker inside one poll for over 200 ms,
  // or a spawn_blocking job still running, hands in its latest events to the
  // next dump instead.
  bool dump_trace(const std::string& path);

 private:
  void check_block_on_allowed() const;
  // Waits until the root ended, and rethrows its error; throws
  // weft::cancelled if the runtime let go of this blocking-pool thread first.
  static void wait_for_root(detail::scheduler* s, const std::shared_ptr<detail::block_on_core>& core);
  static task<void> block_on_root(task<void> t, detail::block_on_signal signal);
  template <class T>
  static task<void> block_on_root_value(task<T> t, detail::block_on_signal signal,
                                        std::shared_ptr<std::optional<T>> value) {
    try {
      value->emplace(co_await std::move(t));
    } catch (...) {
      signal.core->error = std::current_exception();
    }
    signal.finished = true;
  }

  std::unique_ptr<detail::scheduler> sched_;
};

// asyncio.run: a runtime with the default configuration, for one task.
template <class T>
T run(task<T> t, std::source_location where = std::source_location::current()) {
  runtime rt;
  return rt.block_on(std::move(t), where);
}

}  // namespace weft
