// The tracer: per-thread buffers of compact binary records, handed in chunks to
// a writer thread that appends them to a .wtrace file or, in flight-recorder
// mode, keeps the last seconds in memory until dump() or SIGUSR2.
//
// Hot path: a thread that records owns its buffer and writes plain stores
// into its current chunk (8 bytes for most polls, wakes and spawns, 16 or 32
// for any other record); only taking a fresh chunk or handing a full one to
// the writer takes a lock (once per 64 KiB). When
// its chunk pool is empty the thread drops events and counts them; it never
// waits for the writer. Threads that are neither workers nor blocking-pool
// threads share one buffer behind a mutex (they record rarely).
//
// Timestamps are ticks of runtime/trace/clock.hpp's clock (the CPU's
// time-stamp counter on x86-64), counted from the tracer's start; the writer
// thread records the clock_sync points that let weft-trace turn them into ns.
//
// Off (no trace path), a hook costs one load of the scheduler's tracer
// pointer and a predictable branch; built with -Dtracing=disabled the hooks
// are compiled out (WEFT_TRACING == 0).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <source_location>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <runtime/trace/clock.hpp>
#include <runtime/trace/record.hpp>

#ifndef WEFT_TRACING
#define WEFT_TRACING 1
#endif

namespace weft::detail::trace {

struct chunk {
  chunk_header header;  // base is set when the chunk is taken, the rest at hand-off
  alignas(8) unsigned char body[units_per_chunk * unit_bytes];  // records in 8-byte units
};

class tracer;

class buffer {
 public:
  buffer(tracer& t, thread_kind kind, std::uint16_t index, std::size_t pool_chunks);
  ~buffer();
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;

