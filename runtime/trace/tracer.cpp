#include <runtime/trace/tracer.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace weft::detail::trace {
namespace {

// The first sync point after start comes this soon, not a second later: with
// it (and the header's rate, from it) a trace cut short early still converts.
constexpr auto calibration_delay = std::chrono::milliseconds(10);
constexpr auto sync_interval = std::chrono::seconds(1);

// SIGUSR2 asks every flight-recording tracer of the process for a dump. The
// handler only counts the request (a lock-free atomic, safe there); each
// writer thread compares with the count it last served within its tick. It
// is installed while a flight tracer lives, and passes the signal on to the
// handler it replaced, which comes back when the last such tracer goes
// (unless the program installed another meanwhile).
std::atomic<std::uint64_t> dump_requests{0};
struct sigaction replaced_action {};  // written only while our handler is not installed

extern "C" void on_sigusr2(int sig, siginfo_t* info, void* context) {
  dump_requests.fetch_add(1, std::memory_order_relaxed);
  if (replaced_action.sa_flags & SA_SIGINFO) {
    if (replaced_action.sa_sigaction) replaced_action.sa_sigaction(sig, info, context);
  } else if (replaced_action.sa_handler != SIG_DFL && replaced_action.sa_handler != SIG_IGN &&
             replaced_action.sa_handler != nullptr) {
    replaced_action.sa_handler(sig);
  }
}

struct flight_tracers {
  std::mutex mutex;
  std::size_t count = 0;
};

flight_tracers& flight_registry() {
  static flight_tracers* r = new flight_tracers;  // never destroyed: a runtime may end late
  return *r;
}

void add_flight_tracer() noexcept {
  flight_tracers& r = flight_registry();
  std::lock_guard lock(r.mutex);
  if (r.count++ > 0) return;
  struct sigaction sa {};
  sa.sa_sigaction = on_sigusr2;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_SIGINFO;
  sigaction(SIGUSR2, &sa, &replaced_action);
}

void remove_flight_tracer() noexcept {
  flight_tracers& r = flight_registry();
  std::lock_guard lock(r.mutex);
  if (--r.count > 0) return;
  struct sigaction now {};
  if (sigaction(SIGUSR2, nullptr, &now) == 0 && (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_sigusr2)
    sigaction(SIGUSR2, &replaced_action, nullptr);
}

}  // namespace

namespace {

struct path_claims {
  std::mutex mutex;
  std::set<std::string> live;      // traced to by a runtime alive now
  std::set<std::string> from_env;  // taken from WEFT_TRACE by any runtime so far
  bool taken(const std::string& p) const { return live.count(p) || from_env.count(p); }
};

path_claims& claims() {
  // Never destroyed: a runtime may end after static destruction began.
  static path_claims* c = new path_claims;
  return *c;
}

// run.wtrace -> run.<n>.wtrace; any other name gets .<n> appended.
std::string numbered(const std::string& path, unsigned n) {
  constexpr std::string_view ext = ".wtrace";
  if (path.size() > ext.size() && path.ends_with(ext))
    return fmt::format("{}.{}{}", path.substr(0, path.size() - ext.size()), n, ext);
  return fmt::format("{}.{}", path, n);
}

}  // namespace

std::string claim_trace_path(const std::string& configured) {
  std::string path = configured;
  const char* env = std::getenv("WEFT_TRACE");
  const bool env_path = path.empty() && env && *env;
  if (env_path) path = env;
  if (path.empty()) return path;
  path_claims& c = claims();
  std::lock_guard lock(c.mutex);
  std::string chosen = path;
  for (unsigned n = 2; c.taken(chosen); ++n) chosen = numbered(path, n);
  if (chosen != path)
    fmt::print(stderr, "weft: trace file {} is {}; this runtime traces to {}\n", path,
               c.live.count(path) ? "in use by another runtime of this process"
                                  : "an earlier runtime's trace (WEFT_TRACE)",
               chosen);
  c.live.insert(chosen);
  if (env_path) c.from_env.insert(chosen);
  return chosen;
}

void release_trace_path(const std::string& path) noexcept {
  if (path.empty()) return;
  path_claims& c = claims();
  std::lock_guard lock(c.mutex);
  c.live.erase(path);
}

buffer::buffer(tracer& t, thread_kind kind, std::uint16_t index, std::size_t pool_chunks)
    : tracer_(t), start_ticks_(t.start_ticks()), max_span_(t.chunk_span_ticks()), kind_(kind), index_(index) {
  owned_.reserve(pool_chunks);
  free_.reserve(pool_chunks);
  for (std::size_t i = 0; i < pool_chunks; ++i) {
    owned_.push_back(std::make_unique<chunk>());
    free_.push_back(owned_.back().get());
  }
}

buffer::~buffer() = default;

namespace {
std::uint64_t involuntary_switches() noexcept {
  rusage r;
  if (::getrusage(RUSAGE_THREAD, &r) != 0) return 0;
  return std::uint64_t(r.ru_nivcsw);
}
}  // namespace

void buffer::sample_switches(std::uint64_t ts) noexcept {
  switches_ = involuntary_switches();
  switches_ts_ = ts;
  switches_sampled_ = true;
}

std::uint32_t buffer::switches_field(std::uint64_t ts) noexcept {
  if (!switches_sampled_) {
    sample_switches(ts);
    return 0;
  }
  std::uint64_t before = switches_;
  sample_switches(ts);
  return std::uint32_t(std::min<std::uint64_t>(switches_ - before, 0xfffffffeu) + 1);
}

chunk* buffer::take_free() noexcept {
  std::lock_guard lock(pool_mutex_);
  if (free_.empty()) return nullptr;
  chunk* c = free_.back();
  free_.pop_back();
  return c;
}

bool buffer::next_chunk(std::uint64_t ts) noexcept {
  if (current_) hand_in(true);
  chunk* c = take_free();
  // Flight mode: the rest of the pool is in the window (the writer trims it
  // only every few chunks or 100 ms): our oldest chunk there makes room. A
  // flight recorder loses its oldest events, not its newest.
  if (!c && tracer_.flight_mode() && tracer_.reclaim_oldest(*this)) c = take_free();
  if (!c) return false;
  current_ = c;
  count_ = 0;
  base_ = ts;
  chunk_taken_ns_ = steady_now_ns();
  current_->header.base = ts;
  return true;
}

slot* buffer::place_slow(std::uint64_t ts, std::uint32_t n) noexcept {
  // `ts` is already clamped. A record whose delta does not fit in 32 bits
  // (2^32 ticks: over a second at GHz rates, so a thread idle that long) gets
  // a time_base before it; if that or the record itself does not fit in
  // what is left of the chunk, a fresh chunk's header carries the base.
  bool room = current_ && count_ + n <= units_per_chunk;
  if (room && ts - base_ > 0xffffffffu && max_span_ == 0xffffffffu &&
      count_ + 2 * units_per_slot + n <= units_per_chunk) {
    slot* s = slot_at(count_);
    count_ += 2 * units_per_slot;
    s->delta = 0;
    fill_long(s, event::time_base, 0, 0, 0, ts, 0);
    base_ = ts;
  } else if (!room || ts - base_ > max_span_) {
    if (!next_chunk(ts)) {
      ++dropped_;
      last_type_ = 0;
      return nullptr;
    }
  }
  last_ts_ = ts;
  slot* s = slot_at(count_);
  count_ += n;
  s->delta = std::uint32_t(ts - base_);
  return s;
}

void buffer::hand_in(bool full) noexcept {
  if (!current_ || count_ == 0) return;
  chunk* c = std::exchange(current_, nullptr);
  c->header = chunk_header{chunk_magic, std::uint16_t(kind_), index_, count_, dropped_, seq_++, c->header.base};
  dropped_ = 0;
  count_ = units_per_chunk;  // no chunk: the next record takes one
  last_type_ = 0;
  tracer_.submit(*this, c, last_ts_, full);
}

bool buffer::stale() const noexcept {
  constexpr std::uint64_t stale_ns = 100'000'000;
  return current_ && steady_now_ns() - chunk_taken_ns_ >= stale_ns;
}

void buffer::flush_on_idle() noexcept {
  if (flush_requested_.load(std::memory_order_relaxed)) return answer_flush_request();
  if (count_ >= units_per_chunk / 4 || stale()) flush();
}

void buffer::flush_if_stale() noexcept {
  if (stale()) flush();
}

void buffer::answer_flush_request() noexcept {
  flush();
  // release: pairs with collect_workers' acquire; the chunk is in the
  // tracer's queue (submit took its mutex) before the flag reads false.
  flush_requested_.store(false, std::memory_order_release);
  tracer_.flush_answered();
}

void buffer::recycle(chunk* c) noexcept {
  std::lock_guard lock(pool_mutex_);
  free_.push_back(c);
}

std::uint32_t buffer::string_id(const char* s) noexcept {
  if (!s) return 0;
  if (auto it = strings_.find(s); it != strings_.end()) return it->second;
  std::size_t len = std::min<std::size_t>(std::strlen(s), 255);
  // The raw bytes follow the (long) string record in the same chunk, in
  // whole units that are NOT records: place() reserves them all at once.
  std::uint32_t payload = std::uint32_t((len + unit_bytes - 1) / unit_bytes);
  slot* r = place(now(), 2 * units_per_slot + payload);
  if (!r) return 0;
  std::uint32_t id = tracer_.next_string_id();
  fill_long(r, event::string, 0, std::uint16_t(len), id, 0, 0);
  auto* bytes = reinterpret_cast<unsigned char*>(r + 2);
  std::memset(bytes, 0, payload * unit_bytes);
  std::memcpy(bytes, s, len);
  if (!tracer_.keep_definition(r, 2 * units_per_slot + payload)) return 0;
  strings_.emplace(s, id);
  return id;
}

std::uint32_t buffer::site_id_slow(std::uint64_t key, const char* name, const std::source_location& where) noexcept {
  if (auto it = sites_.find(key); it != sites_.end()) return it->second;
  // Defined only once every part of it is: a site whose record or strings
  // were dropped (pool empty) is tried again at its next spawn, rather than
  // cached undefined for the rest of the trace. Until then its spawns have
  // no site (0).
  std::uint32_t file = string_id(where.file_name());
  std::uint32_t function = string_id(where.function_name());
  std::uint32_t name_id = name ? string_id(name) : 0;
  if (file == 0 || function == 0 || (name && name_id == 0)) return 0;
  slot* r = place(now(), 2 * units_per_slot);
  if (!r) return 0;
  std::uint32_t id = tracer_.next_site_id();
  fill_long(r, event::site, 0, 0, id, (std::uint64_t(file) << 32) | where.line(),
            (std::uint64_t(function) << 32) | name_id);
  if (!tracer_.keep_definition(r, 2 * units_per_slot)) return 0;
  sites_.emplace(key, id);
  return id;
}

tracer::tracer(tracer_options opts) : opts_(std::move(opts)), start_(take_sync_point()) {
  if (!flight_mode()) {
    file_ = std::fopen(opts_.path.c_str(), "wb");
    if (!file_)
      fmt::print(stderr, "weft: cannot open trace file {}: {}; tracing to nowhere\n", opts_.path,
                 std::strerror(errno));
    else {
      // The tick rate is not known yet (0); the writer fills it in.
      file_header h = make_header(ticks_are_tsc ? 0 : 1'000'000'000, false);
      std::fwrite(&h, sizeof h, 1, file_);
    }
  } else {
    dumps_served_ = dump_requests.load(std::memory_order_relaxed);
    add_flight_tracer();
  }
  if (flight_mode()) {
    // The tick rate over a moment's wait (the writer measures it properly
    // later; this only bounds a chunk's span).
    std::uint64_t rate = 1'000'000'000;
    if (ticks_are_tsc) {
      sync_point a = take_sync_point();
      while (steady_now_ns() - a.steady_ns < 2'000'000) {
      }
      rate = std::max<std::uint64_t>(1, ticks_per_second(a, take_sync_point()));
    }
    std::uint64_t span = std::uint64_t(opts_.flight_window.count()) * rate / 8;
    chunk_span_ticks_ = std::clamp<std::uint64_t>(span, 1, 0xffffffffu);
  }
  workers_.reserve(opts_.workers);
  for (std::size_t i = 0; i < opts_.workers; ++i)
    workers_.push_back(std::make_unique<buffer>(*this, thread_kind::worker, std::uint16_t(i),
                                                opts_.chunks_per_buffer));
  shared_ = std::make_unique<buffer>(*this, thread_kind::other, 0, 8);
  // The start is a sync point too (the header's), at tick 0.
  with_shared([&](buffer& b) { b.emit_at(0, event::clock_sync, 0, 0, 0, start_.steady_ns, start_.unix_ns); });
  writer_ = std::thread([this] { writer_main(); });
}

tracer::~tracer() {
  stop();
  if (flight_mode()) remove_flight_tracer();
}

buffer& tracer::new_blocking_buffer() {
  std::lock_guard lock(blocking_mutex_);
  if (!unused_blocking_.empty()) {
    buffer* b = unused_blocking_.back();
    unused_blocking_.pop_back();
    return *b;
  }
  blocking_.push_back(std::make_unique<buffer>(*this, thread_kind::blocking,
                                               std::uint16_t(blocking_.size()), 4));
  unused_blocking_.reserve(blocking_.size());  // so that giving one back cannot fail
  return *blocking_.back();
}

void tracer::release_blocking_buffer(buffer& b) noexcept {
  std::lock_guard lock(blocking_mutex_);
  unused_blocking_.push_back(&b);
}

void tracer::submit(buffer& from, chunk* c, std::uint64_t last, bool full) noexcept {
  bool wake;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(pending{&from, c, last});
    urgent_ = urgent_ || !full;
    wake = urgent_ || queue_.size() >= writer_batch;
  }
  if (wake) cv_.notify_one();
}

file_header tracer::make_header(std::uint64_t rate, bool flight) const noexcept {
  file_header h{};
  std::memcpy(h.magic, "WEFTTRC1", 8);
  h.version = format_version;
  h.header_size = sizeof h;
  h.start_ns = start_.steady_ns;
  h.start_unix_ns = start_.unix_ns;
  h.workers = std::uint32_t(opts_.workers);
  h.flags = (flight ? flag_flight : 0u) | (ticks_are_tsc ? flag_ticks : 0u);
  h.pid = std::uint64_t(::getpid());
  h.start_ticks = ticks_are_tsc ? start_.ticks : 0;
  h.ticks_per_second = rate;
  return h;
}

sync_point tracer::record_sync() noexcept {
  sync_point s;
  with_shared([&](buffer& b) {
    // Read under the shared buffer's lock: no other thread's record can come
    // between this reading and its place in the buffer.
    s = take_sync_point();
    b.emit_at(s.ticks - start_.ticks, event::clock_sync, 0, 0, 0, s.steady_ns, s.unix_ns);
    b.flush();
  });
  return s;
}

void tracer::patch_rate(std::uint64_t rate) noexcept {
  if (!file_ || !ticks_are_tsc) return;
  // The file is opened "wb" (not append), so the header can be rewritten in
  // place; everything after it is already out of stdio's buffer.
  std::fflush(file_);
  if (std::fseek(file_, long(offsetof(file_header, ticks_per_second)), SEEK_SET) == 0)
    std::fwrite(&rate, sizeof rate, 1, file_);
  std::fseek(file_, 0, SEEK_END);
}

void tracer::write_chunk(std::FILE* f, const chunk* c) noexcept {
  std::fwrite(&c->header, sizeof(chunk_header), 1, f);
  std::fwrite(c->body, unit_bytes, c->header.count, f);
}

void tracer::absorb_queue() noexcept {
  for (auto& p : queue_) window_.push_back(p);
  queue_.clear();
  trim_window();
}

void tracer::trim_window() noexcept {
  // Drops every chunk older than the window, wherever it sits (a worker that
  // slept hands in its last chunk late, so arrival order is not age order),
  // and a buffer's oldest chunks while it holds so many that its owner would
  // run dry. Chunks go back to their pools.
  std::uint64_t newest = 0;
  for (auto& p : window_) newest = std::max(newest, p.last_ts);
  // Times are ticks: the window's length in ticks at the latest rate (none
  // known in the first 10 ms, when nothing is old enough anyway).
  std::uint64_t horizon = std::uint64_t(opts_.flight_window.count()) * ticks_per_second_.load(std::memory_order_relaxed);
  std::unordered_map<buffer*, std::size_t> held;
  for (auto& p : window_) ++held[p.owner];
  std::deque<pending> kept;
  for (auto& p : window_) {  // each buffer's chunks in its own order: oldest first
    bool too_old = horizon > 0 && newest > horizon && p.last_ts < newest - horizon;
    bool starving = held[p.owner] + 2 > p.owner->pool_size();
    if (too_old || starving) {
      --held[p.owner];
      drop_from_window(p);
    } else {
      kept.push_back(p);
    }
  }
  window_.swap(kept);
}

bool tracer::keep_definition(const slot* record, std::uint32_t units) noexcept {
  if (!flight_mode()) return true;  // the stream has it, and a streamed file keeps all
  std::lock_guard lock(definitions_mutex_);
  const std::size_t start = definitions_.size();
  const auto* first = reinterpret_cast<const std::uint64_t*>(record);
  try {
    definitions_.insert(definitions_.end(), first, first + units);
    definition_starts_.push_back(std::uint32_t(start));
  } catch (const std::bad_alloc&) {
    definitions_.resize(start);
    return false;
  }
  // Its time is the definitions chunk's base (write_definitions).
  std::memset(&definitions_[start], 0, sizeof record->delta);
  return true;
}

void tracer::drop_from_window(const pending& p) noexcept {
  p.owner->trimmed_until = std::max(p.owner->trimmed_until, p.last_ts);
  p.owner->recycle(p.c);
}

namespace {

// Records for a dump's definitions chunks, built in memory (units of 8 bytes).
struct record_list {
  std::vector<std::uint64_t> units;
  std::vector<std::uint32_t> starts;  // where each record begins
  void add_long(event type, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32, std::uint64_t x, std::uint64_t y,
                const char* payload = nullptr, std::size_t len = 0) {
    slot r[2]{};  // delta 0: timed at the chunk's base
    r[0].type = std::uint8_t(type) | long_flag;
    r[0].a8 = a8;
    r[0].a16 = a16;
    r[0].x = x;
    r[1].delta = a32;
    r[1].x = y;
    starts.push_back(std::uint32_t(units.size()));
    const auto* u = reinterpret_cast<const std::uint64_t*>(r);
    units.insert(units.end(), u, u + 2 * units_per_slot);
    if (len) {
      std::size_t at = units.size();
      units.resize(at + (len + unit_bytes - 1) / unit_bytes, 0);
      std::memcpy(&units[at], payload, len);
    }
  }
};

}  // namespace

void tracer::write_definitions(std::FILE* f, std::uint64_t base, const std::vector<live_task>& live) noexcept {
  std::uint64_t seq = 0;
  auto header = [&](std::size_t units) {
    chunk_header h{chunk_magic, std::uint16_t(thread_kind::other), definitions_index, std::uint32_t(units), 0,
                   seq++, base};
    std::fwrite(&h, sizeof h, 1, f);
  };
  // First chunk, always written (its presence says the dump lists its
  // trims): a `trimmed` record for each thread that lost chunks, saying
  // where its events are whole from.
  std::vector<const buffer*> trimmed;
  auto note = [&](const buffer& b) {
    if (b.trimmed_until) trimmed.push_back(&b);
  };
  try {
    for (auto& b : workers_) note(*b);
    note(*shared_);
    std::lock_guard lock(blocking_mutex_);
    for (auto& b : blocking_) note(*b);
  } catch (const std::bad_alloc&) {  // the dump goes without some of them
  }
  header(trimmed.size() * 2 * units_per_slot);
  for (const buffer* b : trimmed) {
    slot r[2]{};
    r[0].type = std::uint8_t(event::trimmed) | long_flag;
    r[0].a8 = std::uint8_t(b->kind());
    r[0].a16 = b->index();
    r[0].x = b->trimmed_until;
    std::fwrite(r, sizeof r, 1, f);
  }
  // Records in chunks of whole records.
  auto write_records = [&](const std::vector<std::uint64_t>& units, const std::vector<std::uint32_t>& starts) {
    std::size_t at = 0;  // index into starts
    while (at < starts.size()) {
      std::size_t begin = starts[at], end = begin;
      while (at < starts.size()) {
        std::size_t next = at + 1 < starts.size() ? starts[at + 1] : units.size();
        if (next - begin > units_per_chunk) break;
        end = next;
        ++at;
      }
      header(end - begin);
      std::fwrite(&units[begin], unit_bytes, end - begin, f);
    }
  };
  {
    std::lock_guard lock(definitions_mutex_);
    write_records(definitions_, definition_starts_);
  }
  // A spawn record for each live task: one spawned before the window began
  // would have none (a server's connection tasks, its accept loop). Their
  // sites are defined here afresh, once per distinct site.
  try {
    record_list out;
    auto string_of = [&](std::string_view text) -> std::uint32_t {
      if (text.empty()) return 0;
      std::size_t len = std::min<std::size_t>(text.size(), 255);
      std::uint32_t id = next_string_id();
      out.add_long(event::string, 0, std::uint16_t(len), id, 0, 0, text.data(), len);
      return id;
    };
    std::unordered_map<std::string, std::uint32_t> sites;  // file, line, function, name -> id
    for (const live_task& t : live) {
      std::string key = fmt::format("{}\n{}\n{}\n{}", t.where.file_name(), t.where.line(), t.where.function_name(),
                                    t.name);
      auto [it, fresh] = sites.try_emplace(std::move(key), 0);
      if (fresh) {
        std::uint32_t file = string_of(t.where.file_name());
        std::uint32_t function = string_of(t.where.function_name());
        std::uint32_t name = string_of(t.name);
        it->second = next_site_id();
        out.add_long(event::site, 0, 0, it->second, (std::uint64_t(file) << 32) | t.where.line(),
                     (std::uint64_t(function) << 32) | name);
      }
      out.add_long(event::spawn, 0, 0, it->second, t.id, t.parent);
    }
    write_records(out.units, out.starts);
  } catch (const std::bad_alloc&) {  // the dump goes without them
  }
}

bool tracer::reclaim_oldest(buffer& b) noexcept {
  // Not while a dump writes the window: its file I/O holds the mutex, and a
  // worker should drop events rather than stall behind it.
  if (writing_dump_.load(std::memory_order_relaxed)) return false;
  std::lock_guard lock(mutex_);
  // Each buffer's chunks sit in its own order in both, and the window's are
  // older than the queue's.
  for (std::deque<pending>* list : {&window_, &queue_}) {
    auto it = std::find_if(list->begin(), list->end(), [&](const pending& p) { return p.owner == &b; });
    if (it != list->end()) {
      drop_from_window(*it);
      list->erase(it);
      return true;
    }
  }
  return false;
}

void tracer::writer_main() noexcept {
  pthread_setname_np(pthread_self(), "weft-tracer");
  std::unique_lock lock(mutex_);
  auto next_sync = std::chrono::steady_clock::now() + calibration_delay;
  for (;;) {
    auto wait = std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(100), next_sync - std::chrono::steady_clock::now());
    // Full chunks wait for a batch (or the timeout, at most 100 ms).
    cv_.wait_for(lock, wait, [&] { return queue_.size() >= writer_batch || urgent_ || stopping_; });
    urgent_ = false;
    std::deque<pending> batch;
    bool stop_now = stopping_ && queue_.empty();
    // Flight mode: into the window under the same lock, so that a dump never
    // misses a chunk in flight between the queue and the window.
    if (flight_mode()) absorb_queue();
    else batch.swap(queue_);
    lock.unlock();
    if (flight_mode()) {
      if (std::uint64_t asked = dump_requests.load(std::memory_order_relaxed); asked != dumps_served_) {
        dumps_served_ = asked;
        dump(signal_dump_path());
      }
    } else {
      for (auto& p : batch) {
        if (file_) write_chunk(file_, p.c);
        p.owner->recycle(p.c);
      }
      if (file_ && !batch.empty()) std::fflush(file_);
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= next_sync && !stop_now) {
      next_sync = now + sync_interval;
      // The header's rate is the mean from start to now: what a reader falls
      // back on if the sync records themselves did not make it to the file.
      std::uint64_t rate = ticks_per_second(start_, record_sync());
      ticks_per_second_.store(rate, std::memory_order_relaxed);
      patch_rate(rate);
    }
    lock.lock();
    if (stop_now) break;
  }
}

