// The tracer's binary records; the layout is documented in FORMAT.md beside
// this file, which weft-trace reads.
#pragma once

#include <cstdint>

namespace weft::detail::trace {

enum class event : std::uint8_t {
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
  // Version 3 only, always long: resets the chunk's time base (x = the new
  // base, ticks since start), for a delta that would not fit in 32 bits.
  time_base = 18,
  // Version 4 on: a whole poll in one record, written at its end (FORMAT.md).
  poll = 19,
  // Flight-recorder dumps only, in the definitions chunk: a thread's events
  // before x (ticks since start) may be incomplete (a8 kind, a16 index).
  trimmed = 20,
};

enum class poll_source : std::uint8_t { lifo = 0, local = 1, inject = 2, stolen = 3, other = 4 };
enum class poll_outcome : std::uint8_t { yielded = 0, blocked = 1, finished = 2, cancelled = 3, threw = 4 };
enum class unpark_reason : std::uint8_t { notified = 0, handler = 1, watch_timeout = 2, shutdown = 3 };
enum class thread_kind : std::uint16_t { worker = 0, blocking = 1, other = 2 };

// Version 3 writes 16-byte slots. A short record is one slot; every other
// record is long: two slots, the first shaped like a short one with
// long_flag set in its type byte, the second holding the rest: a32 in the
// delta's place, y in x's place, zeros between.
// Version 4 writes only poll, wake and spawn short; a wake (spawn) is short
// when its waker (parent) is the task whose poll is open (in_poll) or it
// has none, which the reader fills back in. (Version 3 wrote poll_begin and poll_end short too.)
struct slot {
  std::uint32_t delta;  // ticks after the chunk's time base
  std::uint8_t type;    // an event, | long_flag for a long record
  std::uint8_t a8;
  std::uint16_t a16;
  std::uint64_t x;  // task id for the short records
};
static_assert(sizeof(slot) == 16);

inline constexpr std::uint8_t long_flag = 0x80;
// Version 4: a short wake's or spawn's a8 bit saying its waker (parent) is
// the task of the poll it happened in (the next poll record of its thread);
// without it, none.
inline constexpr std::uint8_t in_poll = 0x80;
// Version 4: a short poll record packs the task id, wait kind and the high
// bits of its duration into x, the duration's low 16 bits into a16.
inline constexpr unsigned poll_task_bits = 48;
inline constexpr unsigned poll_wait_bits = 4;
inline constexpr unsigned poll_duration_bits = 16 + 64 - poll_task_bits - poll_wait_bits;  // 28

// Version 5: a chunk's body is 8-byte units. A slot-shaped record above
// takes two (short) or four (long); a compact record takes one and has no
// time of its own (FORMAT.md, "Compact records"): its type byte (offset 4,
// as a slot's) is in one of these ranges, which no event code reaches.
inline constexpr std::uint8_t compact_poll = 0x40;     // 0x40-0x7f: outcome bits 0-2, source bits 3-5
inline constexpr std::uint8_t compact_made = 0x20;     // 0x20-0x3f: wake or spawn made in a poll
inline constexpr std::uint8_t compact_spawn_bit = 0x10;  // in compact_made: a spawn, not a wake
inline constexpr std::uint8_t compact_in_poll = 0x04;    // in compact_made: its waker (parent) is the poll's task
inline constexpr unsigned compact_task_bits = 32;
inline constexpr unsigned compact_duration_bits = 20;  // a compact poll's duration, in ticks

struct chunk_header {
  std::uint32_t magic;  // 'WCHK'
  std::uint16_t kind;
  std::uint16_t index;
  std::uint32_t count;
  std::uint32_t dropped;
  std::uint64_t seq;
  std::uint64_t base;  // ticks since start that the records' deltas count from
};
static_assert(sizeof(chunk_header) == 32);

inline constexpr std::uint32_t chunk_magic = 0x4B484357u;
// A flight-recorder dump's definitions chunks: thread kind other, this index.
inline constexpr std::uint16_t definitions_index = 0xffff;
// A chunk holds 64 KiB of records, as it held 2048 records of 32 bytes.
inline constexpr std::uint32_t unit_bytes = 8;
inline constexpr std::uint32_t units_per_slot = sizeof(slot) / unit_bytes;
inline constexpr std::uint32_t units_per_chunk = 8192;

// Version 5: chunks count 8-byte units, and a poll, or a wake or spawn made
// in one, whose time follows from the record before it takes one unit.
// Version 4: a poll is one record (poll) written at its end, carrying its
// duration, source and outcome; no poll_begin or poll_end is written.
// Version 3: 16-byte slots, times as 32-bit deltas from a per-chunk base,
// the hot events in one slot. Version 2: timestamps may be CPU time-stamp
// counter ticks (flag_ticks), converted to ns by the reader through
// clock_sync records. Version 1: steady_clock ns only. Both with 32-byte
// records.
inline constexpr std::uint32_t format_version = 5;
inline constexpr std::uint32_t flag_flight = 1u;  // a flight-recorder dump
inline constexpr std::uint32_t flag_ticks = 2u;   // ts are counter ticks, not ns

struct file_header {
  char magic[8];
  std::uint32_t version;
  std::uint32_t header_size;
  std::uint64_t start_ns;
  std::uint64_t start_unix_ns;
  std::uint32_t workers;
  std::uint32_t flags;
  std::uint64_t pid;
  std::uint64_t start_ticks;       // the counter at start_ns (0 without flag_ticks)
  std::uint64_t ticks_per_second;  // rate from start to the latest sync point; 0: not known yet
};
static_assert(sizeof(file_header) == 64);

}  // namespace weft::detail::trace
