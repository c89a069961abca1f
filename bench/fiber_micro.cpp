// weft-fiber-bench: what a fiber costs next to a coroutine task, and next to
// a goroutine.
//
//   weft-fiber-bench [--threads N] [--rounds R] [--go PATH] [--no-go]
//
// Each workload runs once per round for tasks, for fibers and (where the
// benchmark protocol has it, shared/peers/PROTOCOL.md) for Go's peer, in turn,
// so that drift hits all of them alike; the table shows the median ns per
// operation of the rounds and their spread [min..max]. Wrap runs in
// `flock /tmp/bench.lock` on a shared machine.
//
//   spawn_join      the protocol's workload: a root spawns N = 200,000
//                   children returning their index, then joins them in order
//                   (--threads workers). Fibers: spawn_fiber([i] { return i; }).
//   spawn+join 1x1  spawn one child and join it, N = 100,000 times, on one
//                   worker: the latency of a spawn and a join, nothing queued.
//   yield, 1 task   one task does Y = 1,000,000 yields on one worker: a
//                   coroutine's `co_await yield_now()` against a fiber's
//                   `weft::await(yield_now())` -- the price of a fiber switch
//                   on top of the scheduler's round trip.
//   yield_many      the protocol's workload: T = 1,000 tasks each yield
//                   Y = 1,000 times (--threads workers).
//
// Go's figures come from `peer-go spawn_join` and `peer-go yield_many` (the
// same workloads in Go 1.19; built by shared/peers/setup or go/build).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <runtime/fiber.hpp>
#include <runtime/runtime.hpp>

namespace {

using steady = std::chrono::steady_clock;

double ns_since(steady::time_point t0, long ops) {
  return std::chrono::duration<double, std::nano>(steady::now() - t0).count() / double(ops);
}

[[noreturn]] void check_failed(const char* what) {
  std::fprintf(stderr, "weft-fiber-bench: result check failed: %s\n", what);
  std::exit(1);
}

weft::runtime_config workers(std::size_t n) {
  weft::runtime_config cfg;
  cfg.worker_threads = n;
  return cfg;
}

weft::task<long> value(long i) { co_return i; }

// --- spawn_join ------------------------------------------------------------

weft::task<double> task_spawn_join(long n) {
  auto t0 = steady::now();
  std::vector<weft::join_handle<long>> hs;
  hs.reserve(std::size_t(n));
  for (long i = 0; i < n; ++i) hs.push_back(weft::spawn(value(i)));
  long sum = 0;
  for (auto& h : hs) sum += co_await h;
  if (sum != n * (n - 1) / 2) check_failed("task spawn_join sum");
  co_return ns_since(t0, n);
}

weft::task<double> fiber_spawn_join(long n) {
  auto t0 = steady::now();
  std::vector<weft::join_handle<long>> hs;
  hs.reserve(std::size_t(n));
  for (long i = 0; i < n; ++i) hs.push_back(weft::spawn_fiber([i] { return i; }));
  long sum = 0;
  for (auto& h : hs) sum += co_await h;
  if (sum != n * (n - 1) / 2) check_failed("fiber spawn_join sum");
  co_return ns_since(t0, n);
}

// --- spawn+join, one at a time ----------------------------------------------

weft::task<double> task_spawn_join_1x1(long n) {
  auto t0 = steady::now();
  long sum = 0;
  for (long i = 0; i < n; ++i) sum += co_await weft::spawn(value(i));
  if (sum != n * (n - 1) / 2) check_failed("task spawn+join 1x1 sum");
  co_return ns_since(t0, n);
}

weft::task<double> fiber_spawn_join_1x1(long n) {
  auto t0 = steady::now();
  long sum = 0;
  for (long i = 0; i < n; ++i) sum += co_await weft::spawn_fiber([i] { return i; });
  if (sum != n * (n - 1) / 2) check_failed("fiber spawn+join 1x1 sum");
  co_return ns_since(t0, n);
}

// --- yield, one task -------------------------------------------------------------

weft::task<double> task_yield(long y) {
  auto t0 = steady::now();
  for (long i = 0; i < y; ++i) co_await weft::yield_now();
  co_return ns_since(t0, y);
}

double fiber_yield_body(long y) {
  auto t0 = steady::now();
  for (long i = 0; i < y; ++i) weft::await(weft::yield_now());
  return ns_since(t0, y);
}

// --- yield_many ----------------------------------------------------------------

weft::task<long> yielder(long y) {
  for (long i = 0; i < y; ++i) co_await weft::yield_now();
  co_return y;
}

weft::task<double> task_yield_many(long t, long y) {
  auto t0 = steady::now();
  std::vector<weft::join_handle<long>> hs;
  hs.reserve(std::size_t(t));
  for (long i = 0; i < t; ++i) hs.push_back(weft::spawn(yielder(y)));
  long total = 0;
  for (auto& h : hs) total += co_await h;
  if (total != t * y) check_failed("task yield_many count");
  co_return ns_since(t0, t * y);
}

weft::task<double> fiber_yield_many(long t, long y) {
  auto t0 = steady::now();
  std::vector<weft::join_handle<long>> hs;
  hs.reserve(std::size_t(t));
  for (long i = 0; i < t; ++i)
    hs.push_back(weft::spawn_fiber([y] {
      for (long k = 0; k < y; ++k) weft::await(weft::yield_now());
      return y;
    }));
  long total = 0;
  for (auto& h : hs) total += co_await h;
  if (total != t * y) check_failed("fiber yield_many count");
  co_return ns_since(t0, t * y);
}

// --- Go ----------------------------------------------------------------------

// ns per op from one run of the Go peer, or a negative number if it failed.
double run_go(const std::string& go, const char* workload, std::size_t threads) {
  std::string cmd = go + " " + workload + " --threads " + std::to_string(threads);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  if (::pclose(p) != 0) return -1;
  auto at = out.find("\"ops_per_sec\":");
  if (at == std::string::npos) return -1;
  double ops = std::strtod(out.c_str() + at + 14, nullptr);
  return ops > 0 ? 1e9 / ops : -1;
}

// --- report -----------------------------------------------------------------

struct series {
  std::vector<double> v;
  bool empty() const { return v.empty(); }
  double median() const {
    std::vector<double> s = v;
    std::sort(s.begin(), s.end());
    std::size_t n = s.size();
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  }
  double min() const { return *std::min_element(v.begin(), v.end()); }
  double max() const { return *std::max_element(v.begin(), v.end()); }
};

std::string cell(const series& s) {
  if (s.empty()) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.1f [%.1f..%.1f]", s.median(), s.min(), s.max());
  return b;
}

std::string ratio(const series& a, const series& b) {
  if (a.empty() || b.empty()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fx", a.median() / b.median());
  return buf;
}

struct row {
  const char* name;
  series task, fiber, go;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t threads = 2;
  int rounds = 5;
  std::string go = "/tmp/peers/go/peer-go";
  bool use_go = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "weft-fiber-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") threads = std::size_t(std::max(1L, std::strtol(next(), nullptr, 10)));
    else if (a == "--rounds") rounds = std::max(1, int(std::strtol(next(), nullptr, 10)));
    else if (a == "--go") go = next();
    else if (a == "--no-go") use_go = false;
    else {
      std::fprintf(stderr, "usage: weft-fiber-bench [--threads N] [--rounds R] [--go PATH] [--no-go]\n");
      return 2;
    }
  }
  if (use_go && ::access(go.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "weft-fiber-bench: %s not found; Go columns left empty\n", go.c_str());
    use_go = false;
  }

