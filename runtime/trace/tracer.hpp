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
    if (count_ == records_per_chunk || !current_) [[unlikely]] {
      if (!next_chunk()) {
        ++dropped_;
        return;
      }
    }
    record& r = current_->records[count_++];
    r.ts = now();
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

  std::uint64_t now() const noexcept {
    return std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) - start_ns_;
  }
  thread_kind kind() const noexcept { return kind_; }
  std::uint16_t index() const noexcept { return index_; }

 private:
  bool next_chunk() noexcept;
  std::uint32_t string_id(const char* s) noexcept;
  void emit_raw(const void* bytes, std::size_t n) noexcept;

  tracer& tracer_;
  const std::uint64_t start_ns_;
  const thread_kind kind_;
  const std::uint16_t index_;
  chunk* current_ = nullptr;
  std::uint32_t count_ = 0;
  std::uint32_t dropped_ = 0;
  std::uint64_t seq_ = 0;
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

  std::uint64_t start_ns() const noexcept { return start_ns_; }
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
  bool write_file(const std::string& path, const std::deque<pending>& chunks, bool flight);
  void trim_window() noexcept;

  tracer_options opts_;
  std::uint64_t start_ns_;
  std::uint64_t start_unix_ns_;
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
  std::thread writer_;
};

// Environment and config resolution: the path to trace to ("" = off).
std::string trace_path_from(const std::string& configured);

}  // namespace weft::detail::trace
