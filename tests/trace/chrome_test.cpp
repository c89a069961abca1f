// weft-trace chrome: valid Trace Event JSON with the events the trace holds,
// flows bound the way Perfetto and chrome://tracing bind them.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "json_value.hpp"
#include "scenarios.hpp"
#include "tool_runner.hpp"

using namespace trace_gen;
using namespace trace_test;

namespace {

json::value chrome_json(const std::string& trace, const temp_dir& dir, std::vector<std::string> extra = {}) {
  std::string out = dir.file("out.json");
  std::vector<std::string> args{"chrome", trace, "-o", out};
  args.insert(args.end(), extra.begin(), extra.end());
  run_result r = run_tool(args);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE_FALSE(r.sanitizer_report());
  CHECK(r.out.empty());  // the JSON went to the file
  return json::parse(read_file(out));
}

std::size_t count(const json::value& events, const std::string& ph, const std::string& name = "") {
  std::size_t n = 0;
  for (const auto& e : events.items)
    if (e["ph"].str() == ph && (name.empty() || e["name"].str() == name)) ++n;
  return n;
}

bool is_poll(const json::value& e) {
  return e["ph"].str() == "X" && e.find("cat") && e["cat"].str().rfind("poll", 0) == 0;
}

}  // namespace

TEST_SUITE("trace/chrome") {
  TEST_CASE("one complete event per poll, named after the task, with its site and outcome") {
    temp_dir dir;
    scenario sc = basic_scenario();
    json::value doc = chrome_json(write_scenario(dir, "basic.wtrace", sc), dir);
    const json::value& ev = doc["traceEvents"];
    REQUIRE(ev.kind == json::value::array);
    for (const auto& e : ev.items) {
      REQUIRE(e["ph"].is_string());
      REQUIRE(e["ts"].is_number());
      REQUIRE(e["pid"].is_number());
      REQUIRE(e["tid"].is_number());
    }
    std::size_t polls = 0, long_polls = 0;
    std::map<std::uint64_t, std::size_t> per_tid;
    for (const auto& e : ev.items) {
      if (!is_poll(e)) continue;
      ++polls;
      ++per_tid[e["tid"].u64()];
      CHECK(e["dur"].num() >= 0);
      CHECK(e["args"]["task"].is_number());
      CHECK(e["args"]["outcome"].is_string());
      if (e["cat"].str() == "poll,long") {
        ++long_polls;
        CHECK(e["name"].str() == "cruncher");
        CHECK(e["args"]["site"].str() == "src/crunch.cpp:7 crunch(int)");
        CHECK(e["dur"].num() == doctest::Approx(25000.0));
        CHECK(e["ts"].num() == doctest::Approx(40000.0));
      }
      if (e["args"]["task"].u64() == 200) {
        CHECK(e["name"].str() == "task spawned in main_task");  // no name: where it was spawned
        CHECK(e["args"]["outcome"].str() == "blocked");
        CHECK(e["args"]["wait"].str() == "channel");
      }
      if (e["args"]["task"].u64() == 500)
        CHECK(e["name"].str() == "odd\tname\x01 \xc3\xbc \xef\xbf\xbd");
    }
    CHECK(polls == sc.want.polls);
    CHECK(long_polls == 1);
    for (std::size_t w = 0; w < 3; ++w) CHECK(per_tid[w + 1] == sc.want.workers[w].polls);  // tid = lane + 1

    // One track per worker, the blocking thread and the foreign thread.
    std::map<std::uint64_t, std::string> names;
    for (const auto& e : ev.items)
      if (e["ph"].str() == "M" && e["name"].str() == "thread_name") names[e["tid"].u64()] = e["args"]["name"].str();
    CHECK(names == std::map<std::uint64_t, std::string>{
                       {1, "worker 0"}, {2, "worker 1"}, {3, "worker 2"}, {4, "blocking 0"}, {5, "other"}});

    CHECK(count(ev, "i", "park") == sc.want.parks);
    CHECK(count(ev, "i", "unpark") == sc.want.unparks);
    CHECK(count(ev, "i", "timer fired") == sc.want.timer_fires);
    CHECK(count(ev, "i", "io poll") + count(ev, "i", "io poll (rescue)") == sc.want.io_polls);
    CHECK(count(ev, "i", "io poll (rescue)") == 2);
    CHECK(count(ev, "i", "steal") == sc.want.steals);
    CHECK(count(ev, "C") == 2 * sc.want.depth_samples);  // run queue and inject queue per sample
    CHECK(count(ev, "X", "blocking job of task spawned in main_task") == sc.want.blocking_jobs);
    CHECK(doc["otherData"]["warnings"].size() == sc.want.warning_kinds.size());
  }

  TEST_CASE("wake and steal flows start inside a slice and end inside the woken task's poll") {
    temp_dir dir;
    scenario sc = basic_scenario();
    json::value doc = chrome_json(write_scenario(dir, "basic.wtrace", sc), dir);
    const auto& ev = doc["traceEvents"].items;
    std::map<std::pair<std::string, std::uint64_t>, int> starts, ends;
    std::size_t wakes = 0, steals = 0;
    for (std::size_t i = 0; i < ev.size(); ++i) {
      const json::value& e = ev[i];
      std::string ph = e["ph"].str();
      if (ph != "s" && ph != "f") continue;
      auto key = std::pair{e["cat"].str(), e["id"].u64()};
      if (ph == "s") {
        ++starts[key];
        (e["cat"].str() == "wake" ? wakes : steals)++;
        // Bound to the slice enclosing it on its own track (strictly: ties
        // in time are not ordered by the viewers).
        bool enclosed = false;
        for (const auto& x : ev)
          if (x["ph"].str() == "X" && x["tid"].u64() == e["tid"].u64() && x["ts"].num() < e["ts"].num() &&
              e["ts"].num() < x["ts"].num() + x["dur"].num())
            enclosed = true;
        CHECK_MESSAGE(enclosed, "flow start without an enclosing slice at ts " << e["ts"].num());
      } else {
        ++ends[key];
        // Bound to the slice enclosing it: the woken task's poll, written
        // right after it; 1 ns inside, so that no tie in time can matter.
        CHECK(e["bp"].str() == "e");
        std::size_t j = i + 1;
        while (j < ev.size() && !(ev[j]["ph"].str() == "X" && ev[j]["tid"].u64() == e["tid"].u64())) ++j;
        REQUIRE(j < ev.size());
        CHECK(is_poll(ev[j]));
        CHECK(ev[j]["ts"].num() < e["ts"].num());
        CHECK(e["ts"].num() < ev[j]["ts"].num() + ev[j]["dur"].num());
      }
    }
    CHECK(wakes == sc.want.wakes);
    CHECK(steals == sc.want.steals);
    CHECK(starts.size() == wakes + steals);
    CHECK(starts == ends);
  }

  TEST_CASE("--from and --to keep the events of the window") {
    temp_dir dir;
    std::string trace = write_scenario(dir, "basic.wtrace", basic_scenario());
    json::value doc = chrome_json(trace, dir, {"--from", "40", "--to", "41"});
    std::vector<std::uint64_t> tasks;
    for (const auto& e : doc["traceEvents"].items)
      if (is_poll(e)) tasks.push_back(e["args"]["task"].u64());
    // Worker 0's poll of task 121 (40.9-41.7 ms) and the long poll (40-65 ms).
    std::sort(tasks.begin(), tasks.end());
    CHECK(tasks == std::vector<std::uint64_t>{121, 300});
  }
}
