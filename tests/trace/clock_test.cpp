// Time-stamp counter ticks to ns (runtime/trace/FORMAT.md, "Time"): whatever
// the clock's rate, and however it drifts between sync points, weft-trace
// shows the ns the trace was built with; with no sync point but the start it
// uses the header's rate, and with neither it says so.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "json_value.hpp"
#include "scenarios.hpp"
#include "tool_runner.hpp"

using namespace trace_gen;
using namespace trace_test;

namespace {

json::value summary_json(const std::string& trace) {
  run_result r = run_tool({"summary", "--json", trace});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE_FALSE(r.sanitizer_report());
  return json::parse(r.out);
}

// The io polls' durations from the Chrome export, in ns, sorted.
std::vector<std::uint64_t> io_durations(const std::string& trace, const temp_dir& dir) {
  std::string out = dir.file("out.json");
  run_result r = run_tool({"chrome", trace, "-o", out});
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<std::uint64_t> v;
  json::value doc = json::parse(read_file(out));
  for (const auto& e : doc["traceEvents"].items)
    if (e["name"].str().rfind("io poll", 0) == 0) v.push_back(std::uint64_t(std::llround(e["args"]["duration_us"].num() * 1000)));
  std::sort(v.begin(), v.end());
  return v;
}

std::uint64_t p(std::vector<std::uint64_t> v, double pct) {
  std::sort(v.begin(), v.end());
  auto rank = std::size_t(std::ceil(pct / 100.0 * double(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

// The basic scenario's numbers, all of which depend on converted times.
void check_basic(const json::value& s, const scenario& sc) {
  const expected& want = sc.want;
  CHECK(s["span_begin_ns"].u64() == want.span_begin);
  CHECK(s["span_end_ns"].u64() == want.span_end);
  for (std::size_t i = 0; i < want.workers.size(); ++i) {
    INFO("worker " << i);
    CHECK(s["worker_stats"][i]["busy_ns"].u64() == want.workers[i].busy_ns);
    CHECK(s["worker_stats"][i]["poll_p99_ns"].u64() == p(want.workers[i].durations, 99));
  }
  for (auto [name, values] : {std::pair{"wake_to_poll", want.wake_latency}, std::pair{"spawn_to_poll", want.spawn_latency},
                              std::pair{"poll_time", want.durations}}) {
    INFO(name);
    CHECK(s[name]["p50_ns"].u64() == p(values, 50));
    CHECK(s[name]["p90_ns"].u64() == p(values, 90));
    CHECK(s[name]["max_ns"].u64() == *std::max_element(values.begin(), values.end()));
  }
  REQUIRE(s["long_polls"].size() == 1);
  CHECK(s["long_polls"][0]["begin_ns"].u64() == want.long_polls[0].begin);
  CHECK(s["long_polls"][0]["duration_ns"].u64() == want.long_polls[0].duration);
  CHECK(s["long_polls"][0]["io_waited"].u64() == want.long_polls[0].io_rescued + want.long_polls[0].io_after);
  CHECK(s["warnings"].size() == want.warning_kinds.size());
}

// A hand-made worker: two polls, an io poll, times in ns.
thread_writer small_worker(const tick_clock& clock) {
  thread_writer w(worker, 0, clock);
  w.add(0, thread_info, 0, 0, 0, 7000);
  w.add(2 * ms, poll_begin, 1, 0, 0, 1);
  w.add(2 * ms + 700 * us, poll_end, 2, 0, 0, 1);
  w.add(20 * ms, io_poll, 0, 0, 3, 250 * us);
  w.add(60 * ms, poll_begin, 1, 0, 0, 2);
  w.add(60 * ms + 1300 * us, poll_end, 2, 0, 0, 2);
  return w;
}

void check_small(const json::value& s) {
  CHECK(s["span_begin_ns"].u64() == 0);
  CHECK(s["span_end_ns"].u64() == 60 * ms + 1300 * us);
  CHECK(s["worker_stats"][0]["busy_ns"].u64() == 2000 * us);
  CHECK(s["poll_time"]["max_ns"].u64() == 1300 * us);
  REQUIRE(s["long_polls"].size() == 1);
  CHECK(s["long_polls"][0]["begin_ns"].u64() == 60 * ms);
}

}  // namespace

TEST_SUITE("trace/clock") {
  TEST_CASE("ticks at any rate read as the ns the trace was built with") {
    temp_dir dir;
    tick_clock drifting;  // the rate changes twice; sync points at the changes
    drifting.rates = {{0, 3'000'000'000}, {30 * ms, 1'250'000'000}, {70 * ms, 2'000'000'000}};
    drifting.header_rate = 2'000'000'000;
    const struct {
      const char* name;
      tick_clock clock;
      std::uint64_t mean_rate;
    } clocks[] = {
        {"ns (no ticks)", tick_clock::ns_clock(), 1'000'000'000},
        {"1 GHz", tick_clock::constant(1'000'000'000), 1'000'000'000},
        {"2.4 GHz", tick_clock{}, 2'400'000'000},
        {"3.333333 GHz", tick_clock::constant(3'333'333'000), 3'333'333'000},
        {"3, then 1.25, then 2 GHz", drifting, 2'000'000'000},
    };
    for (const auto& c : clocks) {
      INFO(c.name);
      scenario sc = basic_scenario(16, c.clock);
      std::string trace = write_scenario(dir, "basic.wtrace", sc);
      json::value s = summary_json(trace);
      check_basic(s, sc);
      const json::value& clock = s["decode"]["clock"];
      CHECK(clock["unit"].str() == (c.clock.ticks ? "ticks" : "ns"));
      CHECK(clock["ticks_per_second"].u64() == c.mean_rate);
      CHECK_FALSE(clock["uncalibrated"].b);
      if (c.clock.ticks) CHECK(clock["sync_points"].u64() == 2 + c.clock.rates.size() - 1);
      std::vector<std::uint64_t> want_io = sc.want.io_durations;
      std::sort(want_io.begin(), want_io.end());
      CHECK(io_durations(trace, dir) == want_io);
    }
  }

  TEST_CASE("a version 1 file is read as ns") {
    temp_dir dir;
    scenario sc = basic_scenario(16, tick_clock::ns_clock(), 1);
    json::value s = summary_json(write_scenario(dir, "v1.wtrace", sc));
    check_basic(s, sc);
    CHECK(s["decode"]["clock"]["unit"].str() == "ns");
  }

  TEST_CASE("a version 2 file (32-byte records) reads as before") {
    temp_dir dir;
    scenario sc = basic_scenario(16, tick_clock{}, 2);
    json::value s = summary_json(write_scenario(dir, "v2.wtrace", sc));
    check_basic(s, sc);
    CHECK(s["decode"]["clock"]["unit"].str() == "ticks");
    CHECK(s["decode"]["unknown_records"].u64() == 0);
  }

  TEST_CASE("without sync records the header's rate converts") {
    temp_dir dir;
    thread_writer w = small_worker(tick_clock::constant(3'100'000'000));
    std::string trace = write_bytes(dir, "header.wtrace", assemble(1, {&w}, 64).bytes());
    json::value s = summary_json(trace);
    check_small(s);
    CHECK(s["decode"]["clock"]["sync_points"].u64() == 1);
    CHECK(s["decode"]["clock"]["ticks_per_second"].u64() == 3'100'000'000);
    CHECK(io_durations(trace, dir) == std::vector<std::uint64_t>{250 * us});
  }

  TEST_CASE("sync points win over the header; past the last one its pair's rate holds") {
    temp_dir dir;
    tick_clock clock = tick_clock::constant(2'500'000'000);
    clock.header_rate = 1'000'000'000;  // wrong: must not be used
    thread_writer w = small_worker(clock);
    w.add_sync(0);
    w.add_sync(10 * ms);  // the last: everything after 10 ms is extrapolated
    std::string trace = write_bytes(dir, "extrapolated.wtrace", assemble(1, {&w}, 64).bytes());
    json::value s = summary_json(trace);
    check_small(s);
    CHECK(s["decode"]["clock"]["sync_points"].u64() == 2);
    CHECK(s["decode"]["clock"]["ticks_per_second"].u64() == 2'500'000'000);
    CHECK(io_durations(trace, dir) == std::vector<std::uint64_t>{250 * us});
  }

  TEST_CASE("damaged and too close sync points are skipped") {
    temp_dir dir;
    tick_clock clock = tick_clock::constant(2'500'000'000);
    thread_writer w = small_worker(clock);
    w.add_sync(0);
    w.add_sync(40 * ms);
    w.add_sync(40 * ms + 300 * us);  // 0.3 ms after the previous: too close for a rate
    auto bad = [&](std::uint64_t ticks, std::uint64_t steady_ns) {
      w.add_ticks(50 * ms, ticks, clock_sync, 0, 0, 0, steady_ns, 0);
    };
    bad(clock.at(45 * ms), clock.start_ns + 30 * ms);       // ns go backwards
    bad(clock.at(46 * ms), clock.start_ns - 1);             // before the start
    bad(clock.at(47 * ms), clock.start_ns + 900'000 * ms);  // ~20 kHz: no CPU's counter
    std::string trace = write_bytes(dir, "damaged.wtrace", assemble(1, {&w}, 64).bytes());
    json::value s = summary_json(trace);
    check_small(s);
    CHECK(s["decode"]["clock"]["sync_points"].u64() == 2);
    CHECK_FALSE(s["decode"]["clock"]["uncalibrated"].b);
  }

  TEST_CASE("ticks with no rate at all: read as ns, with a warning") {
    temp_dir dir;
    tick_clock clock = tick_clock::constant(1'000'000'000);
    clock.header_rate = 0;  // the process died before the tracer's first sync point
    thread_writer w = small_worker(clock);
    run_result r = run_tool({"summary", "--json", write_bytes(dir, "raw.wtrace", assemble(1, {&w}, 64).bytes())});
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("no sync point or rate") != std::string::npos);
    json::value s = json::parse(r.out);
    CHECK(s["decode"]["clock"]["uncalibrated"].b);
    CHECK(s["span_end_ns"].u64() == 60 * ms + 1300 * us);  // 1 GHz ticks: the same numbers
    bool warned = false;
    for (const auto& wn : s["warnings"].items) warned = warned || wn["kind"].str() == "clock";
    CHECK(warned);
  }
}