std::string tracer::signal_dump_path() const {
  // <path>.<unix seconds>.wtrace; a second dump within that second gets
  // <path>.<unix seconds>-2.wtrace and so on, rather than replace the first.
  std::string base =
      fmt::format("{}.{}", opts_.path.empty() ? "weft-flight" : opts_.path, unix_now_ns() / 1000000000);
  std::string path = base + ".wtrace";
  for (unsigned n = 2; ::access(path.c_str(), F_OK) == 0 && n < 1000; ++n) path = fmt::format("{}-{}.wtrace", base, n);
  return path;
}

bool tracer::write_file(const std::string& path, const std::deque<pending>& chunks,
                        const std::vector<live_task>* live) {
  const bool flight = live != nullptr;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  // The window holds the sync points of its last seconds (the writer hands
  // them over every second); the rate from start to now covers the rest.
  std::uint64_t rate = ticks_are_tsc ? ticks_per_second(start_, take_sync_point()) : 1'000'000'000;
  file_header h = make_header(rate, flight);
  std::fwrite(&h, sizeof h, 1, f);
  if (flight) {
    // The chunks that defined the window's strings and sites may be gone
    // from it: every definition comes first, timed at the oldest chunk.
    std::uint64_t base = chunks.empty() ? 0 : chunks.front().c->header.base;
    for (auto& p : chunks) base = std::min(base, p.c->header.base);
    write_definitions(f, base, *live);
  }
  for (auto& p : chunks) write_chunk(f, p.c);
  bool ok = std::fflush(f) == 0;
  return std::fclose(f) == 0 && ok;
}