  // Owner thread only (or under the shared buffer's mutex).
  //
  // A poll is one record, written at its end (FORMAT.md, version 4 on):
  // its begin only notes the time, source and task. Usually one 8-byte unit
  // (a compact poll: it began when the buffer's latest record was made, as a
  // poll straight after another does, so its duration alone gives its
  // time); else a slot, or two when the task id, wait kind or duration do
  // not fit the slot's packed fields. Records made during the poll (wakes,
  // spawns) come before it in the stream; the reader puts the begin back in
  // front of them.
  void poll_begin_at(std::uint64_t ts, std::uint8_t source, std::uint64_t task) noexcept {
    // A poll never begins before the buffer's latest record.
    if (std::int64_t(ts - last_ts_) < 0) [[unlikely]]
      ts = last_ts_;
    begin_ = ts;
    source_ = source;
    open_ = task;
  }
  void poll_end(std::uint8_t outcome, std::uint16_t wait, std::uint64_t task) noexcept {
    std::uint64_t ts = now();
    // Never before the begin (the duration is never negative) nor the
    // latest record.
    if (std::int64_t(ts - begin_) < 0) [[unlikely]]
      ts = begin_;
    if (std::int64_t(ts - last_ts_) < 0) [[unlikely]]
      ts = last_ts_;
    std::uint64_t duration = ts - begin_;
    open_ = 0;
    if (compact_in_poll_ok(task) && (std::uint64_t(wait) >> poll_wait_bits | duration >> compact_duration_bits) == 0 &&
        ts - base_ <= max_span_) [[likely]] {
      put_compact(task, std::uint8_t(compact_poll | outcome | source_ << 3), wait | std::uint32_t(duration) << 4);
      last_ts_ = ts;
      last_type_ = std::uint8_t(event::poll);
      return;
    }
    std::uint8_t a8 = std::uint8_t(outcome | source_ << 4);
    if (duration >> compact_duration_bits) [[unlikely]] {
      // A long poll (2^20 ticks or more, ~0.4 ms at 2.6 GHz): say whether
      // the OS preempted the thread meanwhile, so that a reader can tell a
      // poll stretched by CPU contention (FORMAT.md, poll).
      emit_at(ts, event::poll, a8, wait, switches_field(ts), task, duration);
      return;
    }
    if ((task >> poll_task_bits | std::uint64_t(wait) >> poll_wait_bits | duration >> poll_duration_bits) ==
        0) [[likely]] {
      slot* s = place(ts, units_per_slot);
      if (!s) [[unlikely]]
        return;
      fill(s, event::poll, a8, std::uint16_t(duration),
           task | std::uint64_t(wait) << poll_task_bits | (duration >> 16) << (poll_task_bits + poll_wait_bits));
    } else {
      emit_at(ts, event::poll, a8, wait, 0, task, duration);
    }
  }
  // The waker is left out when the reader can tell it: the task whose poll
  // is open (flagged in_poll: the reader takes it from the poll record
  // that follows), or none. That is the usual case, a task waking another
  // during its poll on its worker, or a reactor handler or a foreign thread
  // waking one; any other (a task of another scheduler waking through the
  // shared buffer) takes the long form.
  // Made in a poll that began at the buffer's latest record, it is compact.
  void wake(std::uint8_t from, std::uint16_t from_worker, std::uint64_t task, std::uint64_t waker) noexcept {
    if (waker == open_) [[likely]] {
      if (open_ && compact_in_poll_ok(task)) [[likely]] {
        put_compact(task, std::uint8_t(compact_made | compact_in_poll | from), from_worker);
        last_type_ = std::uint8_t(event::wake);
        return;
      }
      slot* s = place(in_poll_time(), units_per_slot);
      if (!s) [[unlikely]]
        return;
      fill(s, event::wake, std::uint8_t(from | (waker ? in_poll : 0)), from_worker, task);
    } else {
      emit(event::wake, from, from_worker, 0, task, waker);
    }
  }
  // A task spawned: one slot when its parent is the task being polled (the
  // reader takes it from the poll record that follows, as for a wake) or
  // none, and its site id fits a16; else long.
  void spawn(std::uint8_t kind, std::uint32_t site, std::uint64_t task, std::uint64_t parent) noexcept {
    if (parent == open_ && open_ && kind < compact_in_poll && site >> 24 == 0 && compact_in_poll_ok(task))
        [[likely]] {
      put_compact(task, std::uint8_t(compact_made | compact_spawn_bit | compact_in_poll | kind), site);
      last_type_ = std::uint8_t(event::spawn);
      return;
    }
    if (parent == open_ && site <= 0xffff) [[likely]] {
      slot* s = place(in_poll_time(), units_per_slot);
      if (!s) [[unlikely]]
        return;
      fill(s, event::spawn, std::uint8_t(kind | (parent ? in_poll : 0)), std::uint16_t(site), task);
    } else {
      emit(event::spawn, kind, 0, site, task, parent);
    }
  }
  // The time of a wake or spawn: made by the task being polled, the poll's
  // begin (the reader takes it from the poll record), which saves a
  // clock read per record (~10 ns, as long as a whole short poll's other
  // work); otherwise the clock's. So such a record sits at the start of its
  // poll, not where in the poll it happened (FORMAT.md).
  std::uint64_t in_poll_time() const noexcept { return open_ ? begin_ : now(); }
  // Any event as a long record (two slots).
  void emit(event type, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32, std::uint64_t x,
            std::uint64_t y) noexcept {
    emit_at(now(), type, a8, a16, a32, x, y);
  }
  // With a time read earlier (ticks since start).
  void emit_at(std::uint64_t ts, event type, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32,
               std::uint64_t x, std::uint64_t y) noexcept {
    slot* s = place(ts, 2 * units_per_slot);
    if (!s) [[unlikely]]
      return;
    fill_long(s, type, a8, a16, a32, x, y);
  }
  // Interned ids of a spawn site, defined in this buffer's stream on first
  // use. A small direct-mapped cache in front of the map: a spawn-heavy
  // task spawns from a few sites over and over.
  std::uint32_t site_id(const char* name, const std::source_location& where) noexcept {
    // Sites are keyed by their function-name pointer and line (and name): a
    // source_location's strings are static, so pointers identify them.
    std::uint64_t key = reinterpret_cast<std::uintptr_t>(where.function_name()) * 31 +
                        where.line() * 1000003ull + reinterpret_cast<std::uintptr_t>(name);
    site_cache_entry& e = site_cache_[(key ^ key >> 7 ^ key >> 17) % site_cache_size];
    if (e.key == key && e.id != 0) [[likely]]
      return e.id;
    std::uint32_t id = site_id_slow(key, name, where);
    if (id != 0) e = {key, id};
    return id;
  }
  // Involuntary context switches (the OS preempting this thread) are
  // counted from a sample taken shortly before a long poll began: the
  // worker offers one after each reactor poll (every 61 task polls, and
  // whenever it runs dry) and unpark, and a sample is taken (getrusage)
  // when the last is 2^21 ticks older than the buffer's latest record
  // (~0.8 ms at 2.6 GHz: at most ~1,300 system calls a second).
  void offer_switch_sample() noexcept {
    if (last_ts_ - switches_ts_ >= switch_sample_ticks || !switches_sampled_) [[unlikely]]
      sample_switches(last_ts_);
  }
  // A long poll's a32: 1 + the switches since the sample, which moves to
  // `ts`; 0 before the thread's first sample.
  std::uint32_t switches_field(std::uint64_t ts) noexcept;
  // Hands the current chunk (if it holds anything) to the writer, which
  // writes it promptly.
  void flush() noexcept { hand_in(false); }
  // The owner goes idle (a worker parks): flush once the chunk is a
  // quarter full or 100 ms old, or when a dump asked for it, so that an
  // idle worker's events reach the file (or the flight window) soon, yet a
  // worker that parks tens of thousands of times a second (a server) does
  // not pay the writer a wake-up and a write each time; in flight mode it
  // would also fill its whole pool, and so the window, with slivers of the
  // last few milliseconds. What a worker recorded before a park stays in
  // its chunk until it is handed in here, on waking (below), or at stop.
  void flush_on_idle() noexcept;
  // The owner wakes from idling: a chunk kept since before a long sleep is
  // handed in before the wake's records join it. (Else one chunk would span
  // the sleep, and the flight window, which keeps or drops whole chunks by
  // their latest time, would keep events from before it.)
  void flush_if_stale() noexcept;
  // A dump wants this buffer's latest events: the owner flushes at its next
  // reactor poll or park (flush_if_requested) and clears the flag.
  void request_flush() noexcept { flush_requested_.store(true, std::memory_order_relaxed); }
  void flush_if_requested() noexcept {
    if (flush_requested_.load(std::memory_order_relaxed)) [[unlikely]]
      answer_flush_request();
  }
  bool flush_pending() const noexcept { return flush_requested_.load(std::memory_order_acquire); }
  // Writer side: a chunk comes back for reuse.
  void recycle(chunk* c) noexcept;

