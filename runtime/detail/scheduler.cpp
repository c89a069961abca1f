#include <runtime/detail/scheduler.hpp>

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>

#include <fmt/format.h>

#include <runtime/detail/blocking_pool.hpp>
#include <runtime/detail/context.hpp>
#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <runtime/runtime.hpp>  // block_on_core

namespace weft::detail {
namespace {

// Far more than cores is a mistake anyway; the idle set packs counts in 16 bits.
constexpr std::size_t max_workers = 4096;

}  // namespace

std::vector<int> usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

namespace {

runtime_config resolve(runtime_config cfg) {
  if (cfg.worker_threads > max_workers)
    throw runtime_misuse(fmt::format("weft: runtime_config::worker_threads must be at most {}, got {}", max_workers,
                                     cfg.worker_threads));
  if (cfg.worker_threads == 0) {
    if (const char* env = std::getenv("WEFT_WORKER_THREADS"); env && *env) {
      char* end = nullptr;
      long n = std::strtol(env, &end, 10);
      if (*end != '\0' || n < 1 || std::size_t(n) > max_workers)
        throw runtime_misuse(
            fmt::format("weft: WEFT_WORKER_THREADS must be a number from 1 to {}, got \"{}\"", max_workers, env));
      cfg.worker_threads = std::size_t(n);
    } else {
      // One per CPU this process may use (taskset, a cpuset), as Go's
      // GOMAXPROCS; not every CPU of the machine.
      std::size_t cpus = usable_cpus().size();
      cfg.worker_threads = std::clamp<std::size_t>(cpus ? cpus : std::thread::hardware_concurrency(), 1, max_workers);
    }
  }
  if (cfg.event_interval == 0) cfg.event_interval = 1;
  if (cfg.global_queue_interval == 0) cfg.global_queue_interval = 1;
  if (cfg.budget == 0) cfg.budget = 1;
  if (cfg.max_blocking_threads == 0) cfg.max_blocking_threads = 1;
  if (cfg.reactor_rescue_after.count() <= 0) cfg.reactor_rescue_after = std::chrono::microseconds(100);
#if WEFT_TRACING
  cfg.trace_path = trace::claim_trace_path(cfg.trace_path);  // handed back by ~scheduler
#endif
  if (cfg.trace_flight_recorder.count() <= 0) {
    if (const char* env = std::getenv("WEFT_TRACE_FLIGHT"); env && *env)
      cfg.trace_flight_recorder = std::chrono::seconds(std::max(0L, std::strtol(env, nullptr, 10)));
  }
  return cfg;
}

}  // namespace

scheduler::scheduler(const runtime_config& cfg)
    : cfg_(resolve(cfg)), idle_(cfg_.worker_threads), owned_(cfg_.worker_threads) {
  try {
    start();
  } catch (...) {
    stop();  // the workers started so far, the tracer, the trace path
    throw;
  }
}

void scheduler::start() {
#if WEFT_TRACING
  if (!cfg_.trace_path.empty() || cfg_.trace_flight_recorder.count() > 0) {
    trace::tracer_options opts;
    opts.path = cfg_.trace_path;
    opts.flight_window = cfg_.trace_flight_recorder;
    opts.workers = cfg_.worker_threads;
    // A flight-recorder dump rouses parked workers to hand in their latest
    // events (from the writer thread on SIGUSR2, too: hence the ready flag,
    // set once workers_ is complete).
    opts.wake_workers = [this] {
      if (!workers_ready_.load(std::memory_order_acquire)) return;
      for (auto& w : workers_) w->unpark();
    };
    opts.flush_blocking = [this] {
      if (workers_ready_.load(std::memory_order_acquire)) blocking_->flush_idle_traces();
    };
    opts.live_tasks = [this] {
      // Room made first: nothing allocates under the shards' spinlocks, and
      // tasks spawned meanwhile past that room go without (a dump is a moment).
      std::vector<trace::live_task> live;
      live.reserve(owned_.alive() + 64);
      owned_.for_each([&](const task_header& t) {
        if (live.size() == live.capacity()) return;
        try {  // most names fit std::string's own room: no allocation
          live.push_back({t.id, t.parent_id, t.site.name ? t.site.name : "", t.site.where});
        } catch (const std::bad_alloc&) {
        }
      });
      return live;
    };
    tracer_ = std::make_unique<trace::tracer>(std::move(opts));
  }
#endif
  blocking_ = std::make_unique<blocking_pool>(*this, cfg_.max_blocking_threads,
                                              cfg_.blocking_keep_alive);
  workers_.reserve(cfg_.worker_threads);
  for (std::size_t i = 0; i < cfg_.worker_threads; ++i)
    workers_.push_back(std::make_unique<worker>(*this, i));
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    try {
      workers_[i]->start();
    } catch (const std::system_error& e) {
      throw std::system_error(
          e.code(), fmt::format("weft::runtime: could not start worker thread {} of {}", i + 1, workers_.size()));
    }
  }
  workers_ready_.store(true, std::memory_order_release);
}

