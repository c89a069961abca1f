#include <runtime/detail/blocking_pool.hpp>

#include <pthread.h>
#include <unistd.h>

#include <system_error>
#include <thread>

#include <runtime/detail/scheduler.hpp>

namespace weft::detail {

// Shared with the pool threads so that a thread finishing its last job never
// touches freed memory, whatever the order of shutdown.
struct blocking_pool::shared {
  scheduler* sched;
  std::size_t max_threads;
  std::chrono::milliseconds keep_alive;
  mutable std::mutex mutex;
  std::condition_variable work;      // jobs arrived or shutdown
  std::condition_variable all_gone;  // threads == 0
  blocking_job* head = nullptr;
  blocking_job* tail = nullptr;
  std::size_t queued = 0;
  std::size_t threads = 0;
  std::size_t idle = 0;  // threads waiting for a job
  bool closed = false;
  // Each traced thread's buffer, and whether it is inside a job (see
  // flush_idle_traces). The nodes live on the threads' stacks.
  struct traced_thread {
    trace::buffer* buffer;
    bool in_job = false;
    traced_thread* next = nullptr;
  };
  traced_thread* traced = nullptr;
};

blocking_pool::blocking_pool(scheduler& s, std::size_t max_threads,
                             std::chrono::milliseconds keep_alive)
    : shared_(std::make_shared<shared>()) {
  shared_->sched = &s;
  shared_->max_threads = max_threads;
  shared_->keep_alive = keep_alive;
}

blocking_pool::~blocking_pool() { shutdown(); }

bool blocking_pool::submit(blocking_job* job) {
  std::unique_lock lock(shared_->mutex);
  if (shared_->closed) return false;
  job->next = nullptr;
  if (shared_->tail) shared_->tail->next = job;
  else shared_->head = job;
  shared_->tail = job;
  ++shared_->queued;
  if (shared_->queued > shared_->idle && shared_->threads < shared_->max_threads) {
    try {
      std::thread(thread_main, shared_).detach();
      ++shared_->threads;
      return true;
    } catch (const std::system_error& e) {
      // No thread to be had (RLIMIT_NPROC, address space). A busy thread
      // takes the job when it finishes its own; with none at all, nobody
      // would, so the job goes back and the caller hears why.
      if (shared_->threads == 0) {
        unlink(job);
        throw std::system_error(e.code(), "weft::spawn_blocking: could not start a thread");
      }
    }
  }
  shared_->work.notify_one();
  return true;
}

void blocking_pool::unlink(blocking_job* job) noexcept {
  blocking_job* prev = nullptr;
  for (blocking_job* j = shared_->head; j; prev = j, j = j->next) {
    if (j != job) continue;
    if (prev) prev->next = j->next;
    else shared_->head = j->next;
    if (shared_->tail == j) shared_->tail = prev;
    --shared_->queued;
    return;
  }
}

bool blocking_pool::cancel(blocking_job* job) noexcept {
  std::lock_guard lock(shared_->mutex);
  std::size_t before = shared_->queued;
  unlink(job);
  return shared_->queued != before;
}

void blocking_pool::shutdown() noexcept {
  std::unique_lock lock(shared_->mutex);
  shared_->closed = true;
  shared_->head = shared_->tail = nullptr;  // their tasks are destroyed with the runtime
  shared_->queued = 0;
  shared_->work.notify_all();
  shared_->all_gone.wait(lock, [&] { return shared_->threads == 0; });
}

std::size_t blocking_pool::threads() const noexcept {
  std::lock_guard lock(shared_->mutex);
  return shared_->threads;
}

std::size_t blocking_pool::idle_threads() const noexcept {
  std::lock_guard lock(shared_->mutex);
  return shared_->idle;
}

void blocking_pool::flush_idle_traces() noexcept {
  std::lock_guard lock(shared_->mutex);
  for (auto* t = shared_->traced; t; t = t->next)
    if (!t->in_job) t->buffer->flush();
}

void blocking_pool::thread_main(std::shared_ptr<shared> s) noexcept {
  pthread_setname_np(pthread_self(), "weft-blocking");
  set_current(s->sched, nullptr);  // weft::spawn works from blocking code
  trace::buffer* tb = nullptr;
#if WEFT_TRACING
  if (trace::tracer* tr = s->sched->tracer()) {
    tb = &tr->new_blocking_buffer();
    set_current_blocking_trace(tb);
    tb->emit(trace::event::thread_info, std::uint8_t(trace::thread_kind::blocking), tb->index(), 0,
             std::uint64_t(::gettid()), 0);
  }
#endif
  // Listed while we live, so that a dump may flush our buffer while we hold
  // no job (flush_idle_traces); in_job changes only under the mutex.
  shared::traced_thread self{tb};
  std::unique_lock lock(s->mutex);
  if (tb) {
    self.next = s->traced;
    s->traced = &self;
  }
  for (;;) {
    if (blocking_job* job = s->head) {
      s->head = job->next;
      if (!s->head) s->tail = nullptr;
      --s->queued;
      self.in_job = true;
      lock.unlock();
      std::uint64_t task_id = job->task_id;  // the job is gone once it ran
      if (tb) tb->emit(trace::event::blocking_begin, 0, 0, 0, task_id, 0);
      job->run(job);
      if (tb) tb->emit(trace::event::blocking_end, 0, 0, 0, task_id, 0);
      lock.lock();
      self.in_job = false;
      continue;
    }
    if (s->closed) break;
    ++s->idle;
    bool woke = s->work.wait_for(lock, s->keep_alive, [&] { return s->head || s->closed; });
    --s->idle;
    if (!woke) break;  // idle for the whole keep-alive: leave
  }
  if (tb) {
    for (auto** p = &s->traced; *p; p = &(*p)->next)
      if (*p == &self) {
        *p = self.next;
        break;
      }
    tb->flush();
    set_current_blocking_trace(nullptr);
#if WEFT_TRACING
    s->sched->tracer()->release_blocking_buffer(*tb);
#endif
  }
  --s->threads;
  if (s->threads == 0) s->all_gone.notify_all();
}

}  // namespace weft::detail
