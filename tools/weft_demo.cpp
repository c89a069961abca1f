// weft-demo: the runtime at work, shown one scene at a time.
//
//   weft-demo [--threads N] [--trace PATH | --no-trace] [--list] [scene...]
//             (weft-demo --help for the rest)
//
// One runtime is built from the options and every selected scene runs on it
// in turn (all scenes when none is named): `spawn` (many small tasks, stolen
// across the workers), `http` (demo_http.cpp: a keep-alive HTTP server
// under wrk's load) and `redis` (demo_resp.cpp: a Redis-protocol server
// under redis-benchmark's pipelines). A scene is a function that gets the runtime and the
// options, prints what it saw for a human, and returns false when something
// it checked came out wrong (the demo then exits non-zero). To add one, write
// its function, declare it in demo_common.hpp and append it to `scenes`
// below; options it needs go into `demo_options` and `parse_options`.
//
// The runtime records a trace (runtime_config::trace_path) unless --no-trace;
// once it is destroyed, and so the trace flushed, demo_trace.cpp has
// weft-trace render it and prints where the files are.
//
// Which worker ran a task is read from the worker thread's name: the runtime
// names its threads `<thread_name>-<index>` (runtime_config::thread_name), so
// the demo needs nothing from weft's internals to tell the workers apart.
#include <pthread.h>
#include <stdlib.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <span>
#include <system_error>

#include <fmt/format.h>

#include "demo_common.hpp"

namespace weft_demo {

// ---- which worker is this? --------------------------------------------------

// Cached per thread; noinline so that no coroutine keeps the thread_local's
// address across a suspension (a task may resume on another thread).
[[gnu::noinline]] int current_worker_index() noexcept {
  thread_local int index = [] {
    char name[16] = {};
    if (pthread_getname_np(pthread_self(), name, sizeof name) != 0) return -1;
    std::string_view n{name};
    if (!n.starts_with(worker_name_prefix) || n.size() < worker_name_prefix.size() + 2 ||
        n[worker_name_prefix.size()] != '-')
      return -1;
    n.remove_prefix(worker_name_prefix.size() + 1);
    int i = -1;
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), i);
    return ec == std::errc{} && end == n.data() + n.size() ? i : -1;
  }();
  return index;
}

void tally_here(std::vector<worker_tally>& tally, std::uint64_t n) noexcept {
  int w = current_worker_index();
  if (w >= 0 && std::size_t(w) < tally.size()) tally[std::size_t(w)].bump(n);
}

// ---- printing ------------------------------------------------------------------

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string bar(double share, int width) {
  int n = int(share * width + 0.5);
  return std::string(std::size_t(std::clamp(n, 0, width)), '#');
}

double ms(steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::vector<weft::worker_metrics> delta(const weft::runtime_metrics& before,
                                        const weft::runtime_metrics& after) {
  std::vector<weft::worker_metrics> d = after.workers;
  for (std::size_t i = 0; i < d.size() && i < before.workers.size(); ++i) {
    const auto& b = before.workers[i];
    d[i].polls -= b.polls;
    d[i].steals -= b.steals;
    d[i].stolen_tasks -= b.stolen_tasks;
    d[i].parks -= b.parks;
    d[i].lifo_polls -= b.lifo_polls;
    d[i].inject_pulls -= b.inject_pulls;
    d[i].io_polls -= b.io_polls;
    d[i].reactor_rescues -= b.reactor_rescues;
    d[i].budget_yields -= b.budget_yields;
    d[i].busy_time -= b.busy_time;
  }
  return d;
}

// ---- scene: spawn --------------------------------------------------------------

namespace {

// A little arithmetic, so that a task is worth stealing; the result is
// checked, so the compiler cannot drop it.
std::uint64_t mix(std::uint64_t x, std::uint32_t rounds) noexcept {
  for (std::uint32_t r = 0; r < rounds; ++r) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 29;
  }
  return x;
}

weft::task<std::uint64_t> work_item(std::uint64_t i, std::uint32_t rounds,
                                    std::vector<worker_tally>& tally) {
  tally_here(tally);
  co_return mix(i, rounds);
}

struct spawn_result {
  std::uint64_t sum = 0;
  steady::duration spawned_in{};
  steady::duration finished_in{};
};

weft::task<spawn_result> spawn_all(std::size_t n, std::uint32_t rounds,
                                   std::vector<worker_tally>& tally) {
  spawn_result r;
  auto start = steady::now();
  std::vector<weft::join_handle<std::uint64_t>> handles;
  handles.reserve(n);
  for (std::size_t i = 0; i < n; ++i) handles.push_back(weft::spawn(work_item(i, rounds, tally)));
  r.spawned_in = steady::now() - start;
  for (auto& h : handles) r.sum += co_await h;
  r.finished_in = steady::now() - start;
  co_return r;
}

}  // namespace

