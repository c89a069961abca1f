// The scheduler: start here.
//
// A runtime owns N workers. Each worker is one thread with its own
// asio::io_context (its reactor: the sockets and timers homed on it), a LIFO
// slot, a bounded local run queue and an overflow list for what that queue
// has no room for. One shared inject queue takes tasks scheduled from outside
// the workers.
//
// The worker loop (worker::run):
//   1. next_task: every `global_queue_interval` ticks the inject queue first,
//      and half-way between, the overflow first (so neither is starved by
//      tasks that keep yielding); otherwise the LIFO slot, the local queue,
//      the overflow, then the inject queue.
//   2. run_task: poll the task (resume its coroutine), then keep polling
//      whatever lands in the LIFO slot, at most `max_lifo_polls` times in a
//      row; a message passed back and forth stays hot in one cache.
//   3. Every `event_interval` ticks, and whenever it runs dry, the worker
//      polls its io_context without blocking, so I/O completions and expired
//      timers turn into runnable tasks.
//   4. With nothing local, it may become a searcher (at most half of the
//      workers search at once) and steal half of a random victim's queue,
//      or a batch of its overflow.
//   5. Still nothing: it parks inside its io_context's run_one(), so a timer,
//      an I/O completion or an unpark (a post to that io_context) wakes it.
//
// Where a wake-up goes (schedule): from a worker thread of this runtime into
// that worker's LIFO slot (the previous occupant moves to its local queue);
// from any other thread into the inject queue. Requeues after a poll (yield,
// a wake that arrived while the task ran) go to the back of the local queue.
// Pushing to a local or inject queue wakes one parked worker, and only when
// no worker is already searching: the searcher that finds work wakes the next
// one, so a burst of work rouses workers one at a time, never as a herd.
// Wakes from the worker's own reactor poll decide once, after it, and only
// for two or more queued tasks (drain_io).
//
// A worker stuck in one long poll would hold its reactor hostage. One parked
// worker, the watcher, therefore sleeps with a timeout while any peer is
// awake, and on each timeout looks at its peers' progress counters: a peer
// that has been in the same poll for `reactor_rescue_after` gets its
// io_context polled by the watcher, and the tasks that wakes run there; the
// watcher takes the task in its LIFO slot too (or, with none there, steals
// from its queue), which would otherwise wait for that poll to end. The
// other parked workers sleep until woken (with every parked worker watching,
// a thousand workers woke 500,000 times a second and took 9 s to start); a
// watcher that leaves its park hands the watch to a parked peer. A watcher
// that sees every worker parked gives the watch up, so a worker that wakes
// by itself as the only one awake (from its reactor, or as the last searcher
// finding work) arms a parked peer's watch timer (arm_peer_watch), and one
// that wakes with a watch timer armed on itself passes it on; one woken by a
// notifier is watched through the searcher it becomes: the next worker that
// searches and finds nothing parks as the watcher. With every worker busy
// there is no watcher; then each busy worker looks at its peers' progress
// every rescue interval on its reactor-poll ticks and takes a stuck peer's
// LIFO task and queue (relieve_stuck_peer), leaving its reactor alone.
//
// Shutdown (~scheduler): stop the workers and join them, stop the blocking
// pool (waiting for running jobs), then destroy every task still alive, taken
// from `owned_`: queued, sleeping or suspended alike, so their destructors
// run. Last the io_contexts go, destroying handlers that never ran.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <runtime/config.hpp>
#include <runtime/detail/idle.hpp>
#include <runtime/detail/inject_queue.hpp>
#include <runtime/detail/local_queue.hpp>
#include <runtime/detail/owned_tasks.hpp>
#include <runtime/detail/task_header.hpp>
#include <runtime/trace/tracer.hpp>

