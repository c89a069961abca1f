// The worker loop. See scheduler.hpp for the overview.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <runtime/detail/scheduler.hpp>

namespace weft::detail {

struct worker::watch_timer {
  explicit watch_timer(boost::asio::io_context& io) : timer(io) {}
  boost::asio::steady_timer timer;
};

worker::worker(scheduler& s, std::size_t index)
    : sched_(s),
      index_(index),
      io_(),  // default concurrency hint: thread-safe, so an idle peer may poll it
      sync_slice_ns_(std::uint64_t(std::chrono::nanoseconds(s.config().sync_slice).count())),
      rng_(std::uint32_t(0x9e3779b9u * (index + 1))),
      seen_progress_(s.config().worker_threads, 0),
      busy_seen_progress_(s.config().worker_threads, 0),
      // At least 100 us: the scheduler's copy of the config is normalized.
      rescue_after_ns_(std::uint64_t(std::chrono::nanoseconds(s.config().reactor_rescue_after).count())) {
  guard_.emplace(io_.get_executor());
  watch_ = std::make_unique<watch_timer>(io_);
#if WEFT_TRACING
  if (s.tracer()) trace_ = &s.tracer()->worker_buffer(index);
#endif
}

worker::~worker() = default;  // the watch timer goes before the io_context

// Every hook is one test of `trace_` when tracing is off; compiled out with
// -Dtracing=disabled.
#if WEFT_TRACING
#define WEFT_TRACE(...)                           \
  do {                                            \
    if (trace_) [[unlikely]] trace_->emit(__VA_ARGS__); \
  } while (0)
#else
// Compiled out, the arguments still count as used (and are never evaluated).
template <class... Args>
void discard_trace(const Args&...) noexcept {}
#define WEFT_TRACE(...)                             \
  do {                                              \
    if (false) discard_trace(__VA_ARGS__);          \
  } while (0)
#endif
using trace::event;

void worker::start() {
  thread_ = std::thread([this] { run(); });
  // Named from here, so the OS shows the name once the runtime's constructor
  // returns. It keeps 15 characters: the index stays, the base name is cut.
  const runtime_config& cfg = sched_.config();
  std::string suffix = fmt::format("-{}", index_);
  std::string base = cfg.thread_name.empty() ? "weft-worker" : cfg.thread_name;
  std::string name = base.substr(0, 15 - std::min<std::size_t>(suffix.size(), 15)) + suffix;
  pthread_setname_np(thread_.native_handle(), name.c_str());
}

void worker::join() {
  if (thread_.joinable()) thread_.join();
}

void worker::unpark() noexcept {
  // A flag, then a posted no-op that ends our wait in the reactor. The flag
  // is what counts: we look at it before every wait, and we only wait in our
  // reactor while we hold it (enter_own_io), so a no-op that a peer rescuing
  // our reactor runs in our stead costs no wake-up: we are not waiting then.
  // (This used to be stop() then the flag, with restart() on consuming it. A
  // worker woken by the stop, often on the notifier's CPU at once, found its
  // reactor stopped and no flag yet, and spun until the preempted notifier
  // stored it: a fifth of all wake-ups under a server load, a millisecond
  // each, and a quarter of the throughput at two workers.)
  // The post allocates (from Asio's per-thread cache); should that fail,
  // noexcept ends the process rather than leave a worker asleep on work.
  wake_requested_.store(true, std::memory_order_release);
  boost::asio::post(io_, [this] { wake_ran_.store(true, std::memory_order_relaxed); });
}

bool worker::consume_wake() noexcept {
  return wake_requested_.exchange(false, std::memory_order_acquire);
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
    if (lifo_empty()) {
      lifo_.store(t, std::memory_order_release);
      return;  // the task next to run here: nobody else to tell
    }
    task_header* prev = lifo_.exchange(t, std::memory_order_acq_rel);
    if (!prev) return;  // a rescuer took it meanwhile
    t = prev;
  }
  queue_.push_back(t, overflow_);
  if (!draining_io_) sched_.notify_parked();
}

