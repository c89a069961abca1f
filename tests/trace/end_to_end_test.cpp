// The real recorder and weft-trace together: a runtime traces a small
// program (named tasks that yield and sleep, one that holds its worker for
// 30 ms, a blocking job) and the tool reads the file back.
#include <doctest/doctest.h>

#include <sched.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <runtime/trace/tracer.hpp>

#include "json_value.hpp"
#include "tool_runner.hpp"

using namespace trace_test;
using namespace std::chrono_literals;

namespace {

constexpr int short_tasks = 40;

weft::task<int> short_task(int i) {
  for (int k = 0; k < 3; ++k) co_await weft::yield_now();
  co_await weft::sleep_for(1ms);
  co_return i;
}

// Holds its worker: one poll of 30 ms, a long poll by any threshold.
weft::task<int> spin_task() {
  auto until = std::chrono::steady_clock::now() + 30ms;
  std::uint64_t x = 0;
  while (std::chrono::steady_clock::now() < until) x = x * 6364136223846793005ull + 1;
  co_return int(x & 1);
}

weft::task<int> main_task() {
  std::vector<weft::join_handle<int>> handles;
  for (int i = 0; i < short_tasks; ++i) handles.push_back(weft::spawn(short_task(i), {.name = "e2e-short"}));
  auto spin = weft::spawn(spin_task(), {.name = "e2e-spin"});
  auto job = weft::spawn_blocking([] { return 7; }, {.name = "e2e-job"});
  int sum = 0;
  for (auto& h : handles) sum += co_await h;
  sum += co_await spin;
  sum += co_await job;
  co_return sum;
}

// Flight recorder: a burst of named tasks, and a quiet stretch of sleeps.
weft::task<int> burst(const char* name, int n) {
  std::vector<weft::join_handle<int>> handles;
  for (int i = 0; i < n; ++i) handles.push_back(weft::spawn(short_task(i), {.name = name}));
  int sum = 0;
  for (auto& h : handles) sum += co_await h;
  co_return sum;
}

weft::task<void> tick_for(std::chrono::milliseconds total) {
  for (auto t = 0ms; t < total; t += 20ms) co_await weft::sleep_for(20ms);
}

// Spawns a named child every few ms from one site until told to stop.
weft::task<void> spawn_loop(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    co_await weft::spawn(short_task(1), {.name = "from-one-site"});
    co_await weft::sleep_for(2ms);
  }
}

weft::task<void> yield_until(const std::atomic<bool>& stop) {
  while (!stop.load()) co_await weft::yield_now();
}

// Accepts one connection and reads from it: both wait (the client is slow).
weft::task<int> slow_exchange() {
  auto listener = weft::net::tcp_listener::bind({"127.0.0.1", 0});
  const std::uint16_t port = listener.local_endpoint().port();
  auto client = weft::spawn([](std::uint16_t port) -> weft::task<void> {
    co_await weft::sleep_for(20ms);
    auto s = co_await weft::net::tcp_stream::connect("127.0.0.1", port);
    co_await weft::sleep_for(20ms);
    co_await s.write_all(std::string_view("x"));
  }(port), {.name = "net-client"});
  auto server = weft::spawn([](weft::net::tcp_listener& l) -> weft::task<int> {
    auto s = co_await l.accept();
    char b[4];
    co_return int(co_await s.read_some(b));
  }(listener), {.name = "net-server"});
  co_await client;
  co_return co_await server;
}

// A flight-recording runtime's configuration: two workers, `window` kept.
weft::runtime_config flight_config(const temp_dir& dir, const std::string& name, std::chrono::seconds window,
                                   std::size_t workers = 2) {
  weft::runtime_config cfg;
  cfg.worker_threads = workers;
  cfg.trace_path = dir.file(name);
  cfg.trace_flight_recorder = window;
  return cfg;
}

