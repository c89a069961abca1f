#include "trace_writer.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace trace_gen {
namespace {

void put(unsigned char* p, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

void append(std::string& out, std::uint64_t v, int bytes) {
  unsigned char b[8];
  put(b, v, bytes);
  out.append(reinterpret_cast<const char*>(b), std::size_t(bytes));
}

}  // namespace

tick_clock tick_clock::ns_clock() {
  tick_clock c;
  c.ticks = false;
  c.start_ticks = 0;
  c.header_rate = 1'000'000'000;
  c.rates = {{0, 1'000'000'000}};
  return c;
}

tick_clock tick_clock::constant(std::uint64_t ticks_per_second) {
  tick_clock c;
  c.header_rate = ticks_per_second;
  c.rates = {{0, ticks_per_second}};
  return c;
}

std::uint64_t tick_clock::at(std::uint64_t ns) const {
  if (!ticks) return ns;
  // Stretch by stretch; whole seconds apart so that ns * rate cannot overflow.
  auto span = [](std::uint64_t d, std::uint64_t rate) {
    constexpr std::uint64_t s = 1'000'000'000;
    return d / s * rate + (d % s * rate + s / 2) / s;
  };
  std::uint64_t t = 0;
  for (std::size_t i = 0; i < rates.size(); ++i) {
    std::uint64_t from = rates[i].first;
    bool in_it = i + 1 == rates.size() || ns < rates[i + 1].first;
    std::uint64_t to = in_it ? ns : rates[i + 1].first;
    t += span(to - from, rates[i].second);
    if (in_it) break;
  }
  return t;
}

slot make_record(std::uint64_t ts, std::uint8_t type, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32,
                 std::uint64_t x, std::uint64_t y) {
  slot s;
  put(s.bytes, ts, 8);
  s.bytes[8] = type;
  s.bytes[9] = a8;
  put(s.bytes + 10, a16, 2);
  put(s.bytes + 12, a32, 4);
  put(s.bytes + 16, x, 8);
  put(s.bytes + 24, y, 8);
  return s;
}

namespace {

constexpr std::uint8_t long_bit = 0x80;

bool one_slot_type(std::uint8_t type) { return type == poll_begin || type == poll_end || type == wake; }

slot v3_slot(std::uint32_t delta, std::uint8_t type, std::uint8_t a8, std::uint16_t a16, std::uint64_t x) {
  slot s;
  s.size = 16;
  put(s.bytes, delta, 4);
  s.bytes[4] = type;
  s.bytes[5] = a8;
  put(s.bytes + 6, a16, 2);
  put(s.bytes + 8, x, 8);
  return s;
}

}  // namespace

std::vector<slot> chunk_encoder::record(std::uint64_t ticks, std::uint8_t type, std::uint8_t a8, std::uint16_t a16,
                                        std::uint32_t a32, std::uint64_t x, std::uint64_t y, bool long_form) {
  if (version_ < 3) return {make_record(ticks, type, a8, a16, a32, x, y)};
  std::vector<slot> out;
  if (ticks < base_ || ticks - base_ > 0xffffffffu) {
    out.push_back(v3_slot(0, time_base | long_bit, 0, 0, ticks));
    out.push_back(v3_slot(0, 0, 0, 0, 0));
    base_ = ticks;
  }
  auto delta = std::uint32_t(ticks - base_);
  bool one = !long_form && one_slot_type(type) && (type != wake || y == open_);
  if (one) {
    out.push_back(v3_slot(delta, type, a8, a16, x));
  } else {
    out.push_back(v3_slot(delta, type | long_bit, a8, a16, x));
    out.push_back(v3_slot(a32, 0, 0, 0, y));  // a32 where a delta goes, y where an id goes
  }
  if (type == poll_begin) open_ = x;
  if (type == poll_end) open_ = 0;
  return out;
}

std::vector<slot> chunk_encoder::string(std::uint64_t ticks, std::uint32_t id, std::string_view text) {
  std::vector<slot> out = record(ticks, trace_gen::string, 0, std::uint16_t(text.size()), id);
  std::size_t unit = version_ < 3 ? 32 : 16;
  for (std::size_t off = 0; off < text.size(); off += unit) {
    slot s;
    s.size = unit;
    std::memcpy(s.bytes, text.data() + off, std::min(unit, text.size() - off));
    out.push_back(s);
  }
  return out;
}

std::size_t record_units(std::uint32_t version, const slot& s) {
  return version >= 3 && (s.bytes[4] & long_bit) ? 2 : 1;
}

void thread_writer::add(std::uint64_t ts, std::uint8_t type, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32,
                        std::uint64_t x, std::uint64_t y, bool long_form) {
  std::uint64_t ticks = clock_.at(ts);
  if (type == io_poll) x = ticks - clock_.at(ts - x);  // a duration up to ts, in ticks
  item it;
  it.ts = ts;
  it.ticks = ticks;
  it.type = type;
  it.a8 = a8;
  it.a16 = a16;
  it.a32 = a32;
  it.x = x;
  it.y = y;
  it.long_form = long_form;
  items_.push_back(std::move(it));
}

void thread_writer::add_ticks(std::uint64_t ts, std::uint64_t ticks, std::uint8_t type, std::uint8_t a8,
                              std::uint16_t a16, std::uint32_t a32, std::uint64_t x, std::uint64_t y) {
  add(ts, type, a8, a16, a32, x, y);
  items_.back().ticks = ticks;
}

void thread_writer::add_sync(std::uint64_t ts) {
  add(ts, clock_sync, 0, 0, 0, clock_.start_ns + ts, clock_.start_unix_ns + ts);
}

void thread_writer::add_string(std::uint64_t ts, std::uint32_t id, std::string_view text) {
  item it;
  it.ts = ts;
  it.ticks = clock_.at(ts);
  it.a32 = id;
  it.is_string = true;
  it.text = std::string(text);
  items_.push_back(std::move(it));
}

std::vector<thread_writer::item> thread_writer::sorted_items() const {
  std::vector<item> v = items_;
  std::stable_sort(v.begin(), v.end(), [](const item& a, const item& b) { return a.ts < b.ts; });
  return v;
}

std::string trace_file::bytes() const {
  std::string out;
  out += "WEFTTRC1";
  append(out, version, 4);
  append(out, 64, 4);
  append(out, clock.start_ns, 8);
  append(out, clock.start_unix_ns, 8);
  append(out, workers, 4);
  append(out, flags | (clock.ticks ? 2u : 0u), 4);
  append(out, pid, 8);
  if (version >= 2) {
    append(out, clock.ticks ? clock.start_ticks : 0, 8);
    append(out, clock.ticks ? clock.header_rate : 1'000'000'000, 8);
  } else {
    out.append(16, '\0');
  }
  for (const piece& p : pieces) {
    if (!p.is_chunk) {
      out += p.raw;
      continue;
    }
    const chunk& c = p.c;
    append(out, 0x4B484357u, 4);
    append(out, c.kind, 2);
    append(out, c.index, 2);
    append(out, c.claimed_count ? c.claimed_count : c.slots.size(), 4);
    append(out, c.dropped, 4);
    append(out, c.seq, 8);
    append(out, version >= 3 ? c.base : 0, 8);
    for (const slot& s : c.slots) out.append(reinterpret_cast<const char*>(s.bytes), s.size);
  }
  out.resize(out.size() - std::min(cut_bytes, out.size()));
  return out;
}

trace_file assemble(std::uint32_t workers, const std::vector<thread_writer*>& threads, std::size_t per_chunk,
                    std::uint32_t version) {
  std::vector<std::vector<chunk>> per_thread;
  for (const thread_writer* t : threads) {
    std::vector<chunk> chunks;
    chunk_encoder enc(version, 0);
    auto encode = [&](const thread_writer::item& it) {
      return it.is_string ? enc.string(it.ticks, it.a32, it.text)
                          : enc.record(it.ticks, it.type, it.a8, it.a16, it.a32, it.x, it.y, it.long_form);
    };
    for (const auto& it : t->sorted_items()) {
      std::vector<slot> slots;
      if (!chunks.empty()) {
        chunk_encoder before = enc;
        slots = encode(it);
        if (chunks.back().slots.size() + slots.size() > per_chunk) {
          enc = before;
          slots.clear();
        }
      }
      if (slots.empty()) {
        // A fresh chunk: its base is this record's time, and no poll is open.
        chunk c;
        c.kind = t->kind();
        c.index = t->index();
        c.seq = chunks.size();
        c.base = it.ticks;
        chunks.push_back(std::move(c));
        enc = chunk_encoder(version, it.ticks);
        slots = encode(it);
      }
      chunks.back().slots.insert(chunks.back().slots.end(), slots.begin(), slots.end());
    }
    per_thread.push_back(std::move(chunks));
  }
  trace_file f;
  f.version = version;
  f.workers = workers;
  if (!threads.empty()) f.clock = threads.front()->clock();
  for (std::size_t round = 0;; ++round) {
    bool any = false;
    for (auto& chunks : per_thread) {
      if (round >= chunks.size()) continue;
      any = true;
      trace_file::piece p;
      p.c = std::move(chunks[round]);
      f.pieces.push_back(std::move(p));
    }
    if (!any) break;
  }
  return f;
}

bool write_file(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  return std::fclose(f) == 0 && ok;
}

}  // namespace trace_gen
