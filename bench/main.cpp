// weft-bench: weft's side of the benchmark protocol (shared/peers/PROTOCOL.md).
//
//   weft-bench <workload> [--threads N] [--size K] [--port P]
//
// Prints exactly one JSON line on stdout and exits 0; a workload whose result
// check fails prints the reason on stderr and exits 1; bad arguments exit 2.
// The workload runs as the root task of a runtime with N workers; the clock
// is inside the workload, so runtime start-up and shutdown are not timed.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "workload.hpp"

namespace weft::bench {

std::vector<workload>& registry() {
  static std::vector<workload> all;
  return all;
}

void print_line(const options& o, const outcome& r) {
  double rate = r.seconds > 0 ? double(r.ops) / r.seconds : 0.0;
  std::string line = fmt::format(
      R"({{"impl":"weft","workload":"{}","threads":{},"ops":{},"seconds":{:.6f},"ops_per_sec":{:.1f})",
      o.workload, o.threads, r.ops, r.seconds, rate);
  for (const auto& [k, v] : r.extra) line += fmt::format(R"(,"{}":{})", k, v);
  line += "}\n";
  std::fputs(line.c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace weft::bench

namespace {

using weft::bench::options;
using weft::bench::registry;

[[noreturn]] void usage(const std::string& msg) {
  std::string names;
  for (const auto& w : registry()) names += fmt::format(" {}", w.name);
  fmt::print(stderr, "weft-bench: {}\nusage: weft-bench <workload> [--threads N] [--size K] [--port P]\n"
             "workloads:{}\n", msg, names);
  std::exit(2);
}

template <class T>
T parse_number(std::string_view flag, const char* text) {
  if (!text) usage(fmt::format("missing value for {}", flag));
  std::string_view s(text);
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size())
    usage(fmt::format("bad value for {}: \"{}\"", flag, s));
  return v;
}

options parse_args(int argc, char** argv) {
  options o;
  std::optional<std::size_t> threads;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    // Both "--flag V" and "--flag=V".
    std::string flag(a);
    const char* value = nullptr;
    bool inline_value = false;
    if (a.starts_with("--")) {
      if (auto eq = a.find('='); eq != std::string_view::npos) {
        flag = std::string(a.substr(0, eq));
        value = argv[i] + eq + 1;
        inline_value = true;
      }
    }
    auto next = [&]() -> const char* {
      if (inline_value) return value;
      return i + 1 < argc ? argv[++i] : nullptr;
    };
    if (flag == "--threads") {
      threads = parse_number<std::size_t>(flag, next());
    } else if (flag == "--size") {
      o.size = parse_number<std::uint64_t>(flag, next());
    } else if (flag == "--port") {
      o.port = parse_number<std::uint16_t>(flag, next());
    } else if (flag == "-h" || flag == "--help") {
      usage("help");
    } else if (flag.starts_with("-")) {
      usage(fmt::format("unknown option {}", flag));
    } else {
      if (!o.workload.empty()) usage(fmt::format("unexpected argument {}", a));
      o.workload = std::string(a);
    }
  }
  if (o.workload.empty()) usage("missing workload");
  o.threads = threads.value_or(std::max(1u, std::thread::hardware_concurrency()));
  if (o.threads == 0) usage("--threads must be >= 1");
  return o;
}

// WEFT_BENCH_METRICS=1: the scheduler's counters on stderr after the run, to
// see why a workload behaves as it does (steals, parks, inject traffic).
void print_metrics(const weft::runtime& rt) {
  weft::runtime_metrics m = rt.metrics();
  fmt::print(stderr, "tasks_spawned={} inject_depth={}\n", m.tasks_spawned, m.inject_queue_depth);
  for (std::size_t i = 0; i < m.workers.size(); ++i) {
    const auto& w = m.workers[i];
    fmt::print(stderr,
               "worker {}: polls={} lifo_polls={} inject_pulls={} steals={} stolen_tasks={} parks={} "
               "io_polls={} rescues={} budget_yields={}\n",
               i, w.polls, w.lifo_polls, w.inject_pulls, w.steals, w.stolen_tasks, w.parks,
               w.io_polls, w.reactor_rescues, w.budget_yields);
  }
}

}  // namespace

int main(int argc, char** argv) {
  options o = parse_args(argc, argv);
  const auto& all = registry();
  auto it = std::find_if(all.begin(), all.end(), [&](const auto& w) { return o.workload == w.name; });
  if (it == all.end()) usage(fmt::format("unknown workload {}", o.workload));

  try {
    weft::runtime_config cfg;
    cfg.worker_threads = o.threads;
    weft::runtime rt{cfg};
    weft::bench::outcome r = rt.block_on(it->run(o));
    if (it->k == weft::bench::kind::in_process) weft::bench::print_line(o, r);
    if (const char* env = std::getenv("WEFT_BENCH_METRICS"); env && *env) print_metrics(rt);
  } catch (const std::exception& e) {
    fmt::print(stderr, "weft-bench: {}\n", e.what());
    return 1;
  }
  return 0;
}