void worker::run() noexcept {
  set_current(&sched_, this);
  const runtime_config& cfg = sched_.config();
  if (cfg.pin_threads) {
    // Worker i on the i-th CPU this thread may use (it inherits the
    // process's mask), so that pinning stays inside taskset or a cpuset.
    std::vector<int> cpus = usable_cpus();
    if (!cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpus[index_ % cpus.size()], &set);
      pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
  }
  counters_.awake_since_ns.store(steady_now_ns(), std::memory_order_relaxed);
  WEFT_TRACE(event::thread_info, std::uint8_t(trace::thread_kind::worker), std::uint16_t(index_), 0,
             std::uint64_t(::gettid()), 0);
#if WEFT_TRACING
  // The first preemption sample, so that a long poll before the first
  // reactor poll or unpark is measured too.
  if (trace_) trace_->offer_switch_sample();
#endif

  while (!sched_.shutting_down()) {
    ++tick_;
    if (tick_ % cfg.event_interval == 0) {
      WEFT_TRACE(event::queue_depth, 0, 0, queue_.size() + overflow_.size(), sched_.inject().size(), 0);
      poll_io();
      relieve_stuck_peer();
    }
    trace::poll_source source;
    task_header* t = next_task(source);
    // A task that yielded runs again only after the reactor was polled, as
    // in Tokio (its yield is deferred to the driver's next turn): a task
    // that yields in a loop would otherwise hold timers and sockets back for
    // event_interval polls. Tasks yielding in turn share one poll a round.
    if (t && t->yielded && t->yield_epoch == io_epoch_) [[unlikely]]
      poll_io();
    if (!t) {
      // Dry: let I/O and timers make work, then look at the peers.
      if (poll_io()) continue;
      t = steal_work(source);
    }
    if (t) {
      if (searching_) stop_searching();
      run_task(t, source);
      continue;
    }
    park();
  }
  if (trace_) trace_->flush();
  // Tasks left in the LIFO slot or local queue are destroyed by the
  // scheduler through its list of live tasks.
  set_current(nullptr, nullptr);
}

task_header* worker::next_task(trace::poll_source& source) noexcept {
  // Tasks that keep yielding never let the local queue run dry: the inject
  // queue and the overflow each get a turn first every interval.
  const std::uint32_t interval = sched_.config().global_queue_interval;
  const std::uint32_t phase = tick_ % interval;
  if (phase == 0) {
    source = trace::poll_source::inject;
    if (task_header* t = sched_.inject().pop()) {
      worker_counters::bump(counters_.inject_pulls);
      return t;
    }
  } else if (phase == interval / 2) {
    source = trace::poll_source::local;
    if (task_header* t = overflow_.pop()) return t;
  }
  source = trace::poll_source::lifo;
  if (task_header* t = take_lifo()) {
    worker_counters::bump(counters_.lifo_polls);
    return t;
  }
  source = trace::poll_source::local;
  if (task_header* t = queue_.pop()) return t;
  // One at a time: a batch back in the local queue makes it overflow again
  // sooner, moving the same tasks out and back (fib_spawn at one worker -23%).
  if (task_header* t = overflow_.pop()) return t;
  source = trace::poll_source::inject;
  if (task_header* t = sched_.inject().pop()) {
    worker_counters::bump(counters_.inject_pulls);
    return t;
  }
  return nullptr;
}

task_header* worker::steal_work(trace::poll_source& source) noexcept {
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
        worker& victim = sched_.worker_at(v);
        task_header* t = victim.queue().steal_into(queue_, &count);
        // Its queue is empty or being stolen from: half of its overflow then.
        if (!t && !victim.overflow().empty()) t = take_overflow(victim, count);
        if (t) {
          worker_counters::bump(counters_.steals);
          worker_counters::bump(counters_.stolen_tasks, count);
          WEFT_TRACE(event::steal, 0, std::uint16_t(v), count, t->id, 0);
          source = trace::poll_source::stolen;
          return t;
        }
      }
    }
  }
  if (task_header* t = sched_.inject().pop()) {
    worker_counters::bump(counters_.inject_pulls);
    source = trace::poll_source::inject;
    return t;
  }
  return nullptr;
}

