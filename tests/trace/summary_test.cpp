// weft-trace summary: the numbers of a synthetic trace are the ones it was
// built with (tests/trace/scenarios.cpp keeps the ledger).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "json_value.hpp"
#include "scenarios.hpp"
#include "tool_runner.hpp"

using namespace trace_gen;
using namespace trace_test;

namespace {

std::uint64_t nearest_rank(std::vector<std::uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = std::size_t(std::ceil(p / 100.0 * double(v.size())));
  return v[std::max<std::size_t>(rank, 1) - 1];
}

json::value summary_json(const std::string& trace, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"summary", "--json", trace};
  args.insert(args.end(), extra.begin(), extra.end());
  run_result r = run_tool(args);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE_FALSE(r.sanitizer_report());
  return json::parse(r.out);
}

std::set<std::string> warning_kinds(const json::value& s) {
  std::set<std::string> kinds;
  for (const auto& w : s["warnings"].items) kinds.insert(w["kind"].str());
  return kinds;
}

void check_workers(const json::value& s, const expected& want) {
  const json::value& ws = s["worker_stats"];
  REQUIRE(ws.size() == want.workers.size());
  double span = double(want.span_end - want.span_begin);
  for (std::size_t i = 0; i < want.workers.size(); ++i) {
    const expected_worker& e = want.workers[i];
    const json::value& w = ws[i];
    INFO("worker " << i);
    CHECK(w["worker"].u64() == i);
    CHECK(w["polls"].u64() == e.polls);
    CHECK(w["busy_ns"].u64() == e.busy_ns);
    CHECK(w["busy_pct"].num() == doctest::Approx(100.0 * double(e.busy_ns) / span).epsilon(1e-12));
    double mean = 0;
    for (auto d : e.durations) mean += double(d);
    mean = e.durations.empty() ? 0 : mean / double(e.durations.size());
    CHECK(w["poll_mean_ns"].num() == doctest::Approx(mean).epsilon(1e-12));
    CHECK(w["poll_p99_ns"].u64() == (e.durations.empty() ? 0 : nearest_rank(e.durations, 99)));
    CHECK(w["parks"].u64() == e.parks);
    CHECK(w["steal_ops"].u64() == e.steal_ops);
    CHECK(w["stolen_tasks"].u64() == e.stolen_tasks);
    CHECK(w["stolen_from_ops"].u64() == e.robbed_ops);
    CHECK(w["stolen_from_tasks"].u64() == e.robbed_tasks);
    CHECK(w["lifo_polls"].u64() == e.lifo);
    CHECK(w["inject_pulls"].u64() == e.inject);
    CHECK(w["io_polls_own"].u64() == e.io_own);
    CHECK(w["io_polls_rescue"].u64() == e.io_rescue);
    CHECK(w["max_queue_depth"].u64() == e.max_queue);
  }
}

void check_distribution(const json::value& d, const std::vector<std::uint64_t>& values) {
  REQUIRE(d["count"].u64() == values.size());
  if (values.empty()) return;
  CHECK(d["p50_ns"].u64() == nearest_rank(values, 50));
  CHECK(d["p90_ns"].u64() == nearest_rank(values, 90));
  CHECK(d["p99_ns"].u64() == nearest_rank(values, 99));
  CHECK(d["max_ns"].u64() == *std::max_element(values.begin(), values.end()));
}

}  // namespace

