// A .wtrace writer for the tests only: it writes what runtime/trace/FORMAT.md
// describes, record by record, with no code shared with weft-trace's reader
// (a misreading of the format on one side must not be mirrored on the other),
// and it can damage what it writes: drops, sequence gaps, unknown records,
// garbage between chunks, a string running past its chunk, a cut-off tail.
// It writes version 3 (16-byte slots) unless told 1 or 2 (32-byte records).
//
// Callers give times in ns since the trace's start; the writer encodes them
// as ticks of a `tick_clock`, as the tracer does with the CPU's counter, so
// every test that reads a synthetic trace also tests weft-trace's conversion.
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
  time_base = 18,  // version 3 only
};

enum kind : std::uint16_t { worker = 0, blocking = 1, other = 2 };

constexpr std::uint64_t us = 1000;
constexpr std::uint64_t ms = 1000 * us;

// A unit of a chunk: a version 1/2 record (32 bytes), or a version 3 slot
// (16 bytes); either may hold string bytes instead.
struct slot {
  unsigned char bytes[32] = {};
  std::size_t size = 32;
};

// The clock a file counts: time-stamp counter ticks whose rate may change
// from one stretch of the trace to the next (a reader only sees it through
// sync points, which callers place at the changes), or plain ns.
struct tick_clock {
  bool ticks = true;  // header flag bit 1
  std::uint64_t start_ns = 1'000'000'000'000;  // steady_clock at start
  std::uint64_t start_unix_ns = 1'700'000'000'000'000'000;
  std::uint64_t start_ticks = 9'876'543'210'000;  // the counter at start (header only)
  std::uint64_t header_rate = 2'400'000'000;      // the header's ticks_per_second (0: none)
  // (from ns since start, ticks per second), the first from 0. Rates of at
  // least 1 GHz make the round trip exact: a tick is finer than a ns.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> rates{{0, 2'400'000'000}};

  static tick_clock ns_clock();  // no ticks: times written as ns
  static tick_clock constant(std::uint64_t ticks_per_second);

  // Ticks since start at `ns` since start (rounded to the nearest tick).
  std::uint64_t at(std::uint64_t ns) const;
};

// A version 1/2 record.
slot make_record(std::uint64_t ts, std::uint8_t type, std::uint8_t a8 = 0, std::uint16_t a16 = 0,
                 std::uint32_t a32 = 0, std::uint64_t x = 0, std::uint64_t y = 0);

// Encodes one chunk's records in a file's version. Version 3 (FORMAT.md):
// 16-byte slots, times as 32-bit deltas from the chunk's base (a time_base
// record first when a time is below the base or too far above it),
// poll_begin, poll_end and a wake whose waker is the task whose poll is open
// in the chunk in one slot, everything else in two.
class chunk_encoder {
 public:
  chunk_encoder(std::uint32_t version, std::uint64_t base) : version_(version), base_(base) {}
  // `long_form`: two slots even where one would do (version 3).
  std::vector<slot> record(std::uint64_t ticks, std::uint8_t type, std::uint8_t a8 = 0, std::uint16_t a16 = 0,
                           std::uint32_t a32 = 0, std::uint64_t x = 0, std::uint64_t y = 0, bool long_form = false);
  // A string record and its payload (whole units, zero padded).
  std::vector<slot> string(std::uint64_t ticks, std::uint32_t id, std::string_view text);

 private:
  std::uint32_t version_;
  std::uint64_t base_;
  std::uint64_t open_ = 0;  // the task whose poll is open in this chunk
};

// How many units the record starting at `s` takes (version 3: 1 or 2).
std::size_t record_units(std::uint32_t version, const slot& s);

// One thread's records. Items are kept whole in one chunk (a string record
// and its payload) and written in time order (stable: equal times keep the
// order they were added in).
class thread_writer {
 public:
  thread_writer(std::uint16_t kind, std::uint16_t index, tick_clock clock = {})
      : kind_(kind), index_(index), clock_(std::move(clock)) {}

  // `ts` in ns; an io_poll's x (its duration) too: both become ticks.
  // `long_form`: see chunk_encoder::record.
  void add(std::uint64_t ts, std::uint8_t type, std::uint8_t a8 = 0, std::uint16_t a16 = 0, std::uint32_t a32 = 0,
           std::uint64_t x = 0, std::uint64_t y = 0, bool long_form = false);
  // A record whose time is given in ticks (any, even out of order), placed
  // at `ts` ns among the others.
  void add_ticks(std::uint64_t ts, std::uint64_t ticks, std::uint8_t type, std::uint8_t a8 = 0, std::uint16_t a16 = 0,
                 std::uint32_t a32 = 0, std::uint64_t x = 0, std::uint64_t y = 0);
  // A clock_sync record at `ts`: the clock's ticks with steady and system ns.
  void add_sync(std::uint64_t ts);
  // A string record (id, length) and its payload slots.
  void add_string(std::uint64_t ts, std::uint32_t id, std::string_view text);

  std::uint16_t kind() const { return kind_; }
  std::uint16_t index() const { return index_; }
  const tick_clock& clock() const { return clock_; }

  struct item {  // a record or a string, encoded when it is put into a chunk
    std::uint64_t ts = 0;  // ns: the order
    std::uint64_t ticks = 0;
    std::uint8_t type = 0, a8 = 0;
    std::uint16_t a16 = 0;
    std::uint32_t a32 = 0;
    std::uint64_t x = 0, y = 0;
    bool long_form = false;
    bool is_string = false;
    std::string text;
  };
  std::vector<item> sorted_items() const;

 private:
  std::uint16_t kind_;
  std::uint16_t index_;
  tick_clock clock_;
  std::vector<item> items_;
};

struct chunk {
  std::uint16_t kind = 0;
  std::uint16_t index = 0;
  std::vector<slot> slots;
  std::uint32_t dropped = 0;
  std::uint64_t seq = 0;
  std::uint32_t claimed_count = 0;  // the header's record_count; 0: slots.size()
  std::uint64_t base = 0;           // version 3: the time base in the header
};

// The file: a header, then pieces in order: chunks or raw bytes.
struct trace_file {
  std::uint32_t version = 3;  // 1: the old header (ns only, no tick fields); 1, 2: 32-byte records
  std::uint32_t workers = 0;
  std::uint32_t flags = 0;    // bit 0 flight recorder; bit 1 comes from the clock
  std::uint64_t pid = 4242;
  tick_clock clock;
  struct piece {
    bool is_chunk = true;
    chunk c;
    std::string raw;
  };
  std::vector<piece> pieces;
  std::size_t cut_bytes = 0;  // bytes removed from the end

  std::string bytes() const;
};

// Encodes each thread into chunks of at most `per_chunk` units (records in
// version 1/2, slots in 3; sequence numbers 0, 1, ...), each record whole in
// one chunk, and interleaves the threads' chunks round-robin. The threads
// must share one clock, which becomes the file's.
trace_file assemble(std::uint32_t workers, const std::vector<thread_writer*>& threads, std::size_t per_chunk,
                    std::uint32_t version = 3);

bool write_file(const std::string& path, const std::string& bytes);

}  // namespace trace_gen