namespace weft::detail {

class scheduler;
class blocking_pool;
struct block_on_core;

// Monotonic time in nanoseconds, for counters (the tracer's sync clock).
using trace::steady_now_ns;

// Counters a worker keeps about itself. Written by the owner with relaxed
// stores (single writer, no read-modify-write), read by anyone.

struct worker_counters {
  std::atomic<std::uint64_t> polls{0};
  std::atomic<std::uint64_t> steals{0};
  std::atomic<std::uint64_t> stolen_tasks{0};
  std::atomic<std::uint64_t> parks{0};
  std::atomic<std::uint64_t> lifo_polls{0};
  std::atomic<std::uint64_t> inject_pulls{0};
  std::atomic<std::uint64_t> io_polls{0};
  std::atomic<std::uint64_t> rescues{0};
  std::atomic<std::uint64_t> budget_yields{0};
  std::atomic<std::uint64_t> busy_ns{0};  // awake time up to the last park
  // When the worker last woke (steady_clock ns), or 0 while it is parked:
  // metrics add the stretch in progress.
  std::atomic<std::uint64_t> awake_since_ns{0};

  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by = 1) noexcept {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
};

class worker {
 public:
  worker(scheduler& s, std::size_t index);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void start();
  void join();

  // Called on this worker's own thread only.
  void schedule_local(task_header* t, bool to_back) noexcept;

  boost::asio::io_context& io() noexcept { return io_; }
  std::size_t index() const noexcept { return index_; }
  local_queue& queue() noexcept { return queue_; }
  inject_queue& overflow() noexcept { return overflow_; }
  void unpark() noexcept;
  // A peer that woke while everyone slept asks this (parked) worker to look
  // at it in one rescue interval, without waking it now.
  void arm_watch() noexcept;
  worker_counters& counters() noexcept { return counters_; }

  // Bumped at every poll and io poll; peers watch it to detect a stuck worker.
  std::atomic<std::uint64_t> progress{0};
  // True while parked inside its own io_context (its reactor is served).
  std::atomic<bool> parked{false};

  // One thread at a time runs a worker's io_context: its owner, or one peer
  // rescuing it. Readiness handlers may then read what the reactor recorded
  // for their descriptor (net's read watch reads the epoll event mask)
  // without another thread harvesting into it meanwhile. acquire/release:
  // what one runner wrote into the reactor, the next one sees.
  bool try_enter_io() noexcept { return !io_taken_.exchange(true, std::memory_order_acquire); }
  void leave_io() noexcept { io_taken_.store(false, std::memory_order_release); }
  // Set while the owner waits to get its io_context back from a rescuer:
  // a peer does not start another rescue then (see enter_own_io).
  bool wants_io_back() const noexcept { return io_wanted_.load(std::memory_order_seq_cst); }

  trace::buffer* trace_buffer() const noexcept { return trace_; }
  // See detail::sync_slice_over (yield.hpp).
  bool sync_slice_over(task_header* t) noexcept;

 private:
  void run() noexcept;
  task_header* next_task(trace::poll_source& source) noexcept;
  task_header* steal_work(trace::poll_source& source) noexcept;
  // Moves half of a victim's oldest overflow (at most half our queue's
  // capacity) into our local queue and returns the first of them to run now
  // (null if there was none); `count` says how many it took.
  task_header* take_overflow(worker& from, std::uint32_t& count) noexcept;
  void run_task(task_header* t, trace::poll_source source) noexcept;
  void poll(task_header* t, trace::poll_source source) noexcept;
  bool poll_io() noexcept;
  std::size_t drain_io() noexcept;
  void enter_own_io() noexcept;
  void park() noexcept;
  // A peer with no poll started and no reactor poll since the last look,
  // which `seen` recorded (looks must be a rescue interval apart).
  worker* find_stuck_peer(std::vector<std::uint64_t>& seen) noexcept;
  // Busy: every rescue interval, take queued work from a stuck peer.
  void relieve_stuck_peer() noexcept;
  void arm_peer_watch() noexcept;
  // Leaving a park: arm a peer's watch when someone must watch us now.
  void arrange_watch_on_wake(int unparked_before, bool held_watch) noexcept;
  bool only_bookkeeping_ran() noexcept;
  bool rescue(worker& peer) noexcept;  // false: could not take its reactor
  void take_work_of_stuck(worker& peer) noexcept;
  void stop_searching() noexcept;
  std::uint32_t next_random() noexcept;