  constexpr long spawn_n = 200'000, one_n = 100'000, yield_y = 1'000'000, many_t = 1'000, many_y = 1'000;
  row rows[] = {{"spawn_join (N=200k)", {}, {}, {}},
                {"spawn+join 1x1, 1 worker", {}, {}, {}},
                {"yield, 1 task, 1 worker", {}, {}, {}},
                {"yield_many (1k x 1k)", {}, {}, {}}};

  for (int r = 0; r < rounds; ++r) {
    {
      weft::runtime rt{workers(threads)};
      rows[0].task.v.push_back(rt.block_on(task_spawn_join(spawn_n)));
      rows[0].fiber.v.push_back(rt.block_on(fiber_spawn_join(spawn_n)));
      rows[3].task.v.push_back(rt.block_on(task_yield_many(many_t, many_y)));
      rows[3].fiber.v.push_back(rt.block_on(fiber_yield_many(many_t, many_y)));
    }
    {
      weft::runtime rt{workers(1)};
      rows[1].task.v.push_back(rt.block_on(task_spawn_join_1x1(one_n)));
      rows[1].fiber.v.push_back(rt.block_on(fiber_spawn_join_1x1(one_n)));
      rows[2].task.v.push_back(rt.block_on(task_yield(yield_y)));
      rows[2].fiber.v.push_back(rt.block_on(weft::fiber_task([] { return fiber_yield_body(yield_y); })));
    }
    if (use_go) {
      if (double g = run_go(go, "spawn_join", threads); g > 0) rows[0].go.v.push_back(g);
      if (double g = run_go(go, "yield_many", threads); g > 0) rows[3].go.v.push_back(g);
    }
  }

  std::printf("weft-fiber-bench: threads=%zu rounds=%d; ns per operation, median [min..max]\n",
              threads, rounds);
  std::printf("%-26s %-24s %-24s %-9s %-24s %-9s\n", "workload", "coroutine task", "fiber",
              "fiber/task", "go (goroutine)", "fiber/go");
  for (auto& r : rows)
    std::printf("%-26s %-24s %-24s %-9s %-24s %-9s\n", r.name, cell(r.task).c_str(),
                cell(r.fiber).c_str(), ratio(r.fiber, r.task).c_str(), cell(r.go).c_str(),
                ratio(r.fiber, r.go).c_str());
  weft::fiber_stats st = weft::fiber_statistics();
  std::printf("fiber stacks mapped at the end: %zu (in use %zu)\n", st.stacks_mapped, st.stacks_in_use);
  return 0;
}