// Dumps `rt`'s flight recorder to `path` and reads the dump's summary.
json::value dump_summary(weft::runtime& rt, const std::string& path) {
  REQUIRE(rt.dump_trace(path));
  run_result r = run_tool({"summary", "--json", path});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE_FALSE(r.sanitizer_report());
  return json::parse(r.out);
}

bool has_group(const json::value& summary, const std::string& name) {
  for (const auto& g : summary["groups"].items)
    if (g["name"].str() == name) return true;
  return false;
}

}  // namespace

TEST_SUITE("trace/end_to_end") {
  TEST_CASE("weft-trace reads what the runtime's tracer wrote") {
    temp_dir dir;
    std::string trace = dir.file("e2e.wtrace");
    weft::runtime_metrics m;
    auto started = std::chrono::steady_clock::now();
    {
      weft::runtime_config cfg;
      cfg.worker_threads = 2;
      cfg.trace_path = trace;
      weft::runtime rt{cfg};
      int sum = rt.block_on(main_task());
      CHECK(sum >= short_tasks * (short_tasks - 1) / 2 + 7);
      m = rt.metrics();  // every task has run; idle workers may still park and poll their reactors
    }  // the runtime's end flushes and closes the trace
    auto wall = std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count());

    run_result r = run_tool({"summary", "--json", trace});
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE_FALSE(r.sanitizer_report());
    CHECK(r.err.empty());  // a complete trace: nothing to warn about the file
    json::value s = json::parse(r.out);
    const json::value& d = s["decode"];
    CHECK_FALSE(d["truncated"].b);
    CHECK(d["dropped_events"].u64() == 0);
    CHECK(d["lost_chunks"].u64() == 0);
    CHECK(d["unknown_records"].u64() == 0);
    CHECK(d["garbage_bytes"].u64() == 0);
    CHECK(d["unmatched_poll_ends"].u64() == 0);
    CHECK(d["unclosed_polls"].u64() == 0);
    // The golden invariants of a complete trace: polls never nest on a
    // thread, every wake and steal names a task the trace spawned or polled,
    // and the drops the chunk headers count are the ones the drops records do.
    CHECK(d["nested_polls"].u64() == 0);
    CHECK(d["backward_times"].u64() == 0);  // each thread's times never go back
    CHECK(d["wakes_of_unknown_tasks"].u64() == 0);
    CHECK(d["steals_of_unknown_tasks"].u64() == 0);
    CHECK(d["dropped_in_chunk_headers"].u64() == d["dropped_in_records"].u64());

    // Times were recorded in CPU ticks on x86-64 and came out in ns: the
    // trace spans no more than the runtime lived (ticks taken as ns would,
    // at any rate over 1 GHz).
    const json::value& clock = d["clock"];
#if defined(__x86_64__)
    CHECK(clock["unit"].str() == "ticks");
    CHECK(clock["sync_points"].u64() >= 2);  // start, ~10 ms, stop (one may be too close to count)
#else
    CHECK(clock["unit"].str() == "ns");
#endif
    CHECK(clock["ticks_per_second"].u64() >= 100'000'000);
    CHECK_FALSE(clock["uncalibrated"].b);
    CHECK(s["span_ns"].u64() <= wall);
    CHECK(s["span_ns"].u64() >= 30'000'000);

    CHECK(s["workers"].u64() == 2);
    // The live metrics agree with the trace: polls and steals exactly (no
    // task is left to run after the snapshot), parks and reactor polls up to
    // what the idle workers did after it.
    REQUIRE(m.workers.size() == 2);
    REQUIRE(s["worker_stats"].size() == 2);
    for (std::size_t i = 0; i < 2; ++i) {
      INFO("worker " << i);
      const weft::worker_metrics& wm = m.workers[i];
      const json::value& ws = s["worker_stats"][i];
      CHECK(ws["polls"].u64() == wm.polls);
      CHECK(ws["steal_ops"].u64() == wm.steals);
      CHECK(ws["stolen_tasks"].u64() == wm.stolen_tasks);
      CHECK(ws["parks"].u64() >= wm.parks);
      CHECK(ws["io_polls_own"].u64() >= wm.io_polls);
    }
    // Each short task: a first poll, three yields, a sleep.
    CHECK(s["polls"].u64() >= std::uint64_t(short_tasks) * 5);
    std::uint64_t busy = 0;
    for (const auto& w : s["worker_stats"].items) busy += w["polls"].u64();
    CHECK(busy == s["polls"].u64());  // every poll ran on a worker
    CHECK(s["wake_to_poll"]["count"].u64() > 0);
    CHECK(s["spawn_to_poll"]["count"].u64() >= std::uint64_t(short_tasks) + 2);

    bool spin_found = false;
    for (const auto& lp : s["long_polls"].items) {
      if (lp["name"].str() != "e2e-spin") continue;
      spin_found = true;
      CHECK(lp["duration_ns"].u64() >= 30'000'000);
      CHECK(lp["site"].str().find("end_to_end_test.cpp:") != std::string::npos);
      // Whether the OS preempted it was measured (how often depends on the machine's load).
      CHECK(lp["involuntary_switches"].kind == json::value::number);
    }
    CHECK(spin_found);

    bool short_group = false;
    for (const auto& g : s["groups"].items) {
      if (g["name"].str() != "e2e-short") continue;
      short_group = true;
      CHECK(g["tasks"].u64() == short_tasks);
      CHECK(g["where"].str().find("end_to_end_test.cpp:") != std::string::npos);
      // The spawning function as g++ names a coroutine, cut to its short name.
      std::string short_where = g["where_short"].str();
      CHECK(short_where.size() > 10);
      CHECK(short_where.substr(short_where.size() - 10) == " main_task");
    }
    CHECK(short_group);
    REQUIRE(s["blocking"].size() >= 1);
    CHECK(s["blocking"][0]["jobs"].u64() >= 1);

    run_result c = run_tool({"chrome", trace, "-o", dir.file("e2e.json")});
    REQUIRE(c.exit_code == 0);
    CHECK_NOTHROW(json::parse(read_file(dir.file("e2e.json"))));
    run_result h = run_tool({"html", trace, "-o", dir.file("e2e.html")});
    REQUIRE(h.exit_code == 0);
    CHECK(read_file(dir.file("e2e.html")).find("e2e-spin") != std::string::npos);
  }

  TEST_CASE("a long poll whose thread the OS preempted says so") {
    temp_dir dir;
    std::string trace = dir.file("preempted.wtrace");
    {
      weft::runtime_config cfg;
      cfg.worker_threads = 1;
      cfg.trace_path = trace;
      weft::runtime rt{cfg};
      rt.block_on([]() -> weft::task<void> {
        co_await weft::sleep_for(5ms);  // a park and an unpark: the worker samples its switch count
        // Pin the worker and a spinning thread to one CPU, and hold the
        // worker in one poll: the scheduler must share the CPU, preempting
        // one for the other every few milliseconds.
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        REQUIRE(::sched_setaffinity(0, sizeof one, &one) == 0);
        std::atomic<bool> spinning{false}, stop{false};
        std::thread rival([&] {
          ::sched_setaffinity(0, sizeof one, &one);
          spinning = true;
          while (!stop) {
          }
        });
        while (!spinning) std::this_thread::yield();
        co_await weft::spawn([]() -> weft::task<void> {
          auto until = std::chrono::steady_clock::now() + 60ms;
          while (std::chrono::steady_clock::now() < until) {
          }
          co_return;
        }(), {.name = "e2e-contended"});
        stop = true;
        rival.join();
      }());
    }
    run_result r = run_tool({"summary", "--json", trace});
    REQUIRE(r.exit_code == 0);
    json::value s = json::parse(r.out);
    bool found = false;
    for (const auto& lp : s["long_polls"].items) {
      if (lp["name"].str() != "e2e-contended") continue;
      found = true;
      REQUIRE(lp["involuntary_switches"].kind == json::value::number);
      CHECK(lp["involuntary_switches"].u64() >= 1);
    }
    CHECK(found);
    bool said = false;
    for (const auto& w : s["warnings"].items)
      if (w["kind"].str() == "never_yields" && w["text"].str().find("e2e-contended") != std::string::npos)
        said = w["text"].str().find("the OS preempted its thread") != std::string::npos;
    CHECK(said);
  }

  TEST_CASE("runtimes of one process never share a trace file; WEFT_TRACE is never overwritten") {
    temp_dir dir;
    // A complete trace of `groups` groups named `name` (tasks, spawn sites).
    auto check_trace = [&](const std::string& file, const std::string& name) {
      INFO("trace " << file);
      REQUIRE(std::filesystem::exists(file));
      run_result r = run_tool({"summary", "--json", file});
      INFO("stderr: " << r.err);
      REQUIRE(r.exit_code == 0);
      CHECK(r.err.empty());
      json::value s = json::parse(r.out);
      CHECK(s["decode"]["garbage_bytes"].u64() == 0);
      CHECK(s["decode"]["lost_chunks"].u64() == 0);
      CHECK(s["decode"]["unmatched_poll_ends"].u64() == 0);
      CHECK(has_group(s, name));
    };
    auto traced_run = [](weft::runtime& rt, const char* name) {
      CHECK(rt.block_on(burst(name, 8)) == 28);
    };

    // Alive at once, one configured path: the second gets a numbered sibling.
    std::string both = dir.file("both.wtrace");
    {
      weft::runtime_config cfg;
      cfg.worker_threads = 1;
      cfg.trace_path = both;
      weft::runtime a{cfg};
      weft::runtime b{cfg};
      traced_run(a, "first-of-two");
      traced_run(b, "second-of-two");
    }
    check_trace(both, "first-of-two");
    check_trace(dir.file("both.2.wtrace"), "second-of-two");
    // Once they are gone a configured path is free again (the user chose it).
    {
      weft::runtime_config cfg;
      cfg.worker_threads = 1;
      cfg.trace_path = both;
      weft::runtime c{cfg};
      traced_run(c, "third");
    }
    check_trace(both, "third");
    CHECK_FALSE(std::filesystem::exists(dir.file("both.3.wtrace")));

    // One after another from WEFT_TRACE: each keeps its own file.
    std::string env = dir.file("env.wtrace");
    REQUIRE(::setenv("WEFT_TRACE", env.c_str(), 1) == 0);
    for (const char* name : {"env-one", "env-two"}) {
      weft::runtime_config cfg;
      cfg.worker_threads = 1;
      weft::runtime rt{cfg};
      traced_run(rt, name);
    }
    ::unsetenv("WEFT_TRACE");
    check_trace(env, "env-one");
    check_trace(dir.file("env.2.wtrace"), "env-two");
  }

  TEST_CASE("the recorder's compact records: time bases, full chunks, wakers across chunks") {
    // A worker buffer fed directly: 5000 polls, each waking a task from
    // inside (waker implicit, or written out when a chunk starts inside the
    // poll) and being woken from outside; every 1000 polls the time jumps
    // 2^33 ticks, past what a slot's delta holds (a time_base, or a fresh
    // chunk). Records read with the clock (poll_end, wake) clamp to the
    // jumped times.
    namespace tr = weft::detail::trace;
    temp_dir dir;
    std::string trace = dir.file("rec.wtrace");
    constexpr std::uint64_t polls = 5000, jump = std::uint64_t(1) << 33;
    {
      tr::tracer_options opts;
      opts.path = trace;
      opts.workers = 1;
      opts.chunks_per_buffer = 16;  // 1 MiB: nothing is dropped
      tr::tracer t(opts);
      tr::buffer& b = t.worker_buffer(0);
      std::uint64_t ts = b.now();
      for (std::uint64_t i = 0; i < polls; ++i) {
        if (i % 1000 == 999) ts += jump;
        std::uint64_t task = 1000 + i;
        b.emit_at(ts, tr::event::spawn, 0, 0, 0, task, 0);
        b.wake(1, 0xffff, task, 0);
        b.poll_begin_at(ts + 10, 1, task);
        b.wake(0, 0, 1000 + (i + 1) % polls, task);
        b.poll_end(2, 0, task);
        ts += 1000;
      }
      t.stop();
    }
    run_result r = run_tool({"summary", "--json", trace});
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.empty());
    json::value s = json::parse(r.out);
    const json::value& d = s["decode"];
    CHECK(s["polls"].u64() == polls);
    CHECK(d["dropped_events"].u64() == 0);
    CHECK(d["unknown_records"].u64() == 0);
    CHECK(d["split_records"].u64() == 0);
    CHECK(d["backward_times"].u64() == 0);
    CHECK(d["unclosed_polls"].u64() == 0);
    CHECK(d["wakes_from_tasks"].u64() == polls);  // every in-poll wake kept its waker
    CHECK(d["wakes_of_unknown_tasks"].u64() == 0);
    CHECK(s["wake_to_poll"]["count"].u64() >= polls - 1);
    // The jumps survived: the records span at least 4 of them.
    long double rate = static_cast<long double>(d["clock"]["ticks_per_second"].u64());
    REQUIRE(rate > 0);
    auto jumps_ns = std::uint64_t(4.0L * static_cast<long double>(jump) * 1e9L / rate);
    CHECK(s["span_ns"].u64() >= jumps_ns);
  }

  TEST_CASE("one-unit records: back-to-back polls of known length and what they made keep their times") {
    // Polls that begin where the one before ended are written in one unit
    // each, as are the wakes and spawns made in them: their times follow
    // from the records before them. Each poll spins 20 us (well under what
    // a compact duration holds); one in 50 spins 2 ms, past it (the slot
    // form). The decoded polls must come out as long as they were.
    namespace tr = weft::detail::trace;
    temp_dir dir;
    std::string trace = dir.file("units.wtrace");
    constexpr std::uint64_t polls = 400;
    auto spin = [](std::chrono::microseconds d) {
      auto until = std::chrono::steady_clock::now() + d;
      while (std::chrono::steady_clock::now() < until) {
      }
    };
    {
      tr::tracer_options opts;
      opts.path = trace;
      opts.workers = 1;
      tr::tracer t(opts);
      tr::buffer& b = t.worker_buffer(0);
      b.poll_begin_at(b.now(), 1, 1);
      b.poll_end(0, 0, 1);
      for (std::uint64_t task = 2; task < 2 + polls; ++task) {
        b.poll_begin_at(b.now_after(tr::event::poll), 1, task);
        b.wake(0, 0, task + 1, task);
        b.wake(2, 1, 1, task);
        b.spawn(0, 0, task + 100'000, task);
        spin(task % 50 == 0 ? 2000us : 20us);
        b.poll_end(0, 0, task);
      }
      t.stop();
    }
    run_result r = run_tool({"summary", "--json", trace});
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    json::value s = json::parse(r.out);
    const json::value& d = s["decode"];
    CHECK(s["polls"].u64() == polls + 1);
    CHECK(d["unknown_records"].u64() == 0);
    CHECK(d["backward_times"].u64() == 0);
    CHECK(d["unclosed_polls"].u64() == 0);
    CHECK(d["unmatched_poll_ends"].u64() == 0);
    CHECK(d["nested_polls"].u64() == 0);
    CHECK(d["wakes_from_tasks"].u64() == 2 * polls);  // every wake kept its waker
    const json::value& pt = s["poll_time"];
    CHECK(pt["p50_ns"].u64() >= 20'000);
    CHECK(pt["p50_ns"].u64() < 1'000'000);
    CHECK(pt["max_ns"].u64() >= 2'000'000);
    // 8 polls of 2 ms and 392 of 20 us, end to end.
    CHECK(s["busy_ns"].u64() >= 8 * 2'000'000 + 392 * 20'000);
    CHECK(s["span_ns"].u64() >= 8 * 2'000'000 + 392 * 20'000);
    CHECK(s["spawn_to_poll"]["count"].u64() == 0);  // none of the spawned tasks ran
    // Compact: well under 16 bytes per record (about 5 records a poll).
    CHECK(std::filesystem::file_size(trace) < polls * 5 * 12);
  }

  TEST_CASE("a task waiting on a socket says on what: accept, read") {
    // Socket operations never set the wait kind: every such wait read "other".
    temp_dir dir;
    const std::string trace = dir.file("net.wtrace");
    {
      weft::runtime_config cfg;
      cfg.worker_threads = 2;
      cfg.trace_path = trace;
      weft::runtime rt{cfg};
      CHECK(rt.block_on(slow_exchange()) == 1);
    }
    const std::string out = dir.file("net.json");
    run_result r = run_tool({"chrome", trace, "-o", out});
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    json::value ev = json::parse(read_file(out))["traceEvents"];
    std::set<std::string> server_waits;
    for (const auto& e : ev.items)
      if (e["ph"].str() == "X" && e["name"].str() == "net-server" && e["args"]["outcome"].str() == "blocked")
        server_waits.insert(e["args"]["wait"].str());
    CHECK(server_waits.count("accept") == 1);
    CHECK(server_waits.count("net read") == 1);
  }

  TEST_CASE("flight recorder: a dump keeps the spawns made from outside the workers") {
    // They go to the tracer's shared buffer, which a dump did not flush: a
    // new user's dump showed 51 tasks as "(no spawn record)", names lost.
    temp_dir dir;
    weft::runtime rt{flight_config(dir, "outside", 5s)};
    std::vector<weft::join_handle<int>> handles;
    for (int i = 0; i < 20; ++i) handles.push_back(rt.spawn(short_task(i), {.name = "from-main"}));
    int sum = rt.block_on([](std::vector<weft::join_handle<int>>& hs) -> weft::task<int> {
      int total = 0;
      for (auto& h : hs) total += co_await h;
      co_return total;
    }(handles));
    CHECK(sum == 190);
    json::value s = dump_summary(rt, dir.file("dump.wtrace"));
    CHECK(has_group(s, "from-main"));
  }

  TEST_CASE("flight recorder: a dump keeps the jobs of blocking-pool threads waiting for work") {
    // Such a thread handed its buffer in only when it left the pool (after
    // the keep-alive, 10 s by default): a dump had none of its jobs.
    temp_dir dir;
    weft::runtime rt{flight_config(dir, "blocking", 5s)};
    int sum = rt.block_on([]() -> weft::task<int> {
      int total = 0;
      for (int i = 0; i < 3; ++i) total += co_await weft::spawn_blocking([i] { return i; }, {.name = "b-job"});
      // Spawned from a blocking job: the spawn record is in that thread's buffer.
      weft::join_handle<int> h =
          co_await weft::spawn_blocking([] { return weft::spawn(short_task(4), {.name = "from-blocking"}); });
      total += co_await h;
      co_return total;
    }());
    CHECK(sum == 0 + 1 + 2 + 4);
    json::value s = dump_summary(rt, dir.file("dump.wtrace"));
    std::uint64_t jobs = 0;
    for (std::size_t i = 0; i < s["blocking"].size(); ++i) jobs += s["blocking"][i]["jobs"].u64();
    CHECK(jobs == 4);
    CHECK(has_group(s, "from-blocking"));

    // Dumps racing threads that take jobs, finish them and leave (TSan).
    weft::runtime_config cfg = flight_config(dir, "blocking-race", 5s);
    cfg.blocking_keep_alive = 1ms;
    weft::runtime rt2{cfg};
    auto busy = rt2.spawn([]() -> weft::task<int> {
      int total = 0;
      for (int round = 0; round < 50; ++round) {
        std::vector<weft::join_handle<int>> hs;
        for (int i = 0; i < 4; ++i) hs.push_back(weft::spawn_blocking([i] { return i; }));
        for (auto& h : hs) total += co_await h;
        // Now and then long enough for the pool's threads to leave.
        co_await weft::sleep_for(std::chrono::microseconds(round % 5 == 0 ? 5000 : 500 * (round % 4)));
      }
      co_return total;
    }());
    for (int i = 0; i < 10; ++i) CHECK(rt2.dump_trace(dir.file("race" + std::to_string(i) + ".wtrace")));
    auto join = [](weft::join_handle<int> h) -> weft::task<int> { co_return co_await h; };
    CHECK(rt2.block_on(join(std::move(busy))) == 50 * 6);
    // Threads came and went; their buffers were handed on, not piled up (a
    // new user's pool grew to 425 MB of trace buffers in 3 s): as many
    // blocking lanes as threads alive at once (4 busy, and a few leaving
    // while new ones start), not one per thread ever started (47 here).
    CHECK(dump_summary(rt2, dir.file("last.wtrace"))["blocking"].size() <= 8);
  }

  TEST_CASE("flight recorder: a long-running service's dump keeps names, its whole window and its newest events") {
    temp_dir dir;
    weft::runtime rt{flight_config(dir, "long", 1s)};
    std::atomic<bool> stop_spawning{false};
    auto spawner = rt.spawn(spawn_loop(stop_spawning), {.name = "long-lived"});
    std::this_thread::sleep_for(1600ms);  // the site's definition is older than the window
    {
      // The dump carries every string and site: the children keep their
      // name (they were "site #N" once the defining chunk left the window).
      // And a worker that idled (this load keeps one mostly parked) has
      // lost only chunks older than the window: the span is the window, not
      // the moment since that worker's first kept record.
      json::value s = dump_summary(rt, dir.file("quiet.wtrace"));
      CHECK(has_group(s, "from-one-site"));
      // And a task spawned before the window, alive at the dump, has its
      // name: the dump writes a spawn record for every live task.
      CHECK(has_group(s, "long-lived"));
      CHECK(s["span_ns"].u64() >= 800'000'000);
      CHECK(s["span_ns"].u64() < 1'400'000'000);
    }
    {
      // Two tasks yielding flat out fill chunks faster than the tracer's
      // writer trims the window: a worker out of chunks takes back its
      // oldest, rather than drop its newest events.
      std::atomic<bool> stop_yielding{false};
      auto a = rt.spawn(yield_until(stop_yielding));
      auto b = rt.spawn(yield_until(stop_yielding));
      std::this_thread::sleep_for(300ms);
      json::value s = dump_summary(rt, dir.file("busy.wtrace"));
      stop_yielding = true;
      auto join2 = [](weft::join_handle<void> x, weft::join_handle<void> y) -> weft::task<void> {
        co_await x;
        co_await y;
      };
      rt.block_on(join2(std::move(a), std::move(b)));
      CHECK(s["decode"]["dropped_events"].u64() == 0);
      CHECK(s["decode"]["lost_chunks"].u64() == 0);
      CHECK(has_group(s, "from-one-site"));
    }
    stop_spawning = true;
    auto join = [](weft::join_handle<void> h) -> weft::task<void> { co_await h; };
    rt.block_on(join(std::move(spawner)));
  }

  TEST_CASE("flight recorder: SIGUSR2 dumps every flight runtime, keeps the program's handler, and counts files") {
    // It went to the first flight runtime only, replaced the program's
    // handler for good, and once that runtime was gone the signal killed the
    // process; two dumps in one second wrote one file.
    static std::atomic<int> program_handler_calls{0};
    struct sigaction mine {}, before {};
    mine.sa_handler = [](int) { program_handler_calls.fetch_add(1); };
    sigemptyset(&mine.sa_mask);
    REQUIRE(sigaction(SIGUSR2, &mine, &before) == 0);
    temp_dir dir;
    const auto folder = std::filesystem::path(dir.file("x")).parent_path();
    auto dumps_of = [&](const std::string& stem) {
      std::size_t n = 0;
      for (const auto& e : std::filesystem::directory_iterator(folder))
        if (e.path().filename().string().starts_with(stem + ".")) ++n;
      return n;
    };
    auto wait_for_dumps = [&](const std::string& stem, std::size_t want) {
      for (auto until = std::chrono::steady_clock::now() + 5s;
           dumps_of(stem) < want && std::chrono::steady_clock::now() < until;)
        std::this_thread::sleep_for(20ms);
      return dumps_of(stem);
    };
    {
      weft::runtime a{flight_config(dir, "a", 2s, 1)};
      {
        weft::runtime b{flight_config(dir, "b", 2s, 1)};
        REQUIRE(::raise(SIGUSR2) == 0);
        CHECK(wait_for_dumps("a", 1) == 1);
        CHECK(wait_for_dumps("b", 1) == 1);
        CHECK(program_handler_calls.load() == 1);
        REQUIRE(::raise(SIGUSR2) == 0);  // within the same second, most likely: a second file
        CHECK(wait_for_dumps("a", 2) == 2);
      }
      REQUIRE(::raise(SIGUSR2) == 0);  // the first-made runtime is still there to answer
      CHECK(wait_for_dumps("a", 3) == 3);
      CHECK(program_handler_calls.load() == 3);
    }
    REQUIRE(::raise(SIGUSR2) == 0);  // both gone: the program's handler alone
    CHECK(program_handler_calls.load() == 4);
    struct sigaction now {};
    REQUIRE(sigaction(SIGUSR2, &before, &now) == 0);
    CHECK((now.sa_handler == mine.sa_handler));
  }

  TEST_CASE("flight recorder: a dump holds the last second, not the first; SIGUSR2 dumps too") {
    temp_dir dir;
    const std::string prefix = dir.file("flight");
    weft::runtime_config cfg;
    cfg.worker_threads = 2;
    cfg.trace_path = prefix;
    cfg.trace_flight_recorder = 1s;
    weft::runtime rt{cfg};
    rt.block_on(burst("flight-early", 40));
    rt.block_on(tick_for(1500ms));  // longer than the window: the early burst ages out
    rt.block_on(burst("flight-late", 40));
    // At once: the workers' last chunks are not handed in yet (a quiet
    // worker keeps a chunk until it is 100 ms old); the dump asks for them.
    const std::string dump = dir.file("dump.wtrace");
    REQUIRE(rt.dump_trace(dump));
    run_result r = run_tool({"summary", "--json", dump});
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE_FALSE(r.sanitizer_report());
    json::value s = json::parse(r.out);
    CHECK(s["flight_recorder"].b);
    CHECK(has_group(s, "flight-late"));
    CHECK_FALSE(has_group(s, "flight-early"));
    CHECK(s["span_ns"].u64() < 1'400'000'000);  // the window and a chunk's worth, not the 1.5 s run

    // SIGUSR2: the writer thread dumps to <path>.<unix seconds>.wtrace (read
    // again until complete: we may find the file while it is being written).
    REQUIRE(::raise(SIGUSR2) == 0);
    const auto folder = std::filesystem::path(prefix).parent_path();
    bool read_back = false;
    for (auto until = std::chrono::steady_clock::now() + 5s;
         !read_back && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(50ms);
      for (const auto& e : std::filesystem::directory_iterator(folder)) {
        std::string name = e.path().filename().string();
        if (!name.starts_with("flight.") || !name.ends_with(".wtrace")) continue;
        run_result sr = run_tool({"summary", "--json", e.path().string()});
        if (sr.exit_code != 0) continue;
        json::value ss = json::parse(sr.out);
        read_back = ss["flight_recorder"].b && has_group(ss, "flight-late");
      }
    }
    CHECK(read_back);
  }
}
