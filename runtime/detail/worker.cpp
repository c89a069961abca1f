// The worker loop. See scheduler.hpp for the overview.
#include <pthread.h>
#include <sched.h>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <runtime/detail/scheduler.hpp>

namespace weft::detail {

worker::worker(scheduler& s, std::size_t index)
    : sched_(s),
      index_(index),
      io_(),  // default concurrency hint: thread-safe, so an idle peer may poll it
      rng_(std::uint32_t(0x9e3779b9u * (index + 1))),
      seen_progress_(s.config().worker_threads, 0) {
  guard_.emplace(io_.get_executor());
}

void worker::start() {
  thread_ = std::thread([this] { run(); });
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

void worker::unpark() noexcept {
  boost::asio::post(io_, [] {});
}

std::uint32_t worker::next_random() noexcept {
  // xorshift32: cheap victim selection, no shared state.
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 17;
  rng_ ^= rng_ << 5;
  return rng_;
}

void worker::schedule_local(task_header* t, bool to_back) noexcept {
  if (!to_back) {
    task_header* prev = lifo_;
    lifo_ = t;
    if (!prev) return;  // the LIFO slot is ours alone: nobody else to tell
    t = prev;
  }
  queue_.push_back(t, sched_.inject());
  sched_.notify_parked();
}

void worker::run() noexcept {
  set_current(&sched_, this);
  const runtime_config& cfg = sched_.config();
  std::string name = fmt::format("{}-{}", cfg.thread_name, index_).substr(0, 15);
  pthread_setname_np(pthread_self(), name.c_str());
  if (cfg.pin_threads) {
    cpu_set_t set;
    CPU_ZERO(&set);
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    CPU_SET(index_ % cores, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  }

  while (!sched_.shutting_down()) {
    ++tick_;
    if (tick_ % cfg.event_interval == 0) poll_io();
    task_header* t = next_task();
    if (!t) {
      // Dry: let I/O and timers make work, then look at the peers.
      if (poll_io()) continue;
      t = steal_work();
    }
    if (t) {
      if (searching_) stop_searching();
      run_task(t);
      continue;
    }
    park();
  }
  // Tasks left in the LIFO slot or local queue are destroyed by the
  // scheduler through its list of live tasks.
  set_current(nullptr, nullptr);
}

task_header* worker::next_task() noexcept {
  if (tick_ % sched_.config().global_queue_interval == 0) {
    if (task_header* t = sched_.inject().pop()) {
      worker_counters::bump(counters_.inject_pulls);
      return t;
    }
  }
  if (lifo_) return std::exchange(lifo_, nullptr);
  if (task_header* t = queue_.pop()) return t;
  if (task_header* t = sched_.inject().pop()) {
    worker_counters::bump(counters_.inject_pulls);
    return t;
  }
  return nullptr;
}

task_header* worker::steal_work() noexcept {
  // Become a searcher even with no peer to steal from: the last searcher to
  // park re-checks every queue, which is what closes the race with a
  // notifier that saw this worker awake and so woke nobody.
  if (!searching_ && sched_.idle().try_become_searcher()) searching_ = true;
  std::size_t n = sched_.worker_count();
  if (n > 1) {
    if (searching_) {
      std::size_t start = next_random() % n;
      for (std::size_t i = 0; i < n; ++i) {
        std::size_t v = (start + i) % n;
        if (v == index_) continue;
        std::uint32_t count = 0;
        if (task_header* t = sched_.worker_at(v).queue().steal_into(queue_, &count)) {
          worker_counters::bump(counters_.steals);
          worker_counters::bump(counters_.stolen_tasks, count);
          return t;
        }
      }
    }
  }
  if (task_header* t = sched_.inject().pop()) {
    worker_counters::bump(counters_.inject_pulls);
    return t;
  }
  return nullptr;
}

void worker::stop_searching() noexcept {
  searching_ = false;
  // The last searcher found work: there may be more, so wake the next one.
  if (sched_.idle().stop_searching()) sched_.notify_parked();
}

void worker::run_task(task_header* t) noexcept {
  poll(t);
  const std::uint32_t max_lifo = sched_.config().max_lifo_polls;
  for (std::uint32_t n = 0; lifo_; ++n) {
    if (n == max_lifo || sched_.shutting_down()) {
      // Fairness: a ping-pong pair must not starve the rest of the queue.
      queue_.push_back(std::exchange(lifo_, nullptr), sched_.inject());
      sched_.notify_parked();
      return;
    }
    worker_counters::bump(counters_.lifo_polls);
    poll(std::exchange(lifo_, nullptr));
  }
}

void worker::poll(task_header* t) noexcept {
  progress.store(progress.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  worker_counters::bump(counters_.polls);
  // notified -> running. acquire: see everything the waker wrote before waking.
  t->state.fetch_xor(state::notified | state::running, std::memory_order_acq_rel);
  t->budget = std::int32_t(sched_.config().budget);
  set_current_task(t);
  t->resume_point.resume();
  set_current_task(nullptr);
  if (t->finished) sched_.complete(t);
  else release_after_poll(t);
}

bool worker::poll_io() noexcept {
  progress.store(progress.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  worker_counters::bump(counters_.io_polls);
  io_.poll();
  return lifo_ || !queue_.empty();
}

void worker::park() noexcept {
  bool last_searcher = sched_.idle().park(index_, searching_);
  searching_ = false;
  if (last_searcher && sched_.work_visible()) {
    // We were the last one looking and there is work: look again rather
    // than leave it to nobody.
    if (sched_.idle().unpark_self(index_) >= 0) return;
    searching_ = true;  // a notifier picked us meanwhile
    return;
  }
  worker_counters::bump(counters_.parks);
  parked.store(true, std::memory_order_release);
  const auto rescue_after = sched_.config().reactor_rescue_after;
  const bool has_peers = sched_.worker_count() > 1;
  for (;;) {
    if (sched_.shutting_down()) break;
    bool watch = has_peers && sched_.idle().unparked() > 0;
    std::size_t ran = watch ? io_.run_one_for(rescue_after) : io_.run_one();
    if (ran) {
      io_.poll();
      break;
    }
    if (watch) {
      rescue_stuck_peers();
      if (lifo_ || !queue_.empty()) break;
    }
  }
  parked.store(false, std::memory_order_release);
  int before = sched_.idle().unpark_self(index_);
  if (before < 0) {
    searching_ = true;  // unparked by a notifier, which counted us as searching
  } else if (before == 0 && has_peers && !sched_.shutting_down()) {
    // We are the first awake: rouse one peer so that someone watches our
    // reactor should the task we are about to run never yield.
    std::size_t w = sched_.idle().worker_to_notify();
    if (w != idle_set::none) sched_.worker_at(w).unpark();
  }
}

void worker::rescue_stuck_peers() noexcept {
  for (std::size_t i = 0; i < sched_.worker_count(); ++i) {
    if (i == index_) continue;
    worker& peer = sched_.worker_at(i);
    std::uint64_t now = peer.progress.load(std::memory_order_relaxed);
    if (now == seen_progress_[i] && !peer.parked.load(std::memory_order_acquire)) {
      // The peer has been inside one poll for a whole interval: serve its
      // reactor here. Handlers that wake tasks schedule them on this worker.
      worker_counters::bump(counters_.rescues);
      peer.io().poll();
    }
    seen_progress_[i] = now;
  }
}

}  // namespace weft::detail
