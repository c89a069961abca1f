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

void thread_writer::add(std::uint64_t ts, std::uint8_t type, std::uint8_t a8, std::uint16_t a16, std::uint32_t a32,
                        std::uint64_t x, std::uint64_t y) {
  std::uint64_t ticks = clock_.at(ts);
  if (type == io_poll) x = ticks - clock_.at(ts - x);  // a duration up to ts, in ticks
  items_.push_back({ts, {make_record(ticks, type, a8, a16, a32, x, y)}});
}

void thread_writer::add_sync(std::uint64_t ts) {
  items_.push_back({ts, {make_record(clock_.at(ts), clock_sync, 0, 0, 0, clock_.start_ns + ts, clock_.start_unix_ns + ts)}});
}

void thread_writer::add_string(std::uint64_t ts, std::uint32_t id, std::string_view text) {
  item it{ts, {make_record(clock_.at(ts), string, 0, std::uint16_t(text.size()), id)}};
  for (std::size_t off = 0; off < text.size(); off += 32) {
    slot s;
    std::memcpy(s.bytes, text.data() + off, std::min<std::size_t>(32, text.size() - off));
    it.slots.push_back(s);
  }
  items_.push_back(std::move(it));
}

void thread_writer::add_raw(std::uint64_t ts, std::vector<slot> slots) { items_.push_back({ts, std::move(slots)}); }

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
    append(out, 0, 8);
    for (const slot& s : c.slots) out.append(reinterpret_cast<const char*>(s.bytes), 32);
  }
  out.resize(out.size() - std::min(cut_bytes, out.size()));
  return out;
}

trace_file assemble(std::uint32_t workers, const std::vector<thread_writer*>& threads, std::size_t per_chunk) {
  std::vector<std::vector<chunk>> per_thread;
  for (const thread_writer* t : threads) {
    std::vector<chunk> chunks;
    for (const auto& it : t->sorted_items()) {
      if (chunks.empty() || chunks.back().slots.size() + it.slots.size() > per_chunk) {
        chunk c;
        c.kind = t->kind();
        c.index = t->index();
        c.seq = chunks.size();
        chunks.push_back(std::move(c));
      }
      chunks.back().slots.insert(chunks.back().slots.end(), it.slots.begin(), it.slots.end());
    }
    per_thread.push_back(std::move(chunks));
  }
  trace_file f;
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