  scheduler& sched_;
  const std::size_t index_;
  boost::asio::io_context io_;
  // A timer on io_ (its type kept out of this header), armed by arm_watch.
  struct watch_timer;
  std::unique_ptr<watch_timer> watch_;
  std::atomic<bool> watch_armed_{false};  // a watch is pending
  std::atomic<bool> watch_fired_{false};  // it went off: our reactor ran only for it
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  local_queue queue_;
  // Tasks queue_ had no room for, oldest first. Kept per worker: overflow
  // into the shared inject queue went to whichever worker pulled next, and
  // a task that moves to another core drags its frame and header across (on
  // this VM ~330 ns a cache line): yield_many's 1,000 tasks at two workers
  // ran at 40% of the one-worker rate.
  inject_queue overflow_;
  // The LIFO slot. Only the owner fills it; the owner or a peer rescuing a
  // stuck owner empties it, by exchange, so exactly one of them takes the
  // task. A fill seen empty is a release store (nobody else fills it), a
  // fill over a task an exchange (a rescuer may be taking that one); every
  // take acquires what the filler wrote.
  std::atomic<task_header*> lifo_{nullptr};
  bool lifo_empty() const noexcept { return !lifo_.load(std::memory_order_relaxed); }
  task_header* take_lifo() noexcept {
    return lifo_empty() ? nullptr : lifo_.exchange(nullptr, std::memory_order_acquire);
  }
  bool has_local_work() const noexcept { return !lifo_empty() || !queue_.empty(); }
  std::uint32_t tick_ = 0;
  const std::uint64_t sync_slice_ns_;
  std::uint64_t slice_began_ns_ = 0;  // when the polled task's budget first ran out; 0: not yet
  std::uint32_t rng_;
  bool searching_ = false;
  bool draining_io_ = false;  // inside drain_io: wakes queue up without waking peers
  std::uint8_t io_epoch_ = 0;  // reactor polls made, mod 256 (see task_header::yield_epoch)
  bool consume_wake() noexcept;

  std::atomic<bool> wake_requested_{false};  // set by unpark(), before its no-op
  std::atomic<bool> wake_ran_{false};  // a notifier's no-op ran (see only_bookkeeping_ran)
  std::atomic<bool> io_taken_{false};  // see try_enter_io
  std::atomic<bool> io_wanted_{false};  // see wants_io_back
  std::vector<std::uint64_t> seen_progress_;       // the watcher's looks (parked)
  std::vector<std::uint64_t> busy_seen_progress_;  // relieve_stuck_peer's looks (awake)
  const std::uint64_t rescue_after_ns_;
  std::uint64_t last_busy_look_ns_ = 0;
  std::size_t last_stuck_ = 0;  // the peer find_stuck_peer found last
  worker_counters counters_;
  trace::buffer* trace_ = nullptr;  // this worker's trace buffer, null when not tracing
  std::thread thread_;
};

class scheduler {
 public:
  explicit scheduler(const runtime_config& cfg);
  ~scheduler();
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  // Takes a task whose header is filled in (refs, frame, site) and queues it.
  void spawn(task_header* t) noexcept;
  // Makes a woken task runnable (called by wake with the notified bit won).
  void schedule(task_header* t, bool to_back) noexcept;
  // A task's coroutine returned. Completes it unless task_group children it
  // orphaned still run (then the last of them completes it).
  void complete(task_header* t) noexcept;
  // Record the end, wake the joiner, drop the scheduler's reference.
  void finish_completion(task_header* t) noexcept;
  // Called by whoever pushed to a shared queue.
  void notify_parked() noexcept;
  bool work_visible() const noexcept;

