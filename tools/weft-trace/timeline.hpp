// The timeline: the decoded streams assembled into what happened, as every
// output needs it: polls (a poll_begin and its poll_end), the wake and the
// steal that led to each poll, park spans, reactor polls, queue depths, and
// the tasks with their spawn sites.
//
// Lanes are the recording threads: lane i is worker i (so a worker index is
// its lane), then the blocking-pool threads, then the other threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "trace_file.hpp"

namespace weft_trace {

inline constexpr std::int64_t none = -1;

struct site_info {
  std::uint32_t id = 0;
  bool defined = false;  // false: used by a spawn but its definition was not in the file
  std::string file;
  std::uint32_t line = 0;
  std::string function;
  std::string name;
  // "file:line function"; "site #N" when the definition is missing.
  std::string where() const;
  // The same with the function's short name (see short_function).
  std::string short_where() const;
  // What to call a task spawned here: its name, or for an unnamed task
  // "task spawned in f" (the site is where the spawn call was, in the parent's
  // function: "f" alone would read as the parent). Empty without either.
  std::string label() const;
};

// A function name as source_location gives it, without return type,
// parameters and anonymous namespaces, for labels:
// "T weft::runtime::block_on(weft::task<T>) [with T = int]" -> "weft::runtime::block_on".
std::string short_function(std::string_view function);

struct task_info {
  std::uint64_t id = 0;
  std::uint32_t site = 0;  // 0: no spawn record in the trace
  std::uint64_t parent = 0;
  std::uint8_t kind = 0;   // 0 coroutine, 1 fiber, 2 blocking job
  bool spawned = false;
  std::uint64_t spawn_ts = 0;
  std::vector<std::uint32_t> polls;  // indexes into timeline::polls, by begin time
};

struct lane {
  thread_id id;
  std::string label;  // "worker 0", "blocking 1", "other"
};

struct poll {
  std::uint32_t lane = 0;
  std::uint64_t task = 0;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint8_t source = 0;   // 0 LIFO, 1 local, 2 inject, 3 stolen, 4 other
  std::uint8_t outcome = 0;  // 0 yielded, 1 blocked, 2 finished, 3 cancelled, 4 threw
  std::uint16_t wait = 0;    // wait kind when blocked
  // Long polls: 1 + times the OS preempted the thread in or just before the
  // poll (FORMAT.md, "Preemption"); 0 not measured.
  std::uint8_t switches = 0;
  bool preempted() const { return switches > 1; }
  std::int64_t wake = none;  // the wake this poll answered (index into timeline::wakes)
  std::int64_t steal = none; // the steal that brought it here
  std::uint64_t duration() const { return end - begin; }
};

struct wake_event {
  std::uint32_t lane = 0;  // the thread that recorded the wake (the waker's)
  std::uint64_t ts = 0;
  std::uint64_t task = 0;   // woken
  std::uint64_t waker = 0;  // waking task, 0 if none
  std::uint8_t from = 0;    // 0 same worker, 1 a non-worker thread, 2 another worker
  std::int64_t poll = none; // the next poll of the woken task
};

struct steal_event {
  std::uint32_t lane = 0;  // the thief
  std::uint64_t ts = 0;
  std::uint16_t victim = 0;
  std::uint32_t tasks = 0;
  std::uint64_t first_task = 0;
  std::int64_t poll = none;  // the thief's poll of first_task
};

struct io_poll_event {
  std::uint32_t lane = 0;
  std::uint64_t end = 0;  // the record's timestamp: written when the poll returned
  std::uint64_t duration = 0;
  std::uint32_t handlers = 0;
  bool rescue = false;     // polled a peer's reactor
  std::uint16_t reactor = 0;
  std::uint64_t begin() const { return end >= duration ? end - duration : 0; }
};

struct span {
  std::uint32_t lane = 0;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t arg = 0;   // parks: unpark reason (0xff: never unparked); blocking jobs: task id
};

// Park, unpark and timer fire records, as they are (Chrome instants).
struct instant {
  std::uint32_t lane = 0;
  std::uint64_t ts = 0;
  rec type{};
  std::uint8_t a8 = 0;
  std::uint64_t x = 0;
};

struct depth_sample {
  std::uint32_t lane = 0;
  std::uint64_t ts = 0;
  std::uint32_t local = 0;
  std::uint64_t inject = 0;
};

// Records that do not fit together (damaged or cut-short traces).
struct anomalies {
  std::uint64_t unmatched_poll_ends = 0;  // poll_end without its poll_begin
  std::uint64_t unclosed_polls = 0;       // poll_begin never ended (e.g. cut off)
  std::uint64_t nested_polls = 0;         // of those, the ones another poll_begin followed on the same thread
  std::uint64_t backwards_time = 0;       // an end before its begin
  // Wakes and steals naming a task (woken, waker, first stolen) that the
  // trace neither spawned nor polled: expected in a flight-recorder dump
  // (spawned before its window), a bug in the recorder otherwise.
  std::uint64_t wakes_of_unknown_tasks = 0;
  std::uint64_t steals_of_unknown_tasks = 0;
};

struct timeline {
  const trace_data* trace = nullptr;
  std::vector<lane> lanes;
  std::uint32_t workers = 0;  // lanes [0, workers) are the workers
  std::vector<poll> polls;    // by lane, then begin
  std::vector<wake_event> wakes;
  std::vector<steal_event> steals;
  std::vector<io_poll_event> io_polls;  // by lane, then time
  std::vector<span> parks;              // by lane, then time
  std::vector<span> blocking_jobs;
  std::vector<instant> instants;
  std::vector<depth_sample> depths;
  std::unordered_map<std::uint64_t, task_info> tasks;
  std::map<std::uint32_t, site_info> sites;
  std::uint64_t first_ts = 0;  // earliest and latest record (clock_sync aside)
  std::uint64_t last_ts = 0;
  std::uint64_t records = 0;
  anomalies odd;

  const task_info* task(std::uint64_t id) const;
  const site_info* site_of(std::uint64_t task_id) const;
  // What to call a task: its name, else its spawn function's short name,
  // else "task <id>".
  std::string task_label(std::uint64_t task_id) const;
};

timeline build_timeline(const trace_data& trace);

// Names of the records' small enumerations ("?" when out of range).
const char* source_name(std::uint8_t source);    // poll_begin a8
const char* outcome_name(std::uint8_t outcome);  // poll_end a8
const char* wait_name(std::uint16_t wait);       // poll_end a16
const char* unpark_name(std::uint8_t why);       // unpark a8

}  // namespace weft_trace