scheduler::~scheduler() {
  if (current_scheduler() == this) {
    // Joining our own thread would deadlock (or throw from a destructor).
    std::fputs("weft: a runtime was destroyed from one of its own threads (in a task or a spawn_blocking "
               "job); destroy it from the thread that made it\n",
               stderr);
    std::abort();
  }
  stop();
}

void scheduler::stop() noexcept {
  shutdown_.store(true, std::memory_order_release);
  for (auto& w : workers_) w->unpark();
  for (auto& w : workers_) w->join();
  release_pool_waiters();  // the pool waits for its threads: none may wait for a root task
  if (blocking_) blocking_->shutdown();
  tearing_down_scope scope;
  destroying_tasks_.store(true, std::memory_order_relaxed);  // set and read on this thread
  destroy_remaining_tasks();
  if (tracer_) tracer_->stop();
  workers_.clear();  // io_contexts go last: their unrun handlers are destroyed
#if WEFT_TRACING
  tracer_.reset();  // the file is closed: another runtime may trace to it now
  trace::release_trace_path(cfg_.trace_path);
#endif
}

void scheduler::spawn(task_header* t) noexcept {
  t->sched = this;
  t->id = next_task_id();
  if (task_header* parent = current_task()) {
    t->parent_id = parent->id;
    t->context = retain_context(parent->context);
  } else {
    t->context = retain_context(thread_context());
  }
  t->state.store(state::notified, std::memory_order_relaxed);
#if WEFT_TRACING
  if (tracer_) [[unlikely]] {
    std::uint64_t parent = t->parent_id;
    auto record = [&](trace::buffer& b) {
      std::uint32_t site = b.site_id(t->site.name, t->site.where);
      b.spawn(0, site, t->id, parent);
    };
    if (worker* w = current_worker_of(this); w && w->trace_buffer())
      record(*w->trace_buffer());
    else if (trace::buffer* b = current_blocking_trace())
      record(*b);
    else
      tracer_->with_shared(record);
  }
#endif
  owned_.insert(t);
  schedule(t, false);
}

void scheduler::schedule(task_header* t, bool to_back) noexcept {
  worker* w = current_worker_of(this);
  if (w && !shutdown_.load(std::memory_order_relaxed)) {
    w->schedule_local(t, to_back);
    return;
  }
  if (destroying_tasks_.load(std::memory_order_relaxed)) [[unlikely]]
    return;
  inject_.push(t);
  notify_parked();
}

void scheduler::trace_event(trace::event e, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32,
                            std::uint64_t x, std::uint64_t y) noexcept {
  if (!tracer_) return;
  if (worker* w = current_worker_of(this); w && w->trace_buffer())
    w->trace_buffer()->emit(e, a8, a16, a32, x, y);
  else if (trace::buffer* b = current_blocking_trace())
    b->emit(e, a8, a16, a32, x, y);
  else
    tracer_->with_shared([&](trace::buffer& b) { b.emit(e, a8, a16, a32, x, y); });
}

void scheduler::trace_wake(task_header* t) noexcept {
  if (!tracer_) return;
  // The waker is this thread's current task. On a worker that is the task
  // whose poll is open in the worker's buffer, which lets the buffer leave
  // it out of the record; trace::buffer::wake checks rather than assumes.
  task_header* waker = current_task();
  worker* w = current_worker_of(this);
  bool on_worker = w != nullptr;
  std::uint8_t from = !on_worker ? 1 : (w->index() == t->last_worker ? 0 : 2);
  std::uint16_t from_worker = on_worker ? std::uint16_t(w->index()) : 0xffff;
  std::uint64_t waker_id = waker ? waker->id : 0;
  auto record = [&](trace::buffer& b) { b.wake(from, from_worker, t->id, waker_id); };
  if (on_worker && w->trace_buffer())
    record(*w->trace_buffer());
  else if (trace::buffer* b = current_blocking_trace())
    record(*b);
  else
    tracer_->with_shared(record);
}

