// A .wtrace writer for the tests only: it writes what runtime/trace/FORMAT.md
// describes, record by record, with no code shared with weft-trace's reader
// (a misreading of the format on one side must not be mirrored on the other),
// and it can damage what it writes: drops, sequence gaps, unknown records,
// garbage between chunks, a string running past its chunk, a cut-off tail.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace trace_gen {

enum type : std::uint8_t {
  spawn = 1,
  poll_begin = 2,
  poll_end = 3,
  wake = 4,
  steal = 5,
  park = 6,
  unpark = 7,
  io_poll = 8,
  timer_fire = 9,
  blocking_begin = 10,
  blocking_end = 11,
  queue_depth = 12,
  clock_sync = 13,
  string = 14,
  site = 15,
  thread_info = 16,
  drops = 17,
};

enum kind : std::uint16_t { worker = 0, blocking = 1, other = 2 };

constexpr std::uint64_t us = 1000;
constexpr std::uint64_t ms = 1000 * us;

struct slot {  // 32 bytes: a record, or string bytes
  unsigned char bytes[32] = {};
};

slot make_record(std::uint64_t ts, std::uint8_t type, std::uint8_t a8 = 0, std::uint16_t a16 = 0,
                 std::uint32_t a32 = 0, std::uint64_t x = 0, std::uint64_t y = 0);

// One thread's records. Items are kept whole in one chunk (a string record
// and its payload) and written in time order (stable: equal times keep the
// order they were added in).
class thread_writer {
 public:
  thread_writer(std::uint16_t kind, std::uint16_t index) : kind_(kind), index_(index) {}

  void add(std::uint64_t ts, std::uint8_t type, std::uint8_t a8 = 0, std::uint16_t a16 = 0, std::uint32_t a32 = 0,
           std::uint64_t x = 0, std::uint64_t y = 0);
  // A string record (id, length) and its payload slots.
  void add_string(std::uint64_t ts, std::uint32_t id, std::string_view text);
  // Any slots, as one item (for garbage records).
  void add_raw(std::uint64_t ts, std::vector<slot> slots);

  std::uint16_t kind() const { return kind_; }
  std::uint16_t index() const { return index_; }

  struct item {
    std::uint64_t ts;
    std::vector<slot> slots;
  };
  std::vector<item> sorted_items() const;

 private:
  std::uint16_t kind_;
  std::uint16_t index_;
  std::vector<item> items_;
};

struct chunk {
  std::uint16_t kind = 0;
  std::uint16_t index = 0;
  std::vector<slot> slots;
  std::uint32_t dropped = 0;
  std::uint64_t seq = 0;
  std::uint32_t claimed_count = 0;  // the header's record_count; 0: slots.size()
};

// The file: a header, then pieces in order: chunks or raw bytes.
struct trace_file {
  std::uint32_t workers = 0;
  std::uint32_t flags = 0;
  std::uint64_t pid = 4242;
  std::uint64_t start_ns = 1'000'000'000'000;
  std::uint64_t start_unix_ns = 1'700'000'000'000'000'000;
  struct piece {
    bool is_chunk = true;
    chunk c;
    std::string raw;
  };
  std::vector<piece> pieces;
  std::size_t cut_bytes = 0;  // bytes removed from the end

  std::string bytes() const;
};

// Splits each thread into chunks of at most `per_chunk` slots (sequence
// numbers 0, 1, ...) and interleaves the threads' chunks round-robin.
trace_file assemble(std::uint32_t workers, const std::vector<thread_writer*>& threads, std::size_t per_chunk);

bool write_file(const std::string& path, const std::string& bytes);

}  // namespace trace_gen