bool spawn_scene(weft::runtime& rt, const demo_options& opt) {
  const std::size_t workers = rt.worker_count();
  fmt::print("\n== spawn: {} tasks spawned from one task, run by {} workers ==\n", opt.tasks,
             workers);

  std::vector<worker_tally> tally(workers);
  auto before = rt.metrics();
  spawn_result r = rt.block_on(spawn_all(opt.tasks, opt.work, tally));
  auto per_worker = delta(before, rt.metrics());

  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < opt.tasks; ++i) expected += mix(i, opt.work);
  std::uint64_t counted = 0;
  for (auto& t : tally) counted += t.get();

  fmt::print("  {:>6}  {:>8}  {:>6}  {:<20}  {:>8}  {:>15}  {:>7}  {:>5}\n", "worker", "tasks",
             "share", "", "polls", "steals (tasks)", "inject", "parks");
  std::size_t idle_workers = 0;
  for (std::size_t i = 0; i < workers; ++i) {
    std::uint64_t n = tally[i].get();
    double share = opt.tasks ? double(n) / double(opt.tasks) : 0.0;
    const auto& m = per_worker[i];
    fmt::print("  {:>6}  {:>8}  {:>5.1f}%  {:<20}  {:>8}  {:>15}  {:>7}  {:>5}\n", i, n,
               share * 100, bar(share, 20), m.polls,
               fmt::format("{} ({})", m.steals, m.stolen_tasks), m.inject_pulls, m.parks);
    if (n == 0) ++idle_workers;
  }

  double total_ms = ms(r.finished_in);
  fmt::print("  spawned {} tasks in {:.1f} ms; all finished in {:.1f} ms ({:.2f} M tasks/s)\n",
             opt.tasks, ms(r.spawned_in), total_ms,
             total_ms > 0 ? double(opt.tasks) / total_ms / 1000.0 : 0.0);

  bool ok = true;
  if (counted != opt.tasks) {
    fmt::print("  FAILED: {} tasks recorded a worker, expected {}\n", counted, opt.tasks);
    ok = false;
  }
  if (r.sum != expected) {
    fmt::print("  FAILED: the tasks' results do not add up ({} != {})\n", r.sum, expected);
    ok = false;
  }
  if (ok) {
    fmt::print("  every task ran exactly once and returned the right value");
    if (idle_workers) fmt::print(" ({} worker(s) ran none: the others kept up)", idle_workers);
    fmt::print("\n");
  }
  return ok;
}

}  // namespace weft_demo

// ---- the scene list and main -----------------------------------------------------

namespace {

using namespace weft_demo;

struct scene {
  std::string_view name;
  std::string_view summary;
  bool (*run)(weft::runtime&, const demo_options&);
};

constexpr scene scenes[] = {
    {"spawn", "tasks spawned from one task, run and stolen across all workers", spawn_scene},
    {"http", "an HTTP/1.1 keep-alive server, one task per connection, under wrk's load",
     http_scene},
    {"redis", "a Redis-protocol key-value server under redis-benchmark's pipelined load", redis_scene},
};

void usage(std::FILE* to) {
  fmt::print(to,
             "usage: weft-demo [options] [scene...]\n"
             "  --threads N      worker threads (default: WEFT_WORKER_THREADS, else one per core)\n"
             "  --tasks N        tasks the spawn scene spawns (default 100000)\n"
             "  --work N         mixing rounds each of those tasks computes (default 200)\n"
             "  --duration S     seconds the http scene's load runs (default 3; the redis\n"
             "                   scene sends 100,000 requests a second of it per test)\n"
             "  --connections N  the server scenes' client connections (default 64)\n"
             "  --load clients|tasks  what loads the server scenes: the real clients (wrk,\n"
             "                   redis-benchmark), or client tasks on the same runtime\n"
             "                   (default: the real client when it is on PATH)\n"
             "  --trace PATH     record a trace there (default: demo.wtrace in the build\n"
             "                   directory, or WEFT_TRACE when set) and render it with\n"
             "                   weft-trace into PATH's .html report and .json for Perfetto\n"
             "  --no-trace       record no trace\n"
             "  --list           list the scenes and exit\n"
             "Runs every scene when none is named.\n");
}

template <class T>
std::optional<T> parse_number(std::string_view s, T min, T max) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) return std::nullopt;
  return v;
}