void tracer::collect_workers(buffer* caller) noexcept {
  if (caller) caller->flush();
  // Spawns and wakes from threads outside the runtime (rt.spawn, block_on)
  // sit in the shared buffer, which otherwise goes to the writer only with
  // each clock sync.
  with_shared([](buffer& b) { b.flush(); });
  if (opts_.flush_blocking) opts_.flush_blocking();
  for (auto& b : workers_)
    if (b.get() != caller) b->request_flush();
  if (opts_.wake_workers) opts_.wake_workers();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  auto answered = [&] {
    for (auto& b : workers_)
      if (b->flush_pending()) return false;
    return true;
  };
  std::unique_lock lock(answer_mutex_);
  answer_cv_.wait_until(lock, deadline, answered);
}

void tracer::flush_answered() noexcept {
  { std::lock_guard lock(answer_mutex_); }  // a waiter between its check and its wait sees us
  answer_cv_.notify_all();
}

bool tracer::dump(const std::string& path, buffer* caller) {
  if (!flight_mode()) return false;
  collect_workers(caller);
  std::vector<live_task> live;
  if (opts_.live_tasks) {
    try {
      live = opts_.live_tasks();
    } catch (const std::bad_alloc&) {  // the dump goes without them
    }
  }
  return write_dump(path, live);
}

bool tracer::write_dump(const std::string& path, const std::vector<live_task>& live) {
  // Sites and strings are defined once per buffer stream, in chunks the
  // window may have lost: write_file puts the kept copies first.
  std::lock_guard lock(mutex_);
  absorb_queue();  // chunks handed in since the writer's last pass belong in the dump
  writing_dump_.store(true, std::memory_order_relaxed);
  bool ok = write_file(path, window_, &live);
  writing_dump_.store(false, std::memory_order_relaxed);
  return ok;
}

void tracer::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !writer_.joinable()) return;
  }
  for (auto& b : workers_) b->flush();
  {
    // Not flushed under blocking_mutex_: a flush takes mutex_, and a dump
    // holds mutex_ while it takes blocking_mutex_.
    std::vector<buffer*> blocking;
    {
      std::lock_guard lock(blocking_mutex_);
      for (auto& b : blocking_) blocking.push_back(b.get());
    }
    for (buffer* b : blocking) b->flush();
  }
  // The last sync point, after every other record (and flushing the shared buffer).
  sync_point last = record_sync();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  writer_.join();
  if (file_) {
    patch_rate(ticks_per_second(start_, last));
    std::fclose(file_);
    file_ = nullptr;
  }
}

}  // namespace weft::detail::trace