  // Ticks since the tracer started. Durations taken from two reads (io_poll)
  // are in ticks too; weft-trace converts them.
  std::uint64_t now() const noexcept { return read_ticks() - start_ticks_; }
  // The time for a record that directly follows one of type `prev`: that
  // record's time if it is this buffer's latest, else the clock's. The caller
  // vouches that the time between them is not worth a clock read.
  std::uint64_t now_after(event prev) const noexcept {
    return last_type_ == std::uint8_t(prev) ? last_ts_ : now();
  }
  thread_kind kind() const noexcept { return kind_; }
  std::uint16_t index() const noexcept { return index_; }
  std::size_t pool_size() const noexcept { return owned_.size(); }
  // Flight mode, under the tracer's mutex: the latest time of a chunk of
  // ours that left the window; our events after it are all there.
  std::uint64_t trimmed_until = 0;

 private:
  // Reserves n contiguous units for a record at `ts` (made no earlier than
  // the buffer's latest) and writes its delta; nullptr when the event is
  // dropped. One compare on the fast path: without a current chunk, count_
  // is units_per_chunk, so a chunk that is full and none at all look alike.
  slot* place(std::uint64_t ts, std::uint32_t n) noexcept {
    // Times never go back within a buffer (weft-trace relies on it): a
    // thread that moved to a core whose counter lags by a few ticks, or the
    // shared buffer's many threads, could otherwise make them. Compared as a
    // signed difference so that a lagging read just after start (which wraps
    // below 0) clamps too.
    if (std::int64_t(ts - last_ts_) < 0) [[unlikely]]
      ts = last_ts_;
    std::uint64_t delta = ts - base_;
    if (count_ + n > units_per_chunk || delta > max_span_) [[unlikely]]
      return place_slow(ts, n);
    last_ts_ = ts;
    slot* s = slot_at(count_);
    count_ += n;
    s->delta = std::uint32_t(delta);
    return s;
  }
  slot* place_slow(std::uint64_t ts, std::uint32_t n) noexcept;
  chunk* take_free() noexcept;  // from the pool, or nullptr
  slot* slot_at(std::uint32_t unit) noexcept { return reinterpret_cast<slot*>(current_->body + unit * unit_bytes); }
  // A compact record needs a unit free in a chunk that already holds a
  // record (its time counts from that record's; count_ - 1 wraps for an
  // empty chunk and none at all).
  bool compact_room() const noexcept { return count_ - 1 < units_per_chunk - 1; }
  // The open poll's records (a wake or spawn made in it, its end) can be
  // compact, one unit each, when its begin is the buffer's latest time: the
  // reader takes that begin from the record before.
  bool compact_in_poll_ok(std::uint64_t task) const noexcept {
    return begin_ == last_ts_ && compact_room() && task >> compact_task_bits == 0;
  }
  // One unit: the task id's low 32 bits, the type byte, 24 bits of fields.
  void put_compact(std::uint64_t task, std::uint8_t type, std::uint32_t fields) noexcept {
    std::uint64_t v = task | std::uint64_t(type) << 32 | std::uint64_t(fields & 0xffffff) << 40;
    std::memcpy(current_->body + count_ * unit_bytes, &v, sizeof v);
    ++count_;
  }
  void answer_flush_request() noexcept;
  bool stale() const noexcept;  // the current chunk was taken 100 ms ago or more
  void fill(slot* s, event type, std::uint8_t a8, std::uint16_t a16, std::uint64_t x) noexcept {
    s->type = std::uint8_t(type);
    s->a8 = a8;
    s->a16 = a16;
    s->x = x;
    last_type_ = std::uint8_t(type);
  }
  void fill_long(slot* s, event type, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32, std::uint64_t x,
                 std::uint64_t y) noexcept {
    s->type = std::uint8_t(type) | long_flag;
    s->a8 = a8;
    s->a16 = a16;
    s->x = x;
    slot* tail = s + 1;  // FORMAT.md: a32 where a delta goes, y where an id goes
    tail->delta = a32;
    tail->type = 0;
    tail->a8 = 0;
    tail->a16 = 0;
    tail->x = y;
    last_type_ = std::uint8_t(type);
  }
  // Hands the current chunk to the writer; `full`: because it is full, which
  // the writer may let wait for a few more (tracer::submit).
  void hand_in(bool full) noexcept;
  // Hands the current chunk over and takes a fresh one whose base is `ts`.
  bool next_chunk(std::uint64_t ts) noexcept;
  std::uint32_t string_id(const char* s) noexcept;
  void sample_switches(std::uint64_t ts) noexcept;
  static constexpr std::uint64_t switch_sample_ticks = std::uint64_t(1) << 21;
  std::uint32_t site_id_slow(std::uint64_t key, const char* name, const std::source_location& where) noexcept;

