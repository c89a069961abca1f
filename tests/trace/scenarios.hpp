// Synthetic traces with their expected numbers. Each scenario is built
// event by event and keeps a ledger of what it put in (polls and busy time
// per worker, latencies as constructed, the long poll and what waited behind
// it), so the tests compare weft-trace's output with the construction, not
// with a second implementation of the analysis.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "trace_writer.hpp"

namespace trace_gen {

struct expected_worker {
  std::uint64_t polls = 0, busy_ns = 0, lifo = 0, inject = 0, parks = 0;
  std::uint64_t steal_ops = 0, stolen_tasks = 0, robbed_ops = 0, robbed_tasks = 0;
  std::uint64_t io_own = 0, io_rescue = 0, max_queue = 0;
  std::vector<std::uint64_t> durations;
};

struct expected_long {
  std::uint32_t worker = 0;
  std::uint64_t task = 0;
  std::string name, site;
  std::uint64_t begin = 0, duration = 0;
  std::uint64_t io_rescued = 0, io_after = 0, timers = 0;
};

struct expected_group {
  std::string name;
  std::uint64_t busy_ns = 0, polls = 0;
  std::set<std::uint64_t> tasks;
};

struct expected {
  std::uint64_t span_begin = 0, span_end = 0;
  std::vector<expected_worker> workers;
  std::vector<std::uint64_t> wake_latency, spawn_latency, durations, io_durations;
  std::vector<expected_long> long_polls;
  std::map<std::string, expected_group> groups;  // by "file:line function"
  std::uint64_t max_inject = 0;
  std::uint64_t polls = 0, wakes = 0, steals = 0, parks = 0, unparks = 0, io_polls = 0, timer_fires = 0;
  std::uint64_t depth_samples = 0, blocking_jobs = 0;
  std::set<std::string> warning_kinds;
  // Damage put in (damaged scenario).
  std::uint64_t dropped = 0, lost_chunks = 0, unknown_records = 0, string_overruns = 0, unclosed_polls = 0;
  bool truncated = false, garbage = false;
};

struct scenario {
  trace_file file;
  expected want;
};

// 3 workers, a blocking thread and a foreign thread over 100 ms: four task
// groups (one with a name full of characters that need escaping), wakes,
// two steals, parks, a 25 ms poll with a peer rescuing its reactor. Times are
// ticks of `clock`, with sync points at start, at its rate changes and at
// 100 ms (in the foreign thread's stream, where the tracer puts them).
// Written as format `version` (3, or 2 or 1 for the old readers).
scenario basic_scenario(std::size_t per_chunk = 16, const tick_clock& clock = {}, std::uint32_t version = 3);
// basic, plus: drops, a lost chunk, unknown records, garbage between chunks,
// a string running past its chunk, and a last chunk cut inside its last
// record (version 3: between the two slots of a long one).
scenario damaged_scenario();
// One worker, three long polls: on the CPU throughout (5 ms), preempted
// three times (8 ms), and one without the measurement (2 ms).
scenario preempted_scenario();
// basic as a flight-recorder dump: chunk sequence numbers do not start at 0.
scenario flight_scenario();
// Many polls over 4 workers and ~200 sites, for size and rendering tests.
scenario big_scenario(std::size_t polls);

}  // namespace trace_gen
