#include <runtime/runtime.hpp>

#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

#include <runtime/detail/blocking_pool.hpp>
#include <runtime/detail/scheduler.hpp>

namespace weft {

namespace detail {

struct thread_blocker::impl {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
};

thread_blocker::thread_blocker() : impl_(std::make_unique<impl>()) {}
thread_blocker::~thread_blocker() = default;

void thread_blocker::signal() noexcept {
  // Notify while holding the lock: the waiter cannot return (and destroy
  // this object) before we are done with it.
  std::lock_guard lock(impl_->mutex);
  impl_->done = true;
  impl_->cv.notify_one();
}

void thread_blocker::wait() noexcept {
  std::unique_lock lock(impl_->mutex);
  impl_->cv.wait(lock, [&] { return impl_->done; });
}

task_header* spawn_frame(scheduler* s, std::coroutine_handle<> frame, promise_base& p,
                         const spawn_options& opts, const std::source_location& where, const char* who) {
  if (!s) s = current_scheduler();
  if (!s) {
    if (tearing_down())
      throw runtime_misuse(fmt::format("{}: the runtime is shutting down (called from a destructor of a task it "
                                       "is destroying)",
                                       who));
    throw runtime_misuse(fmt::format("{}: no runtime here (call it from a task, or use runtime::spawn)", who));
  }
  task_header* h = promise_base::header_of_frame(frame.address());
  p.root_ = h;
  p.is_root_ = true;
  h->frame = frame;
  h->resume_point = frame;
  h->site = spawn_site{opts.name, where};
  h->refs.store(2, std::memory_order_relaxed);  // the join handle and the scheduler
  s->spawn(h);
  return h;
}

bool submit_blocking(blocking_job* job) {
  scheduler* s = current_scheduler();
  if (!s) throw runtime_misuse("weft::spawn_blocking: no runtime here");
  return s->blocking().submit(job);
}

bool cancel_blocking(task_header* t, blocking_job* job) noexcept {
  return t->sched->blocking().cancel(job);
}

}  // namespace detail

runtime::runtime() : runtime(runtime_config{}) {}

runtime::runtime(const runtime_config& cfg) : sched_(std::make_unique<detail::scheduler>(cfg)) {}

runtime::~runtime() = default;

void runtime::check_block_on_allowed() const {
  if (detail::current_worker())
    throw runtime_misuse(
        "weft::runtime::block_on called from a worker thread; co_await the task instead");
  // From a destructor of a task the runtime is destroying, say: the task
  // would never run, and this thread is the one that would destroy it.
  if (sched_->shutting_down()) throw runtime_misuse("weft::runtime::block_on: the runtime is shutting down");
}

task<void> runtime::block_on_root(task<void> t, detail::block_on_signal signal) {
  try {
    co_await std::move(t);
  } catch (...) {
    signal.core->error = std::current_exception();
  }
  signal.finished = true;
}

void runtime::wait_for_root(detail::scheduler* s, const std::shared_ptr<detail::block_on_core>& core) {
  // On one of our blocking-pool threads (workers were refused): the runtime's
  // destruction waits for this thread, so it must be able to let it go. (It
  // also keeps the scheduler alive until the pool's threads are done.)
  const bool pool_thread = detail::current_scheduler() == s;
  if (pool_thread && !s->add_pool_waiter(core.get())) throw cancelled{};
  core->done.wait();
  if (pool_thread) s->remove_pool_waiter(core.get());
  // acquire: the root's error and value, written before it ended.
  if (!core->ended.load(std::memory_order_acquire)) throw cancelled{};  // let go; the root ends later
  // Taken out, so that the exception is released on this thread, not on
  // the worker whose frame may drop the core last (libstdc++ counts an
  // exception's references where ThreadSanitizer does not see it).
  if (std::exception_ptr e = std::exchange(core->error, nullptr)) std::rethrow_exception(e);
}

bool runtime::dump_trace(const std::string& path) { return sched_->dump_trace(path); }

std::size_t runtime::worker_count() const noexcept { return sched_->worker_count(); }

runtime_metrics runtime::metrics() const {
  runtime_metrics m;
  m.workers.reserve(sched_->worker_count());
  auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  const std::uint64_t now = detail::steady_now_ns();
  for (std::size_t i = 0; i < sched_->worker_count(); ++i) {
    detail::worker& w = sched_->worker_at(i);
    auto& c = w.counters();
    std::uint64_t busy = get(c.busy_ns);
    if (std::uint64_t since = get(c.awake_since_ns); since && now > since) busy += now - since;
    m.workers.push_back(worker_metrics{get(c.polls), get(c.steals), get(c.stolen_tasks),
                                       get(c.parks), get(c.lifo_polls), get(c.inject_pulls),
                                       get(c.io_polls), get(c.rescues), get(c.budget_yields),
                                       w.queue().size() + w.overflow().size(), std::chrono::nanoseconds(busy)});
  }
  m.tasks_spawned = sched_->spawned();
  m.tasks_alive = sched_->owned().alive();
  m.inject_queue_depth = sched_->inject().size();
  m.blocking_threads = sched_->blocking().threads();
  m.blocking_idle_threads = sched_->blocking().idle_threads();
  return m;
}

}  // namespace weft