  tracer& tracer_;
  const std::uint64_t start_ticks_;
  // How long one chunk may span, in ticks: 2^32 - 1 (its deltas' width), or
  // less in flight-recorder mode (tracer::chunk_span_ticks).
  const std::uint64_t max_span_;
  const thread_kind kind_;
  const std::uint16_t index_;
  chunk* current_ = nullptr;
  std::uint32_t count_ = units_per_chunk;  // units used in current_ (all of them when there is none)
  std::uint32_t dropped_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t last_ts_ = 0;  // the latest record's time
  std::uint64_t base_ = 0;     // what the current chunk's deltas count from
  std::uint64_t chunk_taken_ns_ = 0;  // steady clock when current_ was taken (flush_on_idle)
  // Set by a dump, cleared by the owner once its chunk is handed in (the
  // dump then finds it under the tracer's mutex, which submit took).
  std::atomic<bool> flush_requested_{false};
  std::uint64_t open_ = 0;     // the task being polled; 0: none
  std::uint64_t begin_ = 0;    // when its poll began
  std::uint8_t source_ = 0;    // where it came from (poll_source)
  std::uint8_t last_type_ = 0; // the latest record's type; 0 after a drop or a hand-off
  std::uint64_t switches_ = 0;     // the thread's involuntary context switches at the sample
  std::uint64_t switches_ts_ = 0;  // when it was taken (ticks since start)
  bool switches_sampled_ = false;  // by the owner thread (getrusage counts the caller's)
  std::unordered_map<const void*, std::uint32_t> strings_;
  std::unordered_map<std::uint64_t, std::uint32_t> sites_;
  struct site_cache_entry {
    std::uint64_t key = 0;
    std::uint32_t id = 0;  // 0: empty (site ids start at 1)
  };
  static constexpr std::size_t site_cache_size = 64;
  site_cache_entry site_cache_[site_cache_size];
  std::mutex pool_mutex_;  // guards free_ (owner takes, writer returns)
  std::vector<chunk*> free_;
  std::vector<std::unique_ptr<chunk>> owned_;
};

// A task alive when a flight-recorder dump is taken (its spawn record may
// be older than the window).
struct live_task {
  std::uint64_t id;
  std::uint64_t parent;
  std::string name;  // a copy: the task may end before the dump is written
  std::source_location where;
};

struct tracer_options {
  std::string path;
  std::chrono::seconds flight_window{0};  // 0: stream everything to `path`
  std::size_t workers = 0;
  std::size_t chunks_per_buffer = 32;
  // Flight mode: rouses every worker, so that parked ones answer a dump's
  // flush request (the scheduler's unpark of each).
  std::function<void()> wake_workers;
  // Flight mode: hands in the buffers of blocking-pool threads between jobs
  // (they answer no flush request: they may wait for work for seconds).
  std::function<void()> flush_blocking;
  // Flight mode: the tasks alive now, for a dump to name them.
  std::function<std::vector<live_task>()> live_tasks;
};

class tracer {
 public:
  explicit tracer(tracer_options opts);
  ~tracer();