task_header* worker::take_overflow(worker& from, std::uint32_t& count) noexcept {
  const std::size_t max =
      std::min<std::size_t>((from.overflow_.size() + 1) / 2, local_queue::capacity / 2);
  std::size_t n;
  task_header* first = from.overflow_.pop_batch(max, n);
  if (!first) return nullptr;
  count = std::uint32_t(n);
  // The rest go to our local queue. A thief that ran dry has room for them
  // (max <= capacity / 2); a busy one relieving a stuck peer may not, and
  // push_back moves what does not fit to our overflow.
  for (task_header* t = std::exchange(first->next, nullptr); t;) {
    task_header* next = std::exchange(t->next, nullptr);
    queue_.push_back(t, overflow_);
    t = next;
  }
  return first;
}

void worker::stop_searching() noexcept {
  searching_ = false;
  // The last searcher found work: there may be more, so wake the next one.
  if (sched_.idle().stop_searching()) sched_.notify_parked();
}

void worker::run_task(task_header* t, trace::poll_source source) noexcept {
  poll(t, source);
  const std::uint32_t max_lifo = sched_.config().max_lifo_polls;
  for (std::uint32_t n = 0;; ++n) {
    task_header* next = take_lifo();
    if (!next) return;
    if (n == max_lifo || sched_.shutting_down()) {
      // Fairness: a ping-pong pair must not starve the rest of the queue.
      // No peer is woken for it: this worker takes it again shortly, and a
      // wake-up here makes a chain of spawns bounce between threads.
      queue_.push_back(next, overflow_);
      return;
    }
    worker_counters::bump(counters_.lifo_polls);
    poll(next, trace::poll_source::lifo);
  }
}

