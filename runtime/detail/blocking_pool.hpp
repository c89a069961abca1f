// Threads for spawn_blocking. Grows on demand (a job that finds no idle
// thread starts one, up to the maximum) and shrinks: a thread idle for the
// keep-alive time leaves. Jobs are intrusive nodes owned by the awaiting task.
#pragma once

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>

namespace weft::detail {

class scheduler;

struct blocking_job {
  blocking_job* next = nullptr;
  void (*run)(blocking_job*) noexcept = nullptr;
  std::uint64_t task_id = 0;  // for the tracer
};

class blocking_pool {
 public:
  blocking_pool(scheduler& s, std::size_t max_threads, std::chrono::milliseconds keep_alive);
  ~blocking_pool();

  // Returns false once the pool is shut down (the job will never run).
  // Throws std::system_error when the job needs a thread and none can be
  // started (the job is not queued then).
  bool submit(blocking_job* job);
  // Takes a job back if no thread has started it. Returns true if it did.
  bool cancel(blocking_job* job) noexcept;
  // Drops queued jobs and waits for running ones to finish.
  void shutdown() noexcept;

  std::size_t threads() const noexcept;
  std::size_t idle_threads() const noexcept;

  // A flight-recorder dump: hands in the trace buffers of the threads that
  // are between jobs. Only a buffer's own thread may write it, but one that
  // waits for work or for the mutex leaves it alone until it holds the mutex,
  // which we hold meanwhile. A thread inside a job keeps its latest events
  // for the next dump.
  void flush_idle_traces() noexcept;

 private:
  struct shared;
  void unlink(blocking_job* job) noexcept;  // takes a queued job out; the mutex is held
  static void thread_main(std::shared_ptr<shared> s) noexcept;
  std::shared_ptr<shared> shared_;
};

}  // namespace weft::detail