  buffer& worker_buffer(std::size_t i) noexcept { return *workers_[i]; }
  // A buffer for a new blocking-pool thread (owned by the tracer): one a
  // thread that left gave back, else a new one. Its stream (and lane in
  // weft-trace) goes on with the new thread, so that a pool whose threads
  // come and go keeps as many buffers as it had threads at once.
  buffer& new_blocking_buffer();
  // A leaving blocking thread's buffer, flushed, for the next thread.
  void release_blocking_buffer(buffer& b) noexcept;
  // Records from threads without a buffer of their own.
  template <class F>
  void with_shared(F&& f) {
    std::lock_guard lock(shared_mutex_);
    f(*shared_);
  }

  // `last_ts`: the chunk's latest record's time (flight mode's window).
  // `full`: a full chunk handed in to make room. The writer is woken for a
  // batch of those (writer_batch), not each: a worker filling chunks fast
  // then pays no wake-up per chunk, nor the writer a context switch. Any
  // other hand-in (idle, stop, a dump, a sync point) wakes it at once.
  void submit(buffer& from, chunk* c, std::uint64_t last_ts, bool full = false) noexcept;
  // Flight-recorder mode: writes the retained window to `path`, after
  // asking every worker for the events it has not handed in yet (up to
  // 200 ms; a worker stuck in one long poll cannot answer, and the dump goes
  // without its latest chunk).
  // `caller`: the calling thread's own buffer, if it has one (flushed here;
  // it could not answer while it waits).
  bool dump(const std::string& path, buffer* caller = nullptr);
  // Flushes all buffers and stops the writer. Call after the workers stopped.
  void stop() noexcept;

  std::uint64_t start_ticks() const noexcept { return start_.ticks; }
  // The window keeps or drops whole chunks, by their newest record: a chunk
  // that spans longer than a fraction of the window would keep its oldest
  // records past it (a worker asleep between an early burst and a late
  // handler). In flight-recorder mode a chunk therefore spans at most an
  // eighth of the window; otherwise up to what its 32-bit deltas hold.
  std::uint64_t chunk_span_ticks() const noexcept { return chunk_span_ticks_; }
  std::uint32_t next_string_id() noexcept { return next_string_.fetch_add(1, std::memory_order_relaxed); }
  std::uint32_t next_site_id() noexcept { return next_site_.fetch_add(1, std::memory_order_relaxed); }
  bool flight_mode() const noexcept { return opts_.flight_window.count() > 0; }
  const std::string& path() const noexcept { return opts_.path; }

  // A string or site record just written (`units` long): in flight mode a
  // copy is kept for every dump (the window soon loses the chunk that has
  // it). False if it could not be kept: the caller then does not cache the
  // id, and defines it again at its next use.
  bool keep_definition(const slot* record, std::uint32_t units) noexcept;
  // Flight mode, for a buffer whose pool ran dry: its oldest chunk in the
  // window (or the queue) goes back to its pool. False if it has none there,
  // or a dump is being written.
  bool reclaim_oldest(buffer& b) noexcept;

  // A buffer answered a flush request (collect_workers waits for these).
  void flush_answered() noexcept;

