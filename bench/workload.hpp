// The workloads of the benchmark protocol (shared/peers/PROTOCOL.md), one
// file each, found by name through a small registry.
//
// A workload file defines a coroutine and registers it at namespace scope:
//
//   weft::task<weft::bench::outcome> spawn_many(weft::bench::options o) { ... }
//   const weft::bench::registrar reg{"spawn_many", &spawn_many};
//
// The driver (main.cpp) runs it as the root task of a runtime with
// `o.threads` workers, inside rt.block_on, so runtime start-up and shutdown
// are not timed. An in-process workload starts a stopwatch when its work
// begins, stops it once its result has been checked, and returns the
// outcome; the driver prints the JSON line. A failed check throws
// check_failed (the driver prints it on stderr and exits 1). A server
// workload (kind::server) prints its own line with print_line() once it is
// listening, then serves until SIGTERM or SIGINT and returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <runtime/runtime.hpp>

namespace weft::bench {

// The command line: <workload> [--threads N] [--size K] [--port P].
struct options {
  std::string workload;
  std::size_t threads = 1;
  std::optional<std::uint64_t> size;  // overrides the workload's main count
  std::uint16_t port = 0;             // *_server workloads only

  std::uint64_t size_or(std::uint64_t fallback) const { return size.value_or(fallback); }
};

struct outcome {
  std::uint64_t ops = 0;
  double seconds = 0;
  // Extra JSON keys, with their values already written as JSON (e.g. "12.5").
  std::vector<std::pair<std::string, std::string>> extra;
};

// A workload's result is wrong: a fast wrong answer is no result.
struct check_failed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void check(bool ok, const std::string& what) {
  if (!ok) throw check_failed(what);
}

enum class kind { in_process, server };

using workload_fn = task<outcome> (*)(options);

struct workload {
  const char* name;
  workload_fn run;
  kind k;
};

// All registered workloads, in registration order (static initialisation of
// the workload files; main() only reads it).
std::vector<workload>& registry();

struct registrar {
  registrar(const char* name, workload_fn run, kind k = kind::in_process) {
    registry().push_back(workload{name, run, k});
  }
};

// Wall time since construction (or the last restart).
class stopwatch {
 public:
  stopwatch() noexcept : start_(std::chrono::steady_clock::now()) {}
  double seconds() const noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

inline outcome finish(std::uint64_t ops, const stopwatch& clock) {
  return outcome{ops, clock.seconds(), {}};
}

// Prints the protocol's one JSON line on stdout and flushes it.
void print_line(const options& o, const outcome& r);

}  // namespace weft::bench
