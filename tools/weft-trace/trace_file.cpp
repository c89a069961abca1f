#include "trace_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

#include <fmt/format.h>

namespace weft_trace {
namespace {

// Little-endian loads; the file's layout owes nothing to this machine's.
std::uint64_t load(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint16_t u16(const unsigned char* p) { return std::uint16_t(load(p, 2)); }
std::uint32_t u32(const unsigned char* p) { return std::uint32_t(load(p, 4)); }
std::uint64_t u64(const unsigned char* p) { return load(p, 8); }

struct chunk_header {
  std::uint32_t magic;
  std::uint16_t kind;
  std::uint16_t index;
  std::uint32_t count;  // records (versions 1, 2) or slots (version 3)
  std::uint32_t dropped;
  std::uint64_t seq;
  std::uint64_t base;  // version 3: the time the deltas count from
};

chunk_header read_chunk_header(const unsigned char* p) {
  return {u32(p), u16(p + 4), u16(p + 6), u32(p + 8), u32(p + 12), u64(p + 16), u64(p + 24)};
}

// The record types a version 3 (4) file may write in one slot.
bool short_type(std::uint8_t type, bool v4) {
  return type == std::uint8_t(rec::poll_begin) || type == std::uint8_t(rec::poll_end) ||
         type == std::uint8_t(rec::wake) ||
         (v4 && (type == std::uint8_t(rec::poll) || type == std::uint8_t(rec::spawn)));
}

namespace tr = weft::detail::trace;

// Version 4: a short wake's waker (spawn's parent) until the poll that
// follows it names it.
constexpr std::uint64_t task_of_enclosing_poll = ~std::uint64_t(0);

// A wake's waker or a spawn's parent: the task that made it.
bool made_by_task(const record& r) { return r.type == rec::wake || r.type == rec::spawn; }

// Version 4: turns each stream's poll records (kept as rec::poll with the
// poll's begin in y, outcome in a8, source in a16 >> 8, 1 + involuntary
// context switches (0: not measured, at most 255) in a16's low byte, wait
// kind in a32; the switches go to the poll_end's a32)
// back into poll_begin and poll_end, and names the waker (parent) of the
// short wakes (spawns) made during a poll. The records a poll made come before its record: its
// begin goes in front of those later than it (or as late and made in it).
// A wake told to be in a poll whose record is missing (a lost chunk, a
// dropped event) has no poll of its own after it, only a later one, which
// began after it: it keeps no waker.
void expand_polls(thread_stream& s, decode_report& report) {
  std::vector<record> out;
  out.reserve(s.records.size() + s.records.size() / 2);
  std::size_t since = 0;  // first record after the previous poll
  auto in_poll = [](const record& r) { return made_by_task(r) && r.y == task_of_enclosing_poll; };
  for (const record& r : s.records) {
    if (r.type != rec::poll) {
      out.push_back(r);
      continue;
    }
    std::uint64_t begin = r.y;
    for (std::size_t j = since; j < out.size(); ++j)
      if (in_poll(out[j])) out[j].y = out[j].ts >= begin ? r.x : 0;
    std::size_t at = out.size();
    while (at > since &&
           (out[at - 1].ts > begin || (out[at - 1].ts == begin && made_by_task(out[at - 1]) && out[at - 1].y == r.x)))
      --at;
    record b;
    b.ts = begin;
    b.type = rec::poll_begin;
    b.a8 = std::uint8_t(r.a16 >> 8);
    b.x = r.x;
    out.insert(out.begin() + std::ptrdiff_t(at), b);
    record e;
    e.ts = r.ts;
    e.type = rec::poll_end;
    e.a8 = r.a8;
    e.a16 = std::uint16_t(r.a32);
    e.a32 = r.a16 & 0xff;
    e.x = r.x;
    out.push_back(e);
    ++report.records;  // one record in the file, two here
    since = out.size();
  }
  for (std::size_t j = since; j < out.size(); ++j)
    if (in_poll(out[j])) out[j].y = 0;
  s.records = std::move(out);
}

record read_record(const unsigned char* p) {
  record r;
  r.ts = u64(p);
  r.type = rec(p[8]);
  r.a8 = p[9];
  r.a16 = u16(p + 10);
  r.a32 = u32(p + 12);
  r.x = u64(p + 16);
  r.y = u64(p + 24);
  return r;
}

class decoder {
 public:
  decoder(std::string_view bytes, trace_data& out)
      : data_(reinterpret_cast<const unsigned char*>(bytes.data())),
        size_(bytes.size()),
        out_(out),
        compact_(out.header.version >= 3),
        v4_(out.header.version >= 4),
        v5_(out.header.version >= 5),
        unit_(v5_ ? unit_size : compact_ ? slot_size : v2_record_size),
        max_count_(v5_ ? max_chunk_units : compact_ ? max_chunk_slots : max_chunk_records) {}

  void run(std::size_t pos) {
    std::size_t garbage_from = 0;
    bool in_garbage = false;
    while (pos < size_) {
      if (size_ - pos < chunk_header_size) {
        if (in_garbage) break;
        out_.report.truncated = true;
        out_.report.truncated_in_header = true;
        out_.report.truncated_bytes = size_ - pos;
        return;
      }
      chunk_header h = read_chunk_header(data_ + pos);
      if (!plausible(h)) {
        // Lost sync: look for the next chunk header byte by byte (garbage
        // need not come in whole records).
        if (!in_garbage) {
          in_garbage = true;
          garbage_from = pos;
        }
        ++pos;
        continue;
      }
      end_garbage(in_garbage, garbage_from, pos);
      std::size_t body = pos + chunk_header_size;
      std::size_t available = (size_ - body) / unit_;
      std::size_t count = h.count;
      if (available < count) {
        out_.report.truncated = true;
        out_.report.truncated_thread = {thread_kind(h.kind), h.index};
        out_.report.truncated_bytes = count * unit_ - (size_ - body);
        count = available;
      }
      chunk(h, body, count, count < h.count);
      pos = body + std::size_t(h.count) * unit_;
    }
    end_garbage(in_garbage, garbage_from, size_);
  }

  void finish() {
    out_.threads.reserve(streams_.size());
    for (auto& [id, s] : streams_) out_.threads.push_back(std::move(s));
  }

 private:
  void end_garbage(bool& in_garbage, std::size_t from, std::size_t to) {
    if (!in_garbage) return;
    in_garbage = false;
    out_.report.garbage_bytes += to - from;
    ++out_.report.garbage_runs;
  }

  // A header we are willing to follow. A damaged one would send the decoder
  // off into the middle of other chunks, so the fields must be in range too.
  bool plausible(const chunk_header& h) const {
    return h.magic == chunk_magic && h.kind <= 2 && h.count <= max_count_;
  }

  thread_stream& stream(thread_id id) {
    auto [it, fresh] = streams_.try_emplace(id);
    if (fresh) it->second.id = id;
    return it->second;
  }

  void chunk(const chunk_header& h, std::size_t body, std::size_t count, bool cut) {
    if (h.kind == std::uint16_t(thread_kind::other) && h.index == tr::definitions_index) {
      // A flight-recorder dump's strings, sites and trims: read, but no
      // thread's.
      thread_stream scratch;
      ++out_.report.chunks;
      out_.lists_trims = true;
      if (compact_) slots(scratch, h, body, count, cut);
      else records(scratch, body, count, cut);
      for (const record& r : scratch.records) {
        if (r.type == rec::spawn) out_.live_spawns.push_back(r);
        if (r.type != rec::trimmed) continue;
        std::uint64_t& from = out_.whole_from[{thread_kind(r.a8), r.a16}];
        from = std::max(from, r.x);
      }
      return;
    }
    thread_stream& s = stream({thread_kind(h.kind), h.index});
    ++out_.report.chunks;
    ++s.chunks;
    s.dropped += h.dropped;
    // A flight-recorder dump keeps only recent chunks: its first sequence
    // number is not 0, and that is no loss.
    bool first = s.chunks == 1;
    if (first && out_.header.flight_recorder()) s.next_seq = h.seq;
    if (h.seq > s.next_seq)
      s.lost_chunks += h.seq - s.next_seq;
    else if (h.seq < s.next_seq)
      ++out_.report.out_of_order_chunks;
    s.next_seq = h.seq + 1;

    if (compact_)
      slots(s, h, body, count, cut);
    else
      records(s, body, count, cut);
  }

  // Versions 1 and 2: 32-byte records.
  void records(thread_stream& s, std::size_t body, std::size_t count, bool cut) {
    for (std::size_t i = 0; i < count;) {
      record r = read_record(data_ + body + i * v2_record_size);
      ++i;
      auto type = std::uint8_t(r.type);
      if (type == 0 || type > last_record_type) {
        ++out_.report.unknown_records;
        continue;
      }
      if (r.type == rec::string) {
        if (!string(r, body, i, count, v2_record_size, cut)) return;
        continue;
      }
      keep(s, r);
    }
  }

  // Version 3 on: records of one or two 16-byte slots, times as deltas from
  // the chunk's base (which time_base records move). Version 3: a short
  // wake's waker is the task whose poll is open in this chunk. Version 4:
  // polls are single records, which expand_polls unfolds once the streams
  // are whole. Version 5: counted in 8-byte units, and compact records of
  // one unit whose times follow from the record before them.
  void slots(thread_stream& s, const chunk_header& h, std::size_t body, std::size_t count, bool cut) {
    std::uint64_t base = h.base;
    std::uint64_t prev = base;  // the latest record's time (version 5)
    std::uint64_t open = 0;  // a chunk reads on its own: no poll is open at its start
    const std::size_t slot_units = slot_size / unit_;
    for (std::size_t i = 0; i < count;) {
      const unsigned char* p = data_ + body + i * unit_;
      if (v5_ && (p[4] & long_flag) == 0 && p[4] >= tr::compact_made) {
        ++i;
        record r = compact_record(p, prev);
        prev = r.ts;
        keep(s, r);
        continue;
      }
      bool is_long = (p[4] & long_flag) != 0;
      std::size_t n = (is_long ? 2 : 1) * slot_units;
      if (i + n > count) {
        // Its second slot is not in this chunk (in a cut chunk: the
        // truncation, already reported).
        if (!cut) ++out_.report.split_records;
        return;
      }
      i += n;
      record r;
      r.ts = base + u32(p);
      auto type = std::uint8_t(p[4] & ~long_flag);
      r.type = rec(type);
      r.a8 = p[5];
      r.a16 = u16(p + 6);
      r.x = u64(p + 8);
      if (is_long) {
        r.a32 = u32(p + 16);
        r.y = u64(p + 24);
      }
      prev = r.ts;
      if (is_long && r.type == rec::time_base) {
        base = r.x;
        prev = base;
        continue;
      }
      // A type the reader does not know still has a known length: skipped.
      bool known = type != 0 && (type <= last_record_type || (v4_ && type == std::uint8_t(rec::poll)) ||
                                 (is_long && type == std::uint8_t(rec::trimmed)));
      if (!known || (!is_long && !short_type(type, v4_))) {
        ++out_.report.unknown_records;
        continue;
      }
      if (v4_) {
        if (r.type == rec::poll) {
          // Unpacked into the form expand_polls reads: y the begin, a32
          // the wait kind, a16 >> 8 the source, a8 the outcome.
          std::uint64_t duration;
          std::uint32_t wait;
          std::uint32_t switches = 0;  // long form: 1 + involuntary context switches; 0 not measured
          if (is_long) {
            duration = r.y;
            wait = r.a16;
            switches = std::min<std::uint32_t>(r.a32, 255);
          } else {
            constexpr std::uint64_t task_mask = (std::uint64_t(1) << tr::poll_task_bits) - 1;
            duration = r.a16 | (r.x >> (tr::poll_task_bits + tr::poll_wait_bits)) << 16;
            wait = std::uint32_t(r.x >> tr::poll_task_bits) & ((1u << tr::poll_wait_bits) - 1);
            r.x &= task_mask;
          }
          r.y = duration <= r.ts ? r.ts - duration : 0;
          r.a32 = wait;
          r.a16 = std::uint16_t((r.a8 >> 4 & 7) << 8 | switches);
          r.a8 &= 7;
        } else if (made_by_task(r) && !is_long) {
          r.y = (r.a8 & tr::in_poll) ? task_of_enclosing_poll : 0;
          r.a8 &= std::uint8_t(~tr::in_poll);
          if (r.type == rec::spawn) {  // the site id in a16
            r.a32 = r.a16;
            r.a16 = 0;
          }
        }
      } else if (r.type == rec::poll_begin) {
        open = r.x;
      } else if (r.type == rec::poll_end) {
        open = 0;
      } else if (r.type == rec::wake && !is_long) {
        r.y = open;
      }
      if (r.type == rec::string) {
        if (!string(r, body, i, count, unit_, cut)) return;
        continue;
      }
      keep(s, r);
    }
  }

  // Version 5: a compact record (FORMAT.md), given the time of the record
  // before it in its chunk; unpacked as its slot form would be.
  static record compact_record(const unsigned char* p, std::uint64_t prev) {
    record r;
    std::uint8_t type = p[4];
    std::uint32_t fields = std::uint32_t(load(p + 5, 3));
    r.x = u32(p);
    r.ts = prev;
    if (type >= tr::compact_poll) {
      // As the slot form is unpacked: y the begin, a32 the wait kind,
      // a16 >> 8 the source, a8 the outcome.
      r.type = rec::poll;
      r.y = prev;
      r.ts = prev + (fields >> 4);
      r.a32 = fields & 15;
      r.a16 = std::uint16_t((type >> 3 & 7) << 8);
      r.a8 = type & 7;
      return r;
    }
    r.y = (type & tr::compact_in_poll) ? task_of_enclosing_poll : 0;
    r.a8 = type & 3;
    if (type & tr::compact_spawn_bit) {
      r.type = rec::spawn;
      r.a32 = fields;  // the site id
    } else {
      r.type = rec::wake;
      r.a16 = std::uint16_t(fields);  // the worker it came from
    }
    return r;
  }

  // A string record at slot/record i - 1 of a chunk and its payload after
  // it, whole units of `unit` bytes; false when the payload is not all in
  // the chunk: what follows cannot be told apart from string bytes, so the
  // rest of the chunk is dropped. (In a cut chunk that is just the
  // truncation.)
  bool string(const record& r, std::size_t body, std::size_t& i, std::size_t count, std::size_t unit, bool cut) {
    std::size_t len = r.a16;
    std::size_t n = (len + unit - 1) / unit;
    if (i + n > count) {
      if (!cut) ++out_.report.string_overruns;
      return false;
    }
    const char* text = reinterpret_cast<const char*>(data_ + body + i * unit);
    out_.strings[r.a32] = std::string(text, len);
    i += n;
    return true;
  }

  void keep(thread_stream& s, const record& r) {
    if (r.type == rec::site) {
      out_.sites[r.a32] = raw_site{std::uint32_t(r.x >> 32), std::uint32_t(r.x), std::uint32_t(r.y >> 32),
                                   std::uint32_t(r.y)};
      return;
    }
    if (r.type == rec::thread_info) s.os_tid = r.x;
    if (r.type == rec::drops) s.drop_records += r.a32;
    ++out_.report.records;
    s.records.push_back(r);
  }

  const unsigned char* data_;
  std::size_t size_;
  trace_data& out_;
  bool compact_;           // version 3 on
  bool v4_;                // version 4 on: poll records, in_poll wakes and spawns
  bool v5_;                // version 5 on: 8-byte units, compact records
  std::size_t unit_;       // bytes per count in a chunk header
  std::uint32_t max_count_;
  std::map<thread_id, thread_stream> streams_;
};

// Ticks to ns since the start (FORMAT.md, "Time"): linear between the two
// sync points around a tick count, and beyond the first or last one at the
// rate of the nearest pair. With no sync point but the header's start, the
// header's rate gives the slope.
class tick_converter {
 public:
  explicit tick_converter(trace_data& t) {
    const file_header& h = t.header;
    std::vector<point> found;
    for (const thread_stream& s : t.threads)
      for (const record& r : s.records)
        if (r.type == rec::clock_sync && r.x >= h.start_ns) found.push_back({r.ts, r.x - h.start_ns});
    std::sort(found.begin(), found.end(), [](const point& a, const point& b) { return a.ticks < b.ticks; });
    points_.reserve(found.size() + 2);
    points_.push_back({0, 0});  // the header's: start_ticks is start_ns
    for (const point& p : found) {
      // Points in order on both clocks, far enough apart for a trustworthy
      // rate and at a rate some CPU could have; a damaged one is skipped.
      const point& last = points_.back();
      if (p.ticks <= last.ticks || p.ns <= last.ns || p.ns - last.ns < min_spacing_ns) continue;
      long double rate = static_cast<long double>(p.ticks - last.ticks) * 1e9L / static_cast<long double>(p.ns - last.ns);
      if (!plausible(rate)) continue;
      points_.push_back(p);
    }
    t.clock.ticks = true;
    t.clock.sync_points = points_.size();
    if (points_.size() == 1) {
      std::uint64_t rate = h.ticks_per_second;
      if (!plausible(static_cast<long double>(rate))) {
        t.report.uncalibrated_clock = true;
        rate = 1'000'000'000;
      }
      slopes_.push_back(1e9L / static_cast<long double>(rate));
      t.clock.ticks_per_second = rate;
      return;
    }
    for (std::size_t i = 0; i + 1 < points_.size(); ++i)
      slopes_.push_back(static_cast<long double>(points_[i + 1].ns - points_[i].ns) /
                        static_cast<long double>(points_[i + 1].ticks - points_[i].ticks));
    const point& first = points_.front();
    const point& last = points_.back();
    t.clock.ticks_per_second = std::uint64_t(static_cast<long double>(last.ticks - first.ticks) * 1e9L /
                                                 static_cast<long double>(last.ns - first.ns) +
                                             0.5L);
  }

  // `segment`: the pair the previous lookup used (a stream's times rise,
  // so it is mostly still right, or the next one), updated. Segment i runs
  // from points_[i] at slopes_[i]; the first and last reach out forever.
  std::uint64_t ns(std::uint64_t ticks, std::size_t& segment) const {
    std::size_t last = slopes_.size() - 1;
    auto fits = [&](std::size_t i) {
      return (i == 0 || ticks >= points_[i].ticks) && (i == last || ticks < points_[i + 1].ticks);
    };
    if (segment > last || !fits(segment)) {
      if (segment < last && fits(segment + 1)) {
        ++segment;
      } else {
        auto after = std::upper_bound(points_.begin(), points_.end(), ticks,
                                      [](std::uint64_t v, const point& p) { return v < p.ticks; });
        segment = std::min(last, std::size_t(std::max<std::ptrdiff_t>(after - points_.begin() - 1, 0)));
      }
    }
    long double v = static_cast<long double>(points_[segment].ns) +
                    (static_cast<long double>(ticks) - static_cast<long double>(points_[segment].ticks)) *
                        slopes_[segment];
    // Damaged times may land anywhere: clamp, never overflow.
    if (!(v > 0)) return 0;
    constexpr long double top = static_cast<long double>(std::numeric_limits<std::uint64_t>::max());
    if (v >= top) return std::numeric_limits<std::uint64_t>::max();
    return std::uint64_t(v + 0.5L);
  }

  void convert(thread_stream& s) const {
    std::size_t segment = 0;
    for (record& r : s.records) {
      std::uint64_t end = ns(r.ts, segment);
      if (r.type == rec::io_poll) {
        // x is the duration in ticks up to ts: convert both ends.
        std::size_t at = segment;
        std::uint64_t begin = ns(r.x <= r.ts ? r.ts - r.x : 0, at);
        r.x = end >= begin ? end - begin : 0;
      }
      r.ts = end;
    }
  }

 private:
  struct point {
    std::uint64_t ticks;
    std::uint64_t ns;  // since start_ns
  };
  static constexpr std::uint64_t min_spacing_ns = 1'000'000;
  // 1 MHz to 1 THz: beyond any CPU's counter either way.
  static bool plausible(long double ticks_per_second) { return ticks_per_second >= 1e6L && ticks_per_second <= 1e12L; }

  std::vector<point> points_;
  std::vector<long double> slopes_;  // ns per tick from points_[i] (to points_[i + 1]; one if a single point)
};

void convert_ticks(trace_data& t) {
  tick_converter c(t);
  for (thread_stream& s : t.threads) c.convert(s);
  for (auto& [id, from] : t.whole_from) {
    std::size_t segment = 0;
    from = c.ns(from, segment);
  }
}

}  // namespace

read_result decode_trace(std::string_view bytes, std::string path) {
  read_result result;
  trace_data& t = result.trace;
  t.path = std::move(path);
  t.report.file_bytes = bytes.size();
  auto fail = [&](std::string why) {
    result.ok = false;
    result.error = fmt::format("{}: {}", t.path, why);
    return std::move(result);
  };
  if (bytes.size() < 8 || std::memcmp(bytes.data(), "WEFTTRC1", 8) != 0)
    return fail("not a weft trace (bad magic; expected \"WEFTTRC1\")");
  if (bytes.size() < file_header_size)
    return fail(fmt::format("truncated file header ({} of {} bytes)", bytes.size(), file_header_size));
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  file_header& h = t.header;
  h.version = u32(p + 8);
  h.header_size = u32(p + 12);
  h.start_ns = u64(p + 16);
  h.start_unix_ns = u64(p + 24);
  h.workers = u32(p + 32);
  h.flags = u32(p + 36);
  h.pid = u64(p + 40);
  h.start_ticks = u64(p + 48);
  h.ticks_per_second = u64(p + 56);
  if (h.version < 1 || h.version > 5)
    return fail(fmt::format("unsupported trace version {} (this tool reads 1 to 5)", h.version));
  if (h.header_size < file_header_size || h.header_size % v2_record_size != 0)
    return fail(fmt::format("bad header size {}", h.header_size));
  if (h.header_size > bytes.size())
    return fail(fmt::format("truncated file header ({} of {} bytes)", bytes.size(), h.header_size));
  if (h.workers > no_worker) return fail(fmt::format("implausible worker count {}", h.workers));

  decoder d(bytes, t);
  d.run(h.header_size);
  d.finish();
  if (h.version >= 4)
    for (thread_stream& s : t.threads) expand_polls(s, t.report);
  // The recorder keeps each thread's times non-decreasing (FORMAT.md).
  for (const thread_stream& s : t.threads)
    for (std::size_t i = 1; i < s.records.size(); ++i) t.report.backward_times += s.records[i].ts < s.records[i - 1].ts;
  if (h.ticks()) convert_ticks(t);
  result.ok = true;
  return result;
}

read_result read_trace_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    read_result r;
    r.error = fmt::format("{}: cannot open: {}", path, std::strerror(errno));
    return r;
  }
  std::string bytes;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.append(buf, n);
  bool failed = std::ferror(f) != 0;
  int err = errno;
  std::fclose(f);
  if (failed) {
    read_result r;
    r.error = fmt::format("{}: read error: {}", path, std::strerror(err));
    return r;
  }
  return decode_trace(bytes, path);
}

}  // namespace weft_trace