 private:
  struct pending {
    buffer* owner;
    chunk* c;
    std::uint64_t last_ts;
  };
  void writer_main() noexcept;
  void write_chunk(std::FILE* f, const chunk* c) noexcept;
  file_header make_header(std::uint64_t ticks_per_second, bool flight) const noexcept;
  bool write_file(const std::string& path, const std::deque<pending>& chunks,
                  const std::vector<live_task>* live = nullptr);
  // A dump's first chunks (thread kind other, index definitions_index),
  // their records timed at `base`: where each thread's events are whole
  // from, the kept string and site definitions, and a spawn record for each
  // live task (with sites of its own).
  void write_definitions(std::FILE* f, std::uint64_t base, const std::vector<live_task>& live) noexcept;
  // Under mutex_: a chunk leaves the window for its pool.
  void drop_from_window(const pending& p) noexcept;
  void trim_window() noexcept;
  // Flight mode, mutex_ held: handed-in chunks join the window.
  void absorb_queue() noexcept;
  // Flight mode: asks the workers to flush and waits (up to 200 ms) for them.
  void collect_workers(buffer* caller) noexcept;
  bool write_dump(const std::string& path, const std::vector<live_task>& live);
  std::string signal_dump_path() const;  // for a SIGUSR2 dump
  // Records a clock_sync into the shared buffer and hands that buffer to the
  // writer, so sync points reach the file (or the flight window) promptly.
  sync_point record_sync() noexcept;
  // Streaming: rewrites the header's tick rate (writer thread, or after it).
  void patch_rate(std::uint64_t ticks_per_second) noexcept;

  tracer_options opts_;
  const sync_point start_;  // every record's time counts ticks from start_.ticks
  std::uint64_t chunk_span_ticks_ = 0xffffffffu;  // set before any buffer exists
  std::FILE* file_ = nullptr;
  std::vector<std::unique_ptr<buffer>> workers_;
  std::unique_ptr<buffer> shared_;
  std::mutex shared_mutex_;
  std::vector<std::unique_ptr<buffer>> blocking_;
  std::vector<buffer*> unused_blocking_;  // given back by threads that left
  std::mutex blocking_mutex_;             // guards the two above
  std::mutex definitions_mutex_;                  // guards the two below
  std::vector<std::uint64_t> definitions_;        // flight mode: every string and site record
  std::vector<std::uint32_t> definition_starts_;  // where each record begins in definitions_
  std::atomic<std::uint32_t> next_string_{1};
  std::atomic<std::uint32_t> next_site_{1};

  std::mutex answer_mutex_;  // with answer_cv_: collect_workers waits for flushes
  std::condition_variable answer_cv_;
  std::mutex mutex_;  // guards queue_, window_, stopping_, urgent_
  std::condition_variable cv_;
  std::deque<pending> queue_;   // full chunks waiting for the writer
  std::deque<pending> window_;  // flight mode: retained chunks, oldest first
  bool stopping_ = false;
  bool urgent_ = false;  // a chunk in queue_ that should not wait for a batch
  std::atomic<bool> writing_dump_{false};  // set under mutex_; read without it by reclaim_oldest
  static constexpr std::size_t writer_batch = 4;
  // Rate from start to the writer's latest sync; written by the writer
  // thread, read by whoever trims the window (a dump's caller too).
  std::atomic<std::uint64_t> ticks_per_second_{ticks_are_tsc ? 0 : 1'000'000'000};
  std::uint64_t dumps_served_ = 0;  // writer thread: SIGUSR2 requests answered (see on_sigusr2)
  std::thread writer_;
};

// The path a new runtime traces to ("" = off): `configured`, else the
// WEFT_TRACE environment variable. Two runtimes of one process writing one
// file would interleave their chunks into garbage, and WEFT_TRACE names one
// file for the whole process (a later runtime must not overwrite an earlier
// one's trace). So a path that a live runtime of this process traces to, or
// that an earlier one took from WEFT_TRACE, is not used again: the runtime
// gets a numbered sibling (run.wtrace -> run.2.wtrace, run.3.wtrace, ...),
// said once on stderr. The caller hands the path back with
// release_trace_path when its trace is closed.
std::string claim_trace_path(const std::string& configured);
void release_trace_path(const std::string& path) noexcept;

}  // namespace weft::detail::trace