void worker::poll(task_header* t, trace::poll_source source) noexcept {
  progress.store(progress.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  worker_counters::bump(counters_.polls);
  if (t->yielded) {
    // Still claimed since it yielded (yield_self). A wake that came
    // meanwhile is covered by this poll, as it would have been had the
    // task been queued by a wake: drop its mark, or the task would be
    // requeued after this poll with nothing to resume for.
    t->yielded = false;
    if (t->state.load(std::memory_order_relaxed) & state::notified) [[unlikely]]
      t->state.fetch_and(~state::notified, std::memory_order_acq_rel);
  } else {
    // notified -> running. acquire: see everything the waker wrote before waking.
    t->state.fetch_xor(state::notified | state::running, std::memory_order_acq_rel);
  }
  t->budget = std::int32_t(sched_.config().budget);
  slice_began_ns_ = 0;
  t->last_worker = std::uint16_t(index_);
#if WEFT_TRACING
  if (trace_) [[unlikely]] {
    // Right after this worker's previous poll (no record between), a task
    // from the LIFO slot or the local queue begins at that poll's end (its
    // record's time): one clock read fewer in a chain of polls. Only this
    // worker puts tasks there, and each with a record (wake, spawn, poll)
    // before that end, so the begin never precedes what made the task
    // runnable; the few ns of picking it count to its poll. A task from the
    // inject queue or a steal may have been made runnable since, so it reads
    // the clock.
    bool own = source == trace::poll_source::lifo || source == trace::poll_source::local;
    trace_->poll_begin_at(own ? trace_->now_after(event::poll) : trace_->now(), std::uint8_t(source), t->id);
  }
#else
  (void)source;  // only the tracer wants it
#endif
  set_current_task(t);
  t->resume_point.resume();
  while (t->bounced) [[unlikely]] {  // see transfer_inline
    t->bounced = false;
    t->resume_point.resume();
  }
  set_current_task(nullptr);
  if (t->finished) {
#if WEFT_TRACING
    if (trace_) [[unlikely]] {
      auto outcome = !t->threw ? trace::poll_outcome::finished
                     : t->is_cancelled() ? trace::poll_outcome::cancelled
                                         : trace::poll_outcome::threw;
      trace_->poll_end(std::uint8_t(outcome), 0, t->id);
    }
#endif
    sched_.complete(t);
    return;
  }
  // A task whose budget ran out was made to yield by the awaitable that spent it.
  if (t->budget <= 0) [[unlikely]]
    worker_counters::bump(counters_.budget_yields);
  if (t->yielded) {
    // Requeued still claimed; the hook check of release_after_poll is not
    // needed: an abort that came during the poll is seen when it resumes.
#if WEFT_TRACING
    if (trace_) [[unlikely]]
      trace_->poll_end(std::uint8_t(trace::poll_outcome::yielded), wait_kind::yield, t->id);
#endif
    t->yield_epoch = io_epoch_;
    schedule_local(t, true);
    return;
  }
#if WEFT_TRACING
  if (trace_) [[unlikely]] {
    std::uint64_t id = t->id;  // t may run elsewhere once released
    std::uint8_t kind = t->wait_kind;
    bool requeued = release_after_poll(t);
    trace_->poll_end(std::uint8_t(requeued ? trace::poll_outcome::yielded : trace::poll_outcome::blocked), kind,
                     id);
    return;
  }
#endif
  release_after_poll(t);
}

bool worker::sync_slice_over(task_header* t) noexcept {
  // One clock read per `budget` operations.
  if (sync_slice_ns_ == 0) return true;
  const std::uint64_t now = steady_now_ns();
  if (slice_began_ns_ == 0) {
    slice_began_ns_ = now;
  } else if (now - slice_began_ns_ >= sync_slice_ns_) {
    return true;
  }
  t->budget = std::int32_t(sched_.config().budget);
  return false;
}

bool sync_slice_over(task_header* t) noexcept {
  worker* w = current_worker();
  return !w || w->sync_slice_over(t);
}

bool worker::poll_io() noexcept {
  progress.store(progress.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // A peer rescuing our reactor is serving it right now: leave it to them.
  if (!try_enter_io()) return has_local_work();
  // A notifier picked us just after we woke by ourselves: its wake-up is
  // spent (we are awake), so a later park does not end at once for it.
  if (wake_requested_.load(std::memory_order_relaxed)) consume_wake();
  worker_counters::bump(counters_.io_polls);
  ++io_epoch_;
#if WEFT_TRACING
  if (trace_) [[unlikely]] {
    trace_->flush_if_requested();  // a flight-recorder dump waits for our latest events
    std::uint64_t t0 = trace_->now();
    std::size_t n = drain_io();
    std::uint64_t t1 = trace_->now();  // the record's time and the duration's end: one read
    trace_->emit_at(t1, event::io_poll, 0, std::uint16_t(index_), std::uint32_t(n), t1 - t0, 0);
    trace_->offer_switch_sample();
  } else {
    drain_io();
  }
#else
  drain_io();
#endif
  leave_io();
  return has_local_work();
}

void worker::enter_own_io() noexcept {
  if (try_enter_io()) return;
  // A peer is rescuing our reactor; it leaves within one rescue interval.
  // It must not come straight back: we are about to park, not yet marked
  // parked, and our progress counter stands still, so to the peer we look
  // stuck, and re-entering the moment it leaves it could win every race for
  // our reactor. We would wait in here for as long (seen for over a second
  // under TSan), still counted as searching, so nobody else would be woken
  // for new work either.
  io_wanted_.store(true, std::memory_order_seq_cst);
  while (!try_enter_io()) std::this_thread::yield();
  io_wanted_.store(false, std::memory_order_relaxed);
}

std::size_t worker::drain_io() noexcept {
  // Runs ready handlers only while the local queue has room for the tasks
  // they wake. Unbounded, a burst of completions (thousands of timers expiring
  // while one poll ran long) overflows the local queue into the overflow list,
  // behind every task that was spawned and never started, and the woken tasks
  // wait for that whole backlog. Handlers left over stay queued in the
  // io_context, in order, for the next poll. A few always run, so that a queue
  // kept full by local work cannot starve the reactor.
  constexpr std::size_t always = 8;
  std::size_t n = 0;
  // The tasks these handlers wake wait for one decision, at the end, on
  // waking a peer: only for two or more queued behind the LIFO slot. This
  // worker runs one or two itself within microseconds; a peer woken for
  // them costs an unpark and a steal that moves them, and their sockets'
  // wake-ups, to another core. (Two-worker servers, same-run A/B: echo
  // 1.04x the round trips, 1.07x per server CPU second; http 1.02x, 1.02x.)
  draining_io_ = true;
  while (n < always || queue_.size() < local_queue::capacity / 2) {
    if (!io_.poll_one()) break;
    ++n;
  }
  draining_io_ = false;
  if (queue_.size() >= 2) sched_.notify_parked();
  return n;
}

void worker::park() noexcept {
  enter_own_io();  // held until we return: we sleep in our io_context
  struct leave_at_exit {
    worker& w;
    ~leave_at_exit() { w.leave_io(); }
  } leave{*this};
  bool last_searcher = sched_.idle().park(index_, searching_);
  searching_ = false;
  if (last_searcher && sched_.work_visible()) {
    // We were the last one looking and there is work: look again rather
    // than leave it to nobody.
    int before = sched_.idle().unpark_self(index_);
    if (before < 0) {
      searching_ = true;  // a notifier picked us meanwhile
      consume_wake();
    } else {
      // For a moment every worker counted as parked, and the watcher, if it
      // looked then, gave up its watch and now sleeps until woken. (Missed,
      // the task we go on to run held the timers homed here hostage for as
      // long as it ran without yielding.)
      arrange_watch_on_wake(before, false);
    }
    return;
  }
  worker_counters::bump(counters_.parks);
  WEFT_TRACE(event::park, 0, 0, 0, 0, 0);
  if (trace_) trace_->flush_on_idle();  // an idle worker hands in an old or fuller chunk
  // Busy time: two clock reads per park, none per poll.
  worker_counters::bump(counters_.busy_ns,
                        steady_now_ns() - counters_.awake_since_ns.load(std::memory_order_relaxed));
  counters_.awake_since_ns.store(0, std::memory_order_relaxed);
  parked.store(true, std::memory_order_release);
  auto why = trace::unpark_reason::shutdown;
  const auto rescue_after = sched_.config().reactor_rescue_after;
  const bool has_peers = sched_.worker_count() > 1;
  worker* stuck = nullptr;  // a peer found inside one poll for a whole interval
  bool watching = false;    // we hold the scheduler's watch over stuck peers
  bool held_watch = false;
  for (;;) {
    if (sched_.shutting_down()) break;
    if (consume_wake()) {
      why = trace::unpark_reason::notified;
      break;
    }
    bool peers_awake = has_peers && sched_.idle().unparked() > 0;
    if (!peers_awake && watching) {
      sched_.release_watch();
      watching = false;
    } else if (peers_awake && !watching && sched_.try_take_watch()) {
      watching = held_watch = true;
      find_stuck_peer(seen_progress_);  // a fresh look: what we saw last time we watched is old
      stuck = nullptr;
    }
    if (!watching) {
      // Nobody awake to get stuck, or another parked worker watches: sleep
      // until our reactor, a notifier or an armed watch wakes us.
      if (io_.run_one()) {
        if (only_bookkeeping_ran()) {
          stuck = find_stuck_peer(seen_progress_);
          continue;
        }
        drain_io();
        why = trace::unpark_reason::handler;
        break;
      }
      continue;
    }
    // Serve the stuck peer's reactor from here, blocking in it for one
    // interval so its timers fire on time; wakes land in our queues. A
    // rescue that could not start (the peer or another worker holds that
    // reactor) waits out the interval in our own reactor below: looking
    // again at once would find the peer "stuck" since a few ns ago and spin.
    if (stuck && rescue(*stuck)) {
      if (has_local_work()) {
        why = trace::unpark_reason::watch_timeout;
        break;
      }
      if (drain_io()) {
        why = trace::unpark_reason::handler;
        break;
      }
    } else if (io_.run_one_for(rescue_after) && !only_bookkeeping_ran()) {
      drain_io();
      why = trace::unpark_reason::handler;
      break;
    }
    stuck = find_stuck_peer(seen_progress_);
  }
  if (watching) sched_.release_watch();
  parked.store(false, std::memory_order_release);
  counters_.awake_since_ns.store(steady_now_ns(), std::memory_order_relaxed);
  int before = sched_.idle().unpark_self(index_);
  if (before < 0) {
    // A notifier took us off the sleepers: take its wake-up (if its flag is
    // not there yet, poll_io or the next park takes it).
    consume_wake();
    why = trace::unpark_reason::notified;
  }
#if WEFT_TRACING
  if (trace_) trace_->flush_if_stale();
#endif
  WEFT_TRACE(event::unpark, std::uint8_t(why), 0, 0, 0, 0);
#if WEFT_TRACING
  if (trace_) trace_->offer_switch_sample();
#endif
  if (before < 0) {
    searching_ = true;  // unparked by a notifier, which counted us as searching
  }
  arrange_watch_on_wake(before, held_watch);
}

void worker::arrange_watch_on_wake(int unparked_before, bool held_watch) noexcept {
  if (sched_.worker_count() < 2 || sched_.shutting_down()) return;
  // A watch armed on us while we slept would go off in our own reactor,
  // which nobody serves if we now get stuck: pass it on. So too one that
  // went off in the drain that ended our park: its handler saw us parked
  // and left it to us.
  const bool watch_pending = watch_armed_.load(std::memory_order_acquire) ||
                             watch_fired_.exchange(false, std::memory_order_relaxed);
  if (unparked_before == 0 || held_watch || watch_pending) {
    // We are the first awake, or we were the watcher, or the watch was coming
    // to us: someone must watch our reactor should the task we are about to
    // run never yield. Not by waking a peer now (under a network load that
    // was a wake-up, a context switch and a park on the peer for every one of
    // ours): a timer goes off in a parked peer's reactor one rescue interval
    // from now, and from then on it watches.
    arm_peer_watch();
  }
}

void worker::arm_peer_watch() noexcept {
  const std::size_t n = sched_.worker_count();
  for (std::size_t i = 1; i < n; ++i) {
    worker& peer = sched_.worker_at((index_ + i) % n);
    if (peer.parked.load(std::memory_order_acquire)) {
      peer.arm_watch();
      return;
    }
  }
  // Nobody parked: whoever parks next sees us awake and sleeps watching.
}

void worker::arm_watch() noexcept {
  // One watch pending at a time. The exchange (acquire) pairs with the
  // handler's release of the flag, so each arming peer has the timer object
  // to itself (Asio timers are not safe for concurrent use).
  if (watch_armed_.exchange(true, std::memory_order_acq_rel)) return;
  try {
    watch_->timer.expires_after(sched_.config().reactor_rescue_after);
    watch_->timer.async_wait([this](const boost::system::error_code& ec) {
      watch_fired_.store(true, std::memory_order_relaxed);
      watch_armed_.store(false, std::memory_order_release);
      // We were parked when armed but woke up before the timer fired: the
      // watch would end here, with nobody watching the awake peers. Pass it
      // to a worker that is parked now (one hop: that one takes the watch,
      // or finds a watcher already there).
      if (!ec && !parked.load(std::memory_order_acquire) && !sched_.shutting_down()) arm_peer_watch();
    });
  } catch (...) {
    watch_armed_.store(false, std::memory_order_release);  // no watch then; rescue is best effort
  }
}

bool worker::only_bookkeeping_ran() noexcept {
  // After our parked reactor ran one handler: if it was the watch timer or a
  // notifier's no-op and no task became ready here, stay in the park loop
  // (which then takes the wake-up, or watches our peers).
  bool watch = watch_fired_.exchange(false, std::memory_order_relaxed);
  bool wake = wake_ran_.exchange(false, std::memory_order_relaxed);
  return (watch || wake) && !has_local_work();
}

worker* worker::find_stuck_peer(std::vector<std::uint64_t>& seen) noexcept {
  // The scan starts after the peer found last time, so that two stuck peers
  // are rescued in turn: one that stays "stuck" (a thread the OS keeps off
  // the CPU) must not hold the watch on the lowest index forever.
  const std::size_t n = sched_.worker_count();
  worker* found = nullptr;
  for (std::size_t k = 1; k <= n; ++k) {
    std::size_t i = (last_stuck_ + k) % n;
    if (i == index_) continue;
    worker& peer = sched_.worker_at(i);
    std::uint64_t now = peer.progress.load(std::memory_order_relaxed);
    // No poll started and no reactor poll since our last look, a whole
    // interval ago, and not parked (a parked worker serves its own reactor).
    if (!found && now == seen[i] && !peer.parked.load(std::memory_order_acquire)) {
      found = &peer;
      last_stuck_ = i;
    }
    seen[i] = now;
  }
  return found;
}

void worker::relieve_stuck_peer() noexcept {
  // The watcher (a parked worker) relieves a stuck peer; with every worker
  // busy there is none, and the tasks queued behind a poll that computes, or
  // a thread the kernel holds (a page fault behind another thread's mmap,
  // preemption), would wait for it to end: milliseconds, or as long as the
  // computation. So a busy worker looks too, on its reactor-poll ticks, and
  // takes the LIFO task and the queue of a peer that started no poll for a
  // whole rescue interval. (Its reactor stays with the watcher: a busy
  // worker cannot block in it.) One clock read per event_interval polls.
  if (sched_.worker_count() < 2) return;
  const std::uint64_t now = steady_now_ns();
  if (now - last_busy_look_ns_ < rescue_after_ns_) return;
  // A gap of many intervals since the last look (we were parked, or in a
  // long poll ourselves) still shows a stuck peer right: it is the one that
  // made no progress across the whole gap.
  last_busy_look_ns_ = now;
  worker* peer = find_stuck_peer(busy_seen_progress_);
  if (!peer) return;
  // All of its queue (each steal takes half of what is left): a poll that
  // has run this long is likely to run longer.
  std::uint32_t count = 0;
  std::uint64_t id = 0;  // the first task's, for the trace
  auto take = [&](task_header* t, std::uint32_t n) {
    // Read before it is queued: a thief may run and finish it then.
    if (count == 0) id = t->id;
    count += n;
    queue_.push_back(t, overflow_);  // behind what we had: those were here first
  };
  std::uint32_t n = 0;
  while (task_header* t = peer->queue().steal_into(queue_, &n)) take(t, n);
  if (count == 0 && !peer->overflow().empty())
    if (task_header* t = take_overflow(*peer, n)) take(t, n);
  if (task_header* t = peer->take_lifo()) take(t, 1);
  if (count == 0) return;
  worker_counters::bump(counters_.steals);
  worker_counters::bump(counters_.stolen_tasks, count);
  WEFT_TRACE(event::steal, 0, std::uint16_t(peer->index()), count, id, 0);
  // Two or more: an idle peer may take some (as after a reactor poll).
  if (queue_.size() >= 2) sched_.notify_parked();
}

void worker::take_work_of_stuck(worker& peer) noexcept {
  // The task in its LIFO slot waits for the stuck poll to end: a task just
  // spawned, or one its poll woke, while the spawner goes on computing. We
  // are parked, so our slot and queue are empty. Without it, the next task
  // in its queue (one a wake-up left there without waking anyone).
  std::uint32_t count = 1;
  task_header* t = peer.take_lifo();
  if (!t) t = peer.queue().steal_into(queue_, &count);
  if (!t) return;
  worker_counters::bump(counters_.steals);
  worker_counters::bump(counters_.stolen_tasks, count);
  WEFT_TRACE(event::steal, 0, std::uint16_t(peer.index()), count, t->id, 0);
  lifo_.store(t, std::memory_order_release);
}

bool worker::rescue(worker& peer) noexcept {
  // It came back (and wants its reactor), or another peer is there.
  if (peer.wants_io_back() || !peer.try_enter_io()) return false;
  worker_counters::bump(counters_.rescues);
  take_work_of_stuck(peer);
  const auto interval = sched_.config().reactor_rescue_after;
#if WEFT_TRACING
  std::uint64_t t0 = trace_ ? trace_->now() : 0;
#endif
  // While we wait in the peer's reactor its own thread may come back: it
  // skips its reactor polls, or waits to park, until we leave. With a task
  // in hand we do not wait: we only take what is ready.
  std::size_t n = has_local_work() ? 0 : peer.io().run_one_for(interval);
  if (n || has_local_work()) n += peer.io().poll();
  peer.leave_io();
#if WEFT_TRACING
  if (trace_) [[unlikely]] {
    std::uint64_t t1 = trace_->now();
    trace_->emit_at(t1, event::io_poll, 1, std::uint16_t(peer.index()), std::uint32_t(n), t1 - t0, 0);
  }
#endif
  return true;
}

}  // namespace weft::detail
