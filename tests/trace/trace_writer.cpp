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
  items_.push_back({ts, {make_record(ts, type, a8, a16, a32, x, y)}});
}

void thread_writer::add_string(std::uint64_t ts, std::uint32_t id, std::string_view text) {
  item it{ts, {make_record(ts, string, 0, std::uint16_t(text.size()), id)}};
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
  append(out, 1, 4);
  append(out, 64, 4);
  append(out, start_ns, 8);
  append(out, start_unix_ns, 8);
  append(out, workers, 4);
  append(out, flags, 4);
  append(out, pid, 8);
  out.append(16, '\0');
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