  const runtime_config& config() const noexcept { return cfg_; }
  std::size_t worker_count() const noexcept { return workers_.size(); }
  worker& worker_at(std::size_t i) noexcept { return *workers_[i]; }
  inject_queue& inject() noexcept { return inject_; }
  idle_set& idle() noexcept { return idle_; }
  owned_tasks& owned() noexcept { return owned_; }
  blocking_pool& blocking() noexcept { return *blocking_; }
  bool shutting_down() const noexcept { return shutdown_.load(std::memory_order_acquire); }
  std::uint64_t spawned() const noexcept { return owned_.inserted(); }
  // The one watch over stuck peers (see above): held by at most one parked
  // worker. acquire/release: the next holder sees the previous one's work.
  bool try_take_watch() noexcept { return !watch_taken_.exchange(true, std::memory_order_acquire); }
  void release_watch() noexcept { watch_taken_.store(false, std::memory_order_release); }
  // The io_context to home a new socket on: round robin over the workers.
  boost::asio::io_context& next_io() noexcept;

  // Tracing (null when off). trace_event records from any thread into the
  // calling thread's buffer (a worker's, a blocking thread's, or the shared one).
  trace::tracer* tracer() const noexcept { return tracer_.get(); }
  void trace_event(trace::event e, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32,
                   std::uint64_t x, std::uint64_t y) noexcept;
  void trace_wake(task_header* t) noexcept;
  bool dump_trace(const std::string& path);

  // block_on on one of our blocking-pool threads: registered while it
  // waits, so that shutdown can let it go (signal it) before waiting for the
  // pool; its root task is destroyed after. False once shutdown did that.
  bool add_pool_waiter(block_on_core* c);
  void remove_pool_waiter(block_on_core* c) noexcept;

 private:
  void release_pool_waiters() noexcept;
  void start();  // the tracer, the blocking pool, the workers
  void stop() noexcept;
  void destroy_remaining_tasks() noexcept;

  runtime_config cfg_;
  std::unique_ptr<trace::tracer> tracer_;
  inject_queue inject_;
  idle_set idle_;
  owned_tasks owned_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::unique_ptr<blocking_pool> blocking_;
  std::atomic<bool> shutdown_{false};
  // Set while destroy_remaining_tasks runs: a wake from a destructor there
  // (a oneshot sender telling its receiver's task) is dropped, since every
  // task left is being destroyed, and a queue would keep a pointer to it.
  std::atomic<bool> destroying_tasks_{false};
  std::atomic<bool> workers_ready_{false};  // workers_ is complete (a tracer callback reads it)
  std::atomic<std::size_t> next_home_{0};
  std::atomic<bool> watch_taken_{false};
  std::mutex pool_waiters_mutex_;
  std::vector<block_on_core*> pool_waiters_;
  bool pool_waiters_released_ = false;
};

// The CPUs the calling thread may run on (its affinity mask, which taskset
// and cgroup cpusets narrow), in order; empty if the mask cannot be read.
std::vector<int> usable_cpus();

// Per-thread runtime state, read through out-of-line functions so that no
// coroutine keeps a thread-local address across a suspension.
worker* current_worker() noexcept;
scheduler* current_scheduler() noexcept;
// This thread's worker if it is one of `s`'s, else null: one call where the
// wake and spawn paths used to make two.
worker* current_worker_of(const scheduler* s) noexcept;
void set_current(scheduler* s, worker* w) noexcept;
// Marks the thread destroying a runtime's leftover tasks, so that a spawn
// from one of their destructors can say why there is no runtime.
struct tearing_down_scope {
  tearing_down_scope() noexcept;
  ~tearing_down_scope();
};
bool tearing_down() noexcept;
task_header* current_task() noexcept;
void set_current_task(task_header* t) noexcept;
std::uint64_t next_task_id() noexcept;
// The trace buffer of the current blocking-pool thread, if it has one.
trace::buffer* current_blocking_trace() noexcept;
void set_current_blocking_trace(trace::buffer* b) noexcept;

}  // namespace weft::detail