TEST_SUITE("trace/summary") {
  TEST_CASE("per-worker numbers, latencies and histogram are those the trace was built with") {
    temp_dir dir;
    scenario sc = basic_scenario();
    json::value s = summary_json(write_scenario(dir, "basic.wtrace", sc));
    const expected& want = sc.want;

    CHECK(s["workers"].u64() == 3);
    CHECK(s["span_begin_ns"].u64() == want.span_begin);
    CHECK(s["span_end_ns"].u64() == want.span_end);
    CHECK(s["polls"].u64() == want.polls);
    check_workers(s, want);
    // The construction in numbers a reader can check by hand.
    CHECK(s["polls"].u64() == 81);
    CHECK(s["worker_stats"][0]["busy_pct"].num() == doctest::Approx(40.0));
    CHECK(s["worker_stats"][1]["busy_pct"].num() == doctest::Approx(45.0));
    CHECK(s["worker_stats"][2]["busy_pct"].num() == doctest::Approx(5.0));
    CHECK(s["worker_stats"][0]["lifo_pct"].num() == doctest::Approx(40.0));
    CHECK(s["worker_stats"][2]["steal_ops"].u64() == 2);
    CHECK(s["worker_stats"][2]["stolen_tasks"].u64() == 4);
    CHECK(s["worker_stats"][0]["stolen_from_tasks"].u64() == 4);

    SUBCASE("latencies") {
      check_distribution(s["wake_to_poll"], want.wake_latency);
      check_distribution(s["spawn_to_poll"], want.spawn_latency);
      check_distribution(s["poll_time"], want.durations);
      CHECK(s["wake_to_poll"]["count"].u64() == 25);
      CHECK(s["wake_to_poll"]["p50_ns"].u64() == 100'000);
      CHECK(s["wake_to_poll"]["p90_ns"].u64() == 180'000);
      CHECK(s["wake_to_poll"]["p99_ns"].u64() == 200'000);
    }
    SUBCASE("poll-time histogram in log2 buckets") {
      std::map<std::uint64_t, std::uint64_t> want_buckets;  // lower bound -> count
      for (auto d : want.durations) want_buckets[std::uint64_t(1) << (63 - __builtin_clzll(d))]++;
      const json::value& h = s["histogram"];
      std::uint64_t total = 0;
      for (const auto& b : h.items) {
        CHECK(b["hi_ns"].u64() == 2 * b["lo_ns"].u64());
        auto it = want_buckets.find(b["lo_ns"].u64());
        CHECK(b["count"].u64() == (it == want_buckets.end() ? 0 : it->second));
        total += b["count"].u64();
      }
      CHECK(total == want.polls);
      // 500us polls, 800us and 1ms polls, the 25ms poll; empty buckets between.
      REQUIRE(h.size() == 7);
      CHECK(h[0]["lo_ns"].u64() == 262144);
      CHECK(h[0]["count"].u64() == 10);
      CHECK(h[1]["count"].u64() == 70);
      CHECK(h[6]["count"].u64() == 1);
    }
    SUBCASE("the long poll, its site and the I/O that waited behind it") {
      REQUIRE(s["long_polls"].size() == want.long_polls.size());
      const expected_long& e = want.long_polls[0];
      const json::value& lp = s["long_polls"][0];
      CHECK(lp["task"].u64() == e.task);
      CHECK(lp["name"].str() == e.name);
      CHECK(lp["site"].str() == e.site);
      CHECK(lp["site_short"].str() == "src/crunch.cpp:7 crunch");
      CHECK(lp["thread"].str() == "worker 1");
      CHECK(lp["begin_ns"].u64() == e.begin);
      CHECK(lp["duration_ns"].u64() == e.duration);
      CHECK(lp["io_rescued"].u64() == e.io_rescued);
      CHECK(lp["io_after"].u64() == e.io_after);
      CHECK(lp["io_waited"].u64() == e.io_rescued + e.io_after);
      CHECK(lp["timers_rescued"].u64() == e.timers);
    }
    SUBCASE("task groups by spawn site, the same site defined by two threads counted once") {
      const json::value& g = s["groups"];
      REQUIRE(g.size() == want.groups.size());
      std::uint64_t previous = ~std::uint64_t(0);
      for (const auto& group : g.items) {
        INFO(group["where"].str());
        auto it = want.groups.find(group["where"].str());
        REQUIRE(it != want.groups.end());
        CHECK(group["name"].str() == it->second.name);
        CHECK(group["busy_ns"].u64() == it->second.busy_ns);
        CHECK(group["polls"].u64() == it->second.polls);
        CHECK(group["tasks"].u64() == it->second.tasks.size());
        CHECK(group["busy_ns"].u64() <= previous);
        previous = group["busy_ns"].u64();
      }
      CHECK(g[0]["name"].str() == "conn");
      CHECK(g[2]["where"].str() == "src/main.cpp:10 main_task()");
      // Short function names: no parameters, no return type, operator() kept whole.
      CHECK(g[0]["where_short"].str() == "src/server.cpp:42 handle_conn");
      CHECK(g[2]["where_short"].str() == "src/main.cpp:10 main_task");
      CHECK(g[3]["where_short"].str() == "src/odd \"dir\"/x.cpp:99 operator()<std::string>");
      CHECK(g[2]["tasks"].u64() == 24);
      // Raw bytes that are no UTF-8 come out as U+FFFD, the rest as they were.
      CHECK(g[3]["name"].str() == "odd\tname\x01 \xc3\xbc \xef\xbf\xbd");
    }
    SUBCASE("warnings: the task that never yields, imbalance, inject build-up") {
      CHECK(warning_kinds(s) == want.warning_kinds);
      CHECK(s["inject"]["max_depth"].u64() == want.max_inject);
      for (const auto& w : s["warnings"].items) {
        const std::string& text = w["text"].str();
        if (w["kind"].str() == "never_yields") {
          CHECK(text.find("\"cruncher\"") != std::string::npos);
          CHECK(text.find("(src/crunch.cpp:7 crunch)") != std::string::npos);  // the function's short name
          CHECK(text.find("25.00ms") != std::string::npos);
          CHECK(text.find("6 I/O handlers") != std::string::npos);
        }
        if (w["kind"].str() == "imbalance") {
          CHECK(text.find("worker 1 was busy 45.0%") != std::string::npos);
          CHECK(text.find("worker 2 only 5.0%") != std::string::npos);
        }
      }
    }
  }

  TEST_CASE("the text summary shows the same numbers") {
    temp_dir dir;
    std::string trace = write_scenario(dir, "basic.wtrace", basic_scenario());
    run_result r = run_tool({"summary", trace});
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.empty());
    const std::string& t = r.out;
    INFO(t);
    for (const char* needle :
         {"3 workers, 1 blocking thread", "span 100.00ms", "81 polls", "Workers", "Latencies", "wake -> poll",
          "spawn -> poll", "Poll time histogram", "Long polls (over 1.00ms): 1", "cruncher",
          "src/crunch.cpp:7 crunch ", "6 (4 + 2), 1", "Top task groups by busy time",
          "src/server.cpp:42 handle_conn \"conn\"", "Warnings (3)", "inject queue build-up"})
      CHECK_MESSAGE(t.find(needle) != std::string::npos, needle);
    // Worker rows: index, busy %, polls.
    CHECK(t.find("     0   40.0      50") != std::string::npos);
    CHECK(t.find("     1   45.0      21") != std::string::npos);
    CHECK(t.find("     2    5.0      10") != std::string::npos);
  }

  TEST_CASE("a long poll whose thread the OS preempted says so") {
    temp_dir dir;
    std::string trace = write_scenario(dir, "preempted.wtrace", preempted_scenario());
    json::value s = summary_json(trace);
    const json::value& lp = s["long_polls"];
    REQUIRE(lp.size() == 3);  // longest first
    CHECK(lp[0]["task"].u64() == 11);
    CHECK(lp[0]["involuntary_switches"].u64() == 3);
    CHECK(lp[1]["task"].u64() == 10);
    CHECK(lp[1]["involuntary_switches"].u64() == 0);
    CHECK(lp[2]["task"].u64() == 12);
    CHECK(lp[2]["involuntary_switches"].kind == json::value::null);
    std::string blamed, preempted;
    for (const auto& w : s["warnings"].items) {
      if (w["kind"].str() == "never_yields") blamed += w["text"].str() + "\n";
      if (w["kind"].str() == "preempted") preempted += w["text"].str() + "\n";
    }
    // Every long poll is listed; only the preempted one says so (the count
    // does not tell how much of it was waiting for a CPU).
    CHECK(blamed.find("task 10 ") != std::string::npos);
    CHECK(blamed.find("task 12 ") != std::string::npos);
    CHECK(blamed.find("task 11 ") != std::string::npos);
    CHECK(blamed.find("8.00ms without yielding on worker 0; the OS preempted its thread 3 times") !=
          std::string::npos);
    CHECK(std::count(blamed.begin(), blamed.end(), '\n') == 3);
    CHECK(blamed.find("preempted its thread") == blamed.rfind("preempted its thread"));  // task 11's line alone
    CHECK(preempted == "1 of 3 long polls over 1.00ms overlapped the OS preempting their worker's thread (CPU "
                       "contention): their times include waiting for a CPU\n");
    run_result r = run_tool({"summary", trace});
    REQUIRE(r.exit_code == 0);
    INFO(r.out);
    for (const char* needle : {"; yes (3 times)", "; no", "; not measured"})
      CHECK_MESSAGE(r.out.find(needle) != std::string::npos, needle);
  }

  TEST_CASE("--long-poll-ms moves the threshold") {
    temp_dir dir;
    std::string trace = write_scenario(dir, "basic.wtrace", basic_scenario());
    json::value low = summary_json(trace, {"--long-poll-ms", "0.9"});
    CHECK(low["long_poll_ns"].u64() == 900'000);
    CHECK(low["long_polls"].size() == 21);  // the 20 polls of 1 ms and the 25 ms one
    CHECK(low["long_polls"][0]["task"].u64() == 300);  // longest first
    json::value high = summary_json(trace, {"--long-poll-ms=30"});
    CHECK(high["long_polls"].size() == 0);
    CHECK(warning_kinds(high).count("never_yields") == 0);
  }

  TEST_CASE("chunk boundaries do not change the numbers") {
    temp_dir dir;
    json::value small = summary_json(write_scenario(dir, "small.wtrace", basic_scenario(5)));
    json::value large = summary_json(write_scenario(dir, "large.wtrace", basic_scenario(4096)));
    CHECK(small["chunks"].u64() > 20);
    CHECK(large["chunks"].u64() == 5);  // one per thread
    for (const char* key : {"polls", "busy_ns", "span_ns"}) CHECK(small[key].u64() == large[key].u64());
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(small["worker_stats"][i]["busy_ns"].u64() == large["worker_stats"][i]["busy_ns"].u64());
      CHECK(small["worker_stats"][i]["polls"].u64() == large["worker_stats"][i]["polls"].u64());
    }
    CHECK(small["long_polls"][0]["io_waited"].u64() == large["long_polls"][0]["io_waited"].u64());
  }

  TEST_CASE("a flight-recorder dump starts mid-sequence without reporting lost chunks") {
    temp_dir dir;
    scenario sc = flight_scenario();
    json::value s = summary_json(write_scenario(dir, "flight.wtrace", sc));
    CHECK(s["flight_recorder"].b);
    CHECK(s["decode"]["lost_chunks"].u64() == 0);
    CHECK(warning_kinds(s) == sc.want.warning_kinds);
    check_workers(s, sc.want);
  }
  TEST_CASE("the golden invariants: nesting, wakes and steals of unknown tasks, drop counts") {
    temp_dir dir;
    json::value clean = summary_json(write_scenario(dir, "basic.wtrace", basic_scenario()));
    const json::value& c = clean["decode"];
    CHECK(c["nested_polls"].u64() == 0);
    CHECK(c["backward_times"].u64() == 0);
    CHECK(c["wakes_of_unknown_tasks"].u64() == 0);
    CHECK(c["steals_of_unknown_tasks"].u64() == 0);
    CHECK(c["dropped_in_chunk_headers"].u64() == c["dropped_in_records"].u64());

    // Worker 0: task 1's poll never ends before task 2's begins (nested);
    // task 1 is woken by task 99 and task 98 is woken, neither ever spawned
    // nor polled; worker 1 steals task 97, never polled. 5 drops in the
    // headers, 3 in drops records.
    thread_writer w0(worker, 0), w1(worker, 1);
    w0.add(0, spawn, 0, 0, 0, 1);
    w0.add(0, spawn, 0, 0, 0, 2);
    w0.add(1 * us, poll_begin, 1, 0, 0, 1);
    w0.add(2 * us, poll_begin, 1, 0, 0, 2);
    w0.add(3 * us, poll_end, 2, 0, 0, 2);
    w0.add(4 * us, wake, 0, 0xffff, 0, 1, 99);
    w0.add(5 * us, wake, 0, 0xffff, 0, 98, 2);
    w0.add(6 * us, drops, 0, 0, 3);
    w1.add(7 * us, steal, 0, 0, 1, 97);
    trace_file f = assemble(2, {&w0, &w1}, 4096);
    for (auto& piece : f.pieces)
      if (piece.is_chunk && piece.c.kind == worker && piece.c.index == 0) piece.c.dropped = 5;
    json::value odd = summary_json(write_bytes(dir, "odd.wtrace", f.bytes()));
    const json::value& d = odd["decode"];
    CHECK(d["nested_polls"].u64() == 1);
    CHECK(d["unclosed_polls"].u64() == 1);
    CHECK(d["wakes_of_unknown_tasks"].u64() == 2);
    CHECK(d["steals_of_unknown_tasks"].u64() == 1);
    CHECK(d["dropped_in_chunk_headers"].u64() == 5);
    CHECK(d["dropped_in_records"].u64() == 3);
  }

  TEST_CASE("version 3 wakers: told by the open poll, or written out; read as in version 2") {
    // Worker 0: task 1's poll wakes task 2 (short: the open poll is the
    // waker); outside any poll a handler wakes task 3 (short, no waker);
    // task 2's poll wakes task 3 in the next chunk (long: the poll began in
    // the previous one), and task 3 is woken by task 1 while task 2's poll
    // is open (long). Chunks of at most 13 slots: four spawns (8) and the
    // five records to task 2's poll_begin fill the first.
    thread_writer w0(worker, 0);
    for (std::uint64_t t = 1; t <= 4; ++t) w0.add(0, spawn, 0, 0, 0, t);
    w0.add(1 * us, poll_begin, 1, 0, 0, 1);
    w0.add(2 * us, wake, 0, 0, 0, 2, 1);
    w0.add(3 * us, poll_end, 1, 0, 0, 1);
    w0.add(4 * us, wake, 1, 0xffff, 0, 3, 0);
    w0.add(5 * us, poll_begin, 1, 0, 0, 2);
    w0.add(6 * us, wake, 0, 0, 0, 3, 2);
    w0.add(7 * us, wake, 0, 0, 0, 3, 1);
    w0.add(8 * us, poll_end, 2, 0, 0, 2);
    w0.add(9 * us, poll_begin, 1, 0, 0, 3);
    w0.add(10 * us, poll_end, 2, 0, 0, 3);
    temp_dir dir;
    trace_file v3 = assemble(1, {&w0}, 13, 3);
    trace_file v2 = assemble(1, {&w0}, 13, 2);
    std::size_t long_wakes = 0, short_wakes = 0;
    for (const auto& piece : v3.pieces)
      for (const slot& sl : piece.c.slots) {
        long_wakes += sl.size == 16 && sl.bytes[4] == (0x80 | wake);
        short_wakes += sl.size == 16 && sl.bytes[4] == wake;
      }
    CHECK(short_wakes == 2);
    CHECK(long_wakes == 2);
    json::value s3 = summary_json(write_bytes(dir, "v3.wtrace", v3.bytes()));
    json::value s2 = summary_json(write_bytes(dir, "v2.wtrace", v2.bytes()));
    for (const json::value* s : {&s3, &s2}) {
      const json::value& d = (*s)["decode"];
      CHECK(d["wakes_from_tasks"].u64() == 3);
      CHECK(d["wakes_of_unknown_tasks"].u64() == 0);
      CHECK(d["unknown_records"].u64() == 0);
      CHECK((*s)["polls"].u64() == 3);
      CHECK((*s)["wake_to_poll"]["count"].u64() == s2["wake_to_poll"]["count"].u64());
      CHECK((*s)["wake_to_poll"]["p50_ns"].u64() == s2["wake_to_poll"]["p50_ns"].u64());
    }
    CHECK(s3["span_end_ns"].u64() == s2["span_end_ns"].u64());
  }
}
