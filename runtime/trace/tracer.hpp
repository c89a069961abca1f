// The tracer: per-thread buffers of fixed-size records, handed in chunks to
// a writer thread that appends them to a .wtrace file or, in flight-recorder
// mode, keeps the last seconds in memory until dump() or SIGUSR2.
//
// Hot path: a thread that records owns its buffer and writes plain stores
// into its current chunk; only taking a fresh chunk or handing a full one to
// the writer takes a lock (once per records_per_chunk events). When its
// chunk pool is empty the thread drops events and counts them; it never
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
#include <deque>
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
  chunk_header header;
  record records[records_per_chunk];
};

class tracer;

class buffer {
 public:
  buffer(tracer& t, thread_kind kind, std::uint16_t index, std::size_t pool_chunks);
  ~buffer();
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;

  // Owner thread only (or under the shared buffer's mutex).
  void emit(event type, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32, std::uint64_t x,
            std::uint64_t y) noexcept {
    emit_at(now(), type, a8, a16, a32, x, y);
  }
  // With a time read earlier (ticks since start).
  void emit_at(std::uint64_t ts, event type, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32,
               std::uint64_t x, std::uint64_t y) noexcept {
    if (count_ == records_per_chunk || !current_) [[unlikely]] {
      if (!next_chunk()) {
        ++dropped_;
        return;
      }
    }
    // Times never go back within a buffer (weft-trace relies on it): a
    // thread that moved to a core whose counter lags by a few ticks, or the
    // shared buffer's many threads, could otherwise make them. Compared as a
    // signed difference so that a lagging read just after start (which wraps
    // below 0) clamps too.
    if (std::int64_t(ts - last_ts_) < 0) [[unlikely]]
      ts = last_ts_;
    last_ts_ = ts;
    record& r = current_->records[count_++];
    r.ts = ts;
    r.type = std::uint8_t(type);
    r.a8 = a8;
    r.a16 = a16;
    r.a32 = a32;
    r.x = x;
    r.y = y;
  }
  // Interned ids of a spawn site, defined in this buffer's stream on first use.
  std::uint32_t site_id(const char* name, const std::source_location& where) noexcept;
  // Hands the current chunk (if it holds anything) to the writer.
  void flush() noexcept;
  // Writer side: a chunk comes back for reuse.
  void recycle(chunk* c) noexcept;

  // Ticks since the tracer started. Durations taken from two reads (io_poll)
  // are in ticks too; weft-trace converts them.
  std::uint64_t now() const noexcept { return read_ticks() - start_ticks_; }
  // The time for a record that directly follows one of type `prev`: that
  // record's time if it is this buffer's latest, else the clock's. The caller
  // vouches that the time between them is not worth a clock read.
  std::uint64_t now_after(event prev) const noexcept {
    if (count_ > 0 && current_->records[count_ - 1].type == std::uint8_t(prev)) return last_ts_;
    return now();
  }
  thread_kind kind() const noexcept { return kind_; }
  std::uint16_t index() const noexcept { return index_; }
  std::size_t pool_size() const noexcept { return owned_.size(); }

 private:
  bool next_chunk() noexcept;
  std::uint32_t string_id(const char* s) noexcept;
  void emit_raw(const void* bytes, std::size_t n) noexcept;

  tracer& tracer_;
  const std::uint64_t start_ticks_;
  const thread_kind kind_;
  const std::uint16_t index_;
  chunk* current_ = nullptr;
  std::uint32_t count_ = 0;
  std::uint32_t dropped_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t last_ts_ = 0;  // the latest record's time
  std::unordered_map<const void*, std::uint32_t> strings_;
  std::unordered_map<std::uint64_t, std::uint32_t> sites_;
  std::mutex pool_mutex_;  // guards free_ (owner takes, writer returns)
  std::vector<chunk*> free_;
  std::vector<std::unique_ptr<chunk>> owned_;
};

struct tracer_options {
  std::string path;
  std::chrono::seconds flight_window{0};  // 0: stream everything to `path`
  std::size_t workers = 0;
  std::size_t chunks_per_buffer = 32;
};

class tracer {
 public:
  explicit tracer(tracer_options opts);
  ~tracer();

  buffer& worker_buffer(std::size_t i) noexcept { return *workers_[i]; }
  // A buffer for a new blocking-pool thread (owned by the tracer).
  buffer& new_blocking_buffer();
  // Records from threads without a buffer of their own.
  template <class F>
  void with_shared(F&& f) {
    std::lock_guard lock(shared_mutex_);
    f(*shared_);
  }

  void submit(buffer& from, chunk* c) noexcept;
  // Flight-recorder mode: writes the retained window to `path`.
  bool dump(const std::string& path);
  // Flushes all buffers and stops the writer. Call after the workers stopped.
  void stop() noexcept;

  std::uint64_t start_ticks() const noexcept { return start_.ticks; }
  std::uint32_t next_string_id() noexcept { return next_string_.fetch_add(1, std::memory_order_relaxed); }
  std::uint32_t next_site_id() noexcept { return next_site_.fetch_add(1, std::memory_order_relaxed); }
  bool flight_mode() const noexcept { return opts_.flight_window.count() > 0; }
  const std::string& path() const noexcept { return opts_.path; }

  static void request_dump_from_signal() noexcept;

 private:
  struct pending {
    buffer* owner;
    chunk* c;
    std::uint64_t last_ts;
  };
  void writer_main() noexcept;
  void write_chunk(std::FILE* f, const chunk* c) noexcept;
  file_header make_header(std::uint64_t ticks_per_second, bool flight) const noexcept;
  bool write_file(const std::string& path, const std::deque<pending>& chunks, bool flight);
  void trim_window() noexcept;
  // Records a clock_sync into the shared buffer and hands that buffer to the
  // writer, so sync points reach the file (or the flight window) promptly.
  sync_point record_sync() noexcept;
  // Streaming: rewrites the header's tick rate (writer thread, or after it).
  void patch_rate(std::uint64_t ticks_per_second) noexcept;

  tracer_options opts_;
  const sync_point start_;  // every record's time counts ticks from start_.ticks
  std::FILE* file_ = nullptr;
  std::vector<std::unique_ptr<buffer>> workers_;
  std::unique_ptr<buffer> shared_;
  std::mutex shared_mutex_;
  std::vector<std::unique_ptr<buffer>> blocking_;
  std::mutex blocking_mutex_;
  std::atomic<std::uint32_t> next_string_{1};
  std::atomic<std::uint32_t> next_site_{1};

  std::mutex mutex_;  // guards queue_, window_, stopping_
  std::condition_variable cv_;
  std::deque<pending> queue_;   // full chunks waiting for the writer
  std::deque<pending> window_;  // flight mode: retained chunks, oldest first
  bool stopping_ = false;
  std::uint64_t ticks_per_second_ = ticks_are_tsc ? 0 : 1'000'000'000;  // writer thread: rate from start to its latest sync
  std::thread writer_;
};

// Environment and config resolution: the path to trace to ("" = off).
std::string trace_path_from(const std::string& configured);

}  // namespace weft::detail::trace
