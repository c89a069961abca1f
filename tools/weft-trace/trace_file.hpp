// The decoder: a .wtrace file (runtime/trace/FORMAT.md) turned into one
// stream of records per recording thread, plus the strings and spawn sites
// the streams define.
//
// Version 3's compact records (16-byte slots, times as deltas from a base,
// the waker of a short wake left implicit) are expanded here into the same
// records as versions 1 and 2 carry, so the rest of the tool reads one form.
//
// Record times come out in ns since the trace's start whatever clock the
// file counts (FORMAT.md, "Time"): a trace in time-stamp counter ticks is
// converted here, once, through its sync points, and so are the durations
// records carry (io_poll), so the rest of the tool only ever sees ns.
//
// A trace is often cut short (the process died, the disk filled) or damaged,
// so decoding keeps whatever is well-formed and counts what it had to skip in
// `decode_report`; only a file that is not a trace at all (unreadable, bad
// magic, unknown version) is an error.
#pragma once

#include <compare>
#include <map>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <runtime/trace/record.hpp>

namespace weft_trace {

// The record types and thread kinds are the runtime's own (the tool shares
// the format's definition; it needs that header, not the library).
using rec = weft::detail::trace::event;
inline constexpr std::uint8_t last_record_type = std::uint8_t(rec::drops);

using weft::detail::trace::thread_kind;

inline constexpr std::size_t file_header_size = sizeof(weft::detail::trace::file_header);
inline constexpr std::size_t chunk_header_size = sizeof(weft::detail::trace::chunk_header);
// Versions 1 and 2: records of 32 bytes. Versions 3 and 4: slots of 16
// bytes, a record taking one or two (long_flag), string bytes whole slots.
// Version 5: 8-byte units, a slot-shaped record taking two or four, a
// compact one one; string bytes whole units.
inline constexpr std::size_t v2_record_size = 32;
inline constexpr std::size_t slot_size = sizeof(weft::detail::trace::slot);
using weft::detail::trace::chunk_magic;  // "WCHK"
using weft::detail::trace::long_flag;
inline constexpr std::uint32_t max_chunk_records = 4096;  // version 1 and 2 chunks
inline constexpr std::uint32_t max_chunk_slots = 8192;    // version 3 and 4 chunks
inline constexpr std::size_t unit_size = weft::detail::trace::unit_bytes;
inline constexpr std::uint32_t max_chunk_units = 16384;   // version 5 chunks
inline constexpr std::uint16_t no_worker = 0xffff;

struct record {
  std::uint64_t ts = 0;
  rec type{};
  std::uint8_t a8 = 0;
  std::uint16_t a16 = 0;
  std::uint32_t a32 = 0;
  std::uint64_t x = 0;
  std::uint64_t y = 0;
};

struct file_header {
  std::uint32_t version = 0;
  std::uint32_t header_size = 0;
  std::uint64_t start_ns = 0;
  std::uint64_t start_unix_ns = 0;
  std::uint32_t workers = 0;
  std::uint32_t flags = 0;
  std::uint64_t pid = 0;
  std::uint64_t start_ticks = 0;       // version 2 on
  std::uint64_t ticks_per_second = 0;  // version 2 on
  bool flight_recorder() const { return (flags & weft::detail::trace::flag_flight) != 0; }
  // The file counts time-stamp counter ticks (version 1 files never do).
  bool ticks() const { return version >= 2 && (flags & weft::detail::trace::flag_ticks) != 0; }
};

// How the records' times were turned into ns.
struct clock_info {
  bool ticks = false;                // the file counted time-stamp counter ticks
  std::uint64_t sync_points = 0;     // points the conversion went through (the header's start included)
  std::uint64_t ticks_per_second = 1'000'000'000;  // the mean rate, first to last of them
};

struct thread_id {
  thread_kind kind = thread_kind::other;
  std::uint16_t index = 0;
  auto operator<=>(const thread_id&) const = default;
};

// Everything one thread recorded, in its order (time order by FORMAT.md).
// String and site definitions are not kept here but in `trace_data`.
struct thread_stream {
  thread_id id;
  std::vector<record> records;
  std::uint64_t dropped = 0;       // sum of the chunk headers' `dropped`
  std::uint64_t drop_records = 0;  // sum of `drops` records (the same events, counted again)
  std::uint64_t lost_chunks = 0;   // sequence numbers skipped between chunks
  std::uint64_t chunks = 0;
  std::uint64_t os_tid = 0;        // from thread_info, 0 if none
  std::uint64_t next_seq = 0;      // decoder state: sequence expected next
};

// A spawn site as recorded: string ids, resolved by the analysis.
struct raw_site {
  std::uint32_t file = 0;
  std::uint32_t line = 0;
  std::uint32_t function = 0;
  std::uint32_t name = 0;
};

// What decoding had to skip or could not trust. All zero/false for a clean file.
struct decode_report {
  std::uint64_t file_bytes = 0;
  std::uint64_t chunks = 0;
  std::uint64_t records = 0;           // records kept (string payload slots not counted)
  bool truncated = false;              // the file ends inside a chunk
  std::uint64_t truncated_bytes = 0;   // bytes the cut chunk lacks (cut in a header: its bytes present)
  thread_id truncated_thread;          // whose chunk was cut (when `truncated` and the header was whole)
  bool truncated_in_header = false;    // the file ends inside a chunk header
  std::uint64_t unknown_records = 0;   // unknown types, skipped
  std::uint64_t garbage_bytes = 0;     // bytes skipped looking for the next chunk header
  std::uint64_t garbage_runs = 0;      // places where that happened
  std::uint64_t string_overruns = 0;   // chunks stopped because a string ran past their end
  std::uint64_t split_records = 0;     // version 3: chunks stopped because a long record ran past their end
  std::uint64_t out_of_order_chunks = 0;  // a chunk whose sequence number went backwards
  bool uncalibrated_clock = false;     // ticks, but no sync point or rate to convert them: taken as ns
  std::uint64_t backward_times = 0;    // records earlier than the one before them in their stream
};

struct trace_data {
  std::string path;
  file_header header;
  clock_info clock;
  std::vector<thread_stream> threads;  // sorted by thread id
  std::unordered_map<std::uint32_t, std::string> strings;
  std::unordered_map<std::uint32_t, raw_site> sites;
  decode_report report;
  // Flight-recorder dumps that list their trims (a definitions chunk): per
  // thread that lost older chunks, the time (ns, once converted) its events
  // are whole from. Threads not listed lost none.
  bool lists_trims = false;
  std::map<thread_id, std::uint64_t> whole_from;
  // Flight-recorder dumps: a spawn record for each task alive at the dump
  // (its own may be older than the window); no time of their own.
  std::vector<record> live_spawns;

  const std::string* string_at(std::uint32_t id) const {
    auto it = strings.find(id);
    return it == strings.end() ? nullptr : &it->second;
  }
};

struct read_result {
  bool ok = false;
  std::string error;  // why the file is not a trace (when !ok)
  trace_data trace;
};

// Decodes a whole file held in memory; `path` is only used in messages.
read_result decode_trace(std::string_view bytes, std::string path);
// Reads and decodes a file; !ok when it cannot be read or is no trace.
read_result read_trace_file(const std::string& path);

}  // namespace weft_trace
