// The summary model: the numbers `weft-trace summary` prints and the HTML
// report shows, computed once from the timeline.
//
// Definitions (the tests hold the tool to them):
// - span: first to last record of the trace (clock_sync aside). For a
//   flight-recorder dump, whose threads' windows start at different times,
//   it starts where every worker's window has begun, and polls are clipped
//   to it.
// - busy %: time inside polls / span, per worker.
// - percentiles: nearest rank (the smallest value with at least p% of the
//   values at or below it).
// - wake -> poll latency: from a wake record to the woken task's next
//   poll_begin; spawn -> poll: from the spawn to the task's first poll.
// - long poll: a poll longer than the threshold (1 ms by default). The I/O
//   that waited behind one on worker W: handlers run by peers' rescue polls
//   of W's reactor that ended during it, plus those of the first poll of W's
//   reactor that ended after it; and the timers those rescue polls fired.
// - task groups: tasks by spawn site (file, line, function, name), however
//   many threads defined that site; tasks with no spawn record form one group.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "timeline.hpp"

namespace weft_trace {

struct summary_options {
  std::uint64_t long_poll_ns = 1'000'000;
};

// Warn thresholds (not options: they only decide whether a line is printed).
inline constexpr double imbalance_warn_points = 20.0;  // busy % spread between workers
inline constexpr std::uint64_t inject_warn_depth = 64;  // tasks waiting in the inject queue
inline constexpr std::size_t max_listed = 10;           // items per warning list

struct distribution {
  std::uint64_t count = 0;
  double mean = 0;
  std::uint64_t p50 = 0, p90 = 0, p99 = 0, max = 0;
};

struct worker_summary {
  std::uint32_t index = 0;
  std::uint64_t busy_ns = 0;
  double busy_pct = 0;
  std::uint64_t polls = 0;
  double poll_mean_ns = 0;
  std::uint64_t poll_p99_ns = 0;
  std::uint64_t parks = 0;
  std::uint64_t steal_ops = 0;
  std::uint64_t stolen_tasks = 0;       // tasks this worker took from others
  std::uint64_t stolen_from_ops = 0;    // times others stole from it
  std::uint64_t stolen_from_tasks = 0;  // tasks taken from it
  std::uint64_t lifo_polls = 0;
  double lifo_pct = 0;
  std::uint64_t inject_pulls = 0;       // polls of a task taken from the inject queue
  std::uint64_t io_polls_own = 0;
  std::uint64_t io_polls_rescue = 0;    // polls of a peer's reactor
  std::uint64_t max_queue_depth = 0;    // local run queue, from queue_depth samples
};

struct blocking_summary {
  std::uint32_t lane = 0;
  std::uint64_t jobs = 0;
  std::uint64_t busy_ns = 0;
};

struct histogram_bucket {
  std::uint64_t lo_ns = 0;  // [lo, hi)
  std::uint64_t hi_ns = 0;
  std::uint64_t count = 0;
};

struct long_poll {
  std::uint32_t poll = 0;  // index into timeline::polls
  std::uint64_t io_rescued = 0;      // handlers run by peers during the poll
  std::uint64_t io_after = 0;        // handlers of the reactor's first poll after it
  std::uint64_t timers_rescued = 0;  // timer fires inside those rescue polls
  std::uint64_t io_waited() const { return io_rescued + io_after; }
};

struct task_group {
  std::uint32_t site = 0;  // one of its site ids; 0: tasks without a spawn record
  std::string where;       // "file:line function"
  std::string short_where; // the same with the function's short name
  std::string name;
  std::uint64_t busy_ns = 0;
  double busy_pct = 0;     // of all poll time
  std::uint64_t polls = 0;
  std::uint64_t tasks = 0;
  std::uint64_t max_poll_ns = 0;
};

struct warning {
  std::string kind;  // never_yields, imbalance, inject_buildup, dropped, lost_chunks, truncated, ...
  std::string text;
};

struct summary {
  summary_options options;
  std::uint64_t span_begin = 0, span_end = 0;
  std::uint64_t span_ns() const { return span_end - span_begin; }
  std::uint64_t polls = 0;
  std::uint64_t busy_ns = 0;  // poll time inside the span
  std::uint64_t poll_ns = 0;  // all poll time: the task groups' shares are of this
  std::vector<worker_summary> workers;
  std::vector<blocking_summary> blocking;
  distribution poll_time, wake_to_poll, spawn_to_poll;
  std::vector<histogram_bucket> histogram;
  std::vector<long_poll> long_polls;  // longest first
  std::vector<task_group> groups;     // busiest first
  std::unordered_map<std::uint32_t, std::uint32_t> group_of_site;  // site id -> index in groups
  std::uint64_t max_inject_depth = 0;
  std::uint64_t max_inject_ts = 0;
  std::uint64_t depth_samples = 0;
  std::uint64_t dropped_events = 0;
  std::uint64_t lost_chunks = 0;
  std::vector<warning> warnings;

  std::uint32_t group_of_task(const timeline& tl, std::uint64_t task) const;
};

summary summarize(const timeline& tl, const summary_options& options);

// Nearest-rank percentile of sorted values (0 when empty).
std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double p);

}  // namespace weft_trace
