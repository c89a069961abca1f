// What the demo's files share: the options, the scenes' signature, the
// helpers that tell the workers apart and print tables, and child processes
// (wrk, weft-trace). See weft_demo.cpp for how the demo is put together.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <runtime/runtime.hpp>

namespace weft_demo {

using steady = std::chrono::steady_clock;

// The runtime names its threads `<thread_name>-<index>`.
inline constexpr std::string_view worker_name_prefix = "weft-demo";

// What loads the server scenes: real clients (wrk, redis-benchmark), or
// client tasks on the demo's own runtime.
enum class load_kind { automatic, clients, tasks };

struct demo_options {
  std::size_t threads = 0;        // 0: WEFT_WORKER_THREADS, else one per core
  std::size_t tasks = 100'000;    // spawn scene: tasks spawned from one task
  std::uint32_t work = 200;       // spawn scene: mixing rounds each task computes
  std::uint32_t duration_s = 3;   // server scenes: seconds of load
  std::uint32_t connections = 64; // server scenes: concurrent client connections
  load_kind load = load_kind::automatic;  // server scenes: the real client if on PATH, else tasks
  std::optional<std::string> trace;  // --trace PATH; nullopt: the default path
  bool no_trace = false;             // --no-trace
  std::vector<std::string> scenes;
};

// A scene prints what it saw for a human and returns false when something it
// checked came out wrong.
bool spawn_scene(weft::runtime& rt, const demo_options& opt);
bool http_scene(weft::runtime& rt, const demo_options& opt);
bool redis_scene(weft::runtime& rt, const demo_options& opt);

// ---- which worker is this? ----------------------------------------------------

// The index of the worker thread running the caller, or -1 off the workers.
int current_worker_index() noexcept;

// One counter per worker, each on its own cache line: a task bumps the slot of
// the worker it runs on, so the slots never bounce between cores.
struct alignas(64) worker_tally {
  // Relaxed: read only after the tasks that bump it were joined, and a join
  // orders the task's writes before the joiner's reads.
  std::atomic<std::uint64_t> count{0};

  void bump(std::uint64_t n = 1) noexcept { count.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return count.load(std::memory_order_relaxed); }
};

// Bumps the running worker's slot (nothing off the workers).
void tally_here(std::vector<worker_tally>& tally, std::uint64_t n = 1) noexcept;

// ---- printing -------------------------------------------------------------------

std::string bar(double share, int width);
std::string with_commas(std::uint64_t n);  // 1234567 -> "1,234,567"
double ms(steady::duration d);
// The counters of `after` minus those of `before`, per worker.
std::vector<weft::worker_metrics> delta(const weft::runtime_metrics& before,
                                        const weft::runtime_metrics& after);

// ---- child processes ------------------------------------------------------------

// The full path of `name` found on PATH, or nullopt.
std::optional<std::string> find_on_path(std::string_view name);

struct program_result {
  bool started = false;  // false: could not be run at all (see output)
  int exit_code = -1;    // the exit status, or -1 when killed by a signal
  std::string output;    // standard output and standard error, interleaved
};

// Runs `argv` (argv[0] a path) with standard input from /dev/null and waits
// for it. Call it off the workers: it blocks the calling thread.
program_result run_program(const std::vector<std::string>& argv);

// ---- the trace ---------------------------------------------------------------------

// After the runtime that wrote `trace_path` was destroyed (so the trace is
// flushed): renders the HTML report and the Chrome JSON next to it with
// weft-trace, prints where they are and the summary's headlines. Returns
// false when a file could not be made.
bool report_trace(const std::string& trace_path);

}  // namespace weft_demo