bool scheduler::dump_trace(const std::string& path) {
  if (!tracer_) return false;
  worker* w = current_worker_of(this);
  bool mine = w != nullptr;
  return tracer_->dump(path, mine ? w->trace_buffer() : current_blocking_trace());
}

void scheduler::notify_parked() noexcept {
  std::size_t w = idle_.worker_to_notify();
  if (w != idle_set::none) workers_[w]->unpark();
}

bool scheduler::work_visible() const noexcept {
  if (!inject_.empty()) return true;
  for (auto& w : workers_)
    if (!w->queue().empty() || !w->overflow().empty()) return true;
  return false;
}

void scheduler::complete(task_header* t) noexcept {
  // While held, the task stays `running` (so nobody polls it) until the last
  // holder calls finish_completion.
  if (t->completion_holds.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  finish_completion(t);
}

void scheduler::finish_completion(task_header* t) noexcept {
  // The frame goes first, here and now: what the task's parameters own (a
  // socket, say) is released before anyone can see the task complete, as its
  // locals were, whether or not a join handle is kept. The result stays in
  // the block for the join; our ref keeps the block. Out of the live set
  // first: the frame's end may be what tells a thread the task is over
  // (block_on's signal), and the metrics it reads then must agree.
  owned_.remove(t);
  t->frame_gone = true;
  t->frame.destroy();
  // running -> complete. release: the result in the block is published.
  t->state.fetch_xor(state::running | state::complete, std::memory_order_acq_rel);
  release_context(std::exchange(t->context, nullptr));
  task_header* joiner = t->joiner.exchange(joined_marker, std::memory_order_acq_rel);
  if (joiner) {
    wake(joiner);
    drop_ref(joiner);  // its registration's (see join_handle's awaiter)
  }
  drop_ref(t);
}

boost::asio::io_context& scheduler::next_io() noexcept {
  if (worker* w = current_worker_of(this)) {
    // Spread new sockets, starting from the current worker for locality.
    std::size_t i = next_home_.fetch_add(1, std::memory_order_relaxed);
    return workers_[(w->index() + i) % workers_.size()]->io();
  }
  return workers_[next_home_.fetch_add(1, std::memory_order_relaxed) % workers_.size()]->io();
}

bool scheduler::add_pool_waiter(block_on_core* c) {
  std::lock_guard lock(pool_waiters_mutex_);
  if (pool_waiters_released_) return false;
  pool_waiters_.push_back(c);
  return true;
}

void scheduler::remove_pool_waiter(block_on_core* c) noexcept {
  std::lock_guard lock(pool_waiters_mutex_);
  std::erase(pool_waiters_, c);
}

void scheduler::release_pool_waiters() noexcept {
  std::lock_guard lock(pool_waiters_mutex_);
  pool_waiters_released_ = true;
  for (block_on_core* c : pool_waiters_) c->done.signal();
}

void scheduler::destroy_remaining_tasks() noexcept {
  // Single-threaded now: the workers are joined and the blocking pool idle.
  // Destroying one task's frame may drop the last reference to another
  // (a join handle in it); live ones stay in `owned_` until popped here.
  while (task_header* t = owned_.pop_any()) {
    t->state.fetch_or(state::complete | state::cancelled, std::memory_order_acq_rel);
    release_context(std::exchange(t->context, nullptr));
    t->frame_gone = true;
    t->frame.destroy();  // refs >= 1 (ours), so the block stays for the handle
    task_header* joiner = t->joiner.exchange(joined_marker, std::memory_order_acq_rel);
    if (joiner) {
      // A task of another runtime waits for this one: it hears that it was
      // cancelled. One of ours is being destroyed too.
      if (joiner->sched != this) wake(joiner);
      drop_ref(joiner);
    }
    drop_ref(t);
  }
}

}  // namespace weft::detail