// Returns nullopt after printing why when the command line is wrong; exits
// for --help and --list.
std::optional<demo_options> parse_options(int argc, char** argv) {
  demo_options opt;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != arg.npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto take_value = [&]() -> std::optional<std::string_view> {
      if (has_value) return value;
      if (i + 1 < argc) return std::string_view{argv[++i]};
      fmt::print(stderr, "weft-demo: {} needs a value\n", arg);
      return std::nullopt;
    };
    auto number = [&]<class T>(T& into, T min, T max) {
      auto v = take_value();
      if (!v) return false;
      auto n = parse_number<T>(*v, min, max);
      if (!n) {
        fmt::print(stderr, "weft-demo: bad value for {}: \"{}\"\n", arg, *v);
        return false;
      }
      into = *n;
      return true;
    };
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (arg == "--list") {
      for (const auto& s : scenes) fmt::print("{:<8} {}\n", s.name, s.summary);
      std::exit(0);
    } else if (arg == "--threads") {
      if (!number(opt.threads, std::size_t{1}, std::size_t{4096})) return std::nullopt;
    } else if (arg == "--tasks") {
      if (!number(opt.tasks, std::size_t{1}, std::size_t{100'000'000})) return std::nullopt;
    } else if (arg == "--work") {
      if (!number(opt.work, std::uint32_t{0}, std::uint32_t{1'000'000})) return std::nullopt;
    } else if (arg == "--duration") {
      if (!number(opt.duration_s, std::uint32_t{1}, std::uint32_t{3600})) return std::nullopt;
    } else if (arg == "--connections") {
      if (!number(opt.connections, std::uint32_t{1}, std::uint32_t{10'000})) return std::nullopt;
    } else if (arg == "--load") {
      auto v = take_value();
      if (!v) return std::nullopt;
      if (*v == "clients" || *v == "wrk") {
        opt.load = load_kind::clients;
      } else if (*v == "tasks") {
        opt.load = load_kind::tasks;
      } else {
        fmt::print(stderr, "weft-demo: --load takes clients or tasks, not \"{}\"\n", *v);
        return std::nullopt;
      }
    } else if (arg == "--trace") {
      auto v = take_value();
      if (!v) return std::nullopt;
      if (v->empty()) {
        fmt::print(stderr, "weft-demo: --trace needs a file name\n");
        return std::nullopt;
      }
      opt.trace = std::string(*v);
      opt.no_trace = false;
    } else if (arg == "--no-trace" && !has_value) {
      opt.no_trace = true;
      opt.trace.reset();
    } else if (arg.starts_with("-")) {
      fmt::print(stderr, "weft-demo: unknown option {}\n", arg);
      usage(stderr);
      return std::nullopt;
    } else {
      auto known = std::find_if(std::begin(scenes), std::end(scenes),
                                [&](const scene& s) { return s.name == arg; });
      if (known == std::end(scenes)) {
        fmt::print(stderr, "weft-demo: no scene named \"{}\" (see --list)\n", arg);
        return std::nullopt;
      }
      opt.scenes.emplace_back(arg);
    }
  }
  return opt;
}

std::string thread_count_source(const demo_options& opt) {
  if (opt.threads) return "from --threads";
  if (const char* env = std::getenv("WEFT_WORKER_THREADS"); env && *env)
    return "from WEFT_WORKER_THREADS";
  return "one per core; change with --threads N or WEFT_WORKER_THREADS";
}

// Where the trace goes: --trace, else WEFT_TRACE, else demo.wtrace in the
// build directory (the demo is build/tools/weft-demo); empty: no trace.
std::string trace_path(const demo_options& opt) {
  if (opt.no_trace) return {};
  if (opt.trace) return *opt.trace;
  if (const char* env = std::getenv("WEFT_TRACE"); env && *env) return env;
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "demo.wtrace";
  return (self.parent_path().parent_path() / "demo.wtrace").string();
}

}  // namespace

int main(int argc, char** argv) {
  auto opt = parse_options(argc, argv);
  if (!opt) return 2;
  // --no-trace wins over WEFT_TRACE, which the runtime would read otherwise.
  if (opt->no_trace) ::unsetenv("WEFT_TRACE");
  std::string trace = trace_path(*opt);
  int failed = 0, ran = 0;
  auto start = steady::now();
  try {
    weft::runtime_config cfg;
    cfg.worker_threads = opt->threads;
    cfg.thread_name = std::string(worker_name_prefix);
    cfg.trace_path = trace;
    // The trace is complete once the runtime is gone: its destructor flushes it.
    weft::runtime rt{cfg};
    fmt::print("weft demo: {} worker threads ({}){}\n", rt.worker_count(),
               thread_count_source(*opt),
               trace.empty() ? "" : "; tracing on (--no-trace turns it off)");

    for (const auto& s : scenes) {
      if (!opt->scenes.empty() &&
          std::find(opt->scenes.begin(), opt->scenes.end(), s.name) == opt->scenes.end())
        continue;
      ++ran;
      if (!s.run(rt, *opt)) ++failed;
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "weft-demo: {}\n", e.what());
    return 1;
  }
  double run_ms = ms(steady::now() - start);
  if (!trace.empty() && !report_trace(trace)) ++failed;
  fmt::print("\nweft demo: {} scene(s) in {:.1f} s, {}\n", ran, run_ms / 1000.0,
             failed ? fmt::format("{} FAILED", failed) : std::string("all good"));
  return failed ? 1 : 0;
}
