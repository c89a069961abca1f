// Damaged, truncated and foreign files: a clear message, whatever could be
// read, the documented exit status, and never a crash (the ASan+UBSan build
// runs the same tests with an instrumented tool).
#include <doctest/doctest.h>

#include <random>

#include "json_value.hpp"
#include "scenarios.hpp"
#include "tool_runner.hpp"

using namespace trace_gen;
using namespace trace_test;

namespace {

const std::vector<std::vector<std::string>> commands{{"summary"}, {"summary", "--json"}, {"chrome"}, {"html"}};

void check_clean_exit(const run_result& r, std::initializer_list<int> allowed) {
  INFO("stderr: " << r.err);
  CHECK_FALSE(r.timed_out);
  CHECK(r.signal == 0);
  CHECK_FALSE(r.sanitizer_report());
  bool ok = false;
  for (int code : allowed) ok = ok || r.exit_code == code;
  CHECK_MESSAGE(ok, "exit status " << r.exit_code);
}

run_result run(const std::vector<std::string>& command, const std::string& trace, const temp_dir& dir) {
  std::vector<std::string> args = command;
  args.push_back(trace);
  if (command[0] != "summary") {
    args.push_back("-o");
    args.push_back(dir.file("out"));
  }
  return run_tool(args);
}

std::string with_u32(std::string bytes, std::size_t at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) bytes[at + std::size_t(i)] = char(v >> (8 * i));
  return bytes;
}

}  // namespace

TEST_SUITE("trace/corrupt") {
  TEST_CASE("files that are no trace: exit status 1 and a clear message") {
    temp_dir dir;
    std::string good = basic_scenario().file.bytes();
    struct bad {
      const char* name;
      std::string bytes;
      const char* message;
    };
    std::string wrong_magic = good;
    wrong_magic[3] = 'X';
    const bad cases[] = {
        {"empty", "", "bad magic"},
        {"text", "hello, this is not a trace at all\n", "bad magic"},
        {"wrong-magic", wrong_magic, "bad magic"},
        {"short-header", good.substr(0, 40), "truncated file header"},
        {"version-6", with_u32(good, 8, 6), "unsupported trace version 6"},
        {"header-size", with_u32(good, 12, 16), "bad header size 16"},
    };
    for (const bad& c : cases) {
      std::string trace = write_bytes(dir, std::string(c.name) + ".wtrace", c.bytes);
      for (const auto& command : commands) {
        INFO(c.name << " with " << command[0]);
        run_result r = run(command, trace, dir);
        check_clean_exit(r, {1});
        CHECK(r.out.empty());
        CHECK(r.err.find(c.message) != std::string::npos);
        CHECK(r.err.find(trace) != std::string::npos);  // says which file
      }
    }
    run_result missing = run_tool({"summary", dir.file("does-not-exist.wtrace")});
    check_clean_exit(missing, {1});
    CHECK(missing.err.find("cannot open") != std::string::npos);
  }

  TEST_CASE("a damaged trace: warnings, and everything that was intact") {
    temp_dir dir;
    scenario sc = damaged_scenario();
    std::string trace = write_scenario(dir, "damaged.wtrace", sc);
    run_result r = run_tool({"summary", "--json", trace});
    check_clean_exit(r, {0});
    for (const char* needle : {"warning: file truncated", "worker 2 dropped 7 events", "worker 1 lost 1 chunk",
                               "skipped 2 records of unknown type", "skipped 50 bytes that were no chunk",
                               "a string record ran past the chunk's end", "1 poll without an end (ignored)"})
      CHECK_MESSAGE(r.err.find(needle) != std::string::npos, needle << " in " << r.err);
    json::value s = json::parse(r.out);
    const json::value& d = s["decode"];
    CHECK(d["truncated"].b == sc.want.truncated);
    CHECK(d["truncated_bytes"].u64() == 16);
    CHECK(d["dropped_events"].u64() == sc.want.dropped);
    CHECK(d["lost_chunks"].u64() == sc.want.lost_chunks);
    CHECK(d["unknown_records"].u64() == sc.want.unknown_records);
    CHECK(d["garbage_bytes"].u64() == 50);
    CHECK(d["string_overruns"].u64() == sc.want.string_overruns);
    CHECK(d["unclosed_polls"].u64() == sc.want.unclosed_polls);
    std::set<std::string> kinds;
    for (const auto& w : s["warnings"].items) kinds.insert(w["kind"].str());
    CHECK(kinds == sc.want.warning_kinds);
    // Nothing intact was lost: the polls of every worker, the tail's complete poll included.
    REQUIRE(s["worker_stats"].size() == 3);
    for (std::size_t w = 0; w < 3; ++w) {
      CHECK(s["worker_stats"][w]["polls"].u64() == sc.want.workers[w].polls);
      CHECK(s["worker_stats"][w]["busy_ns"].u64() == sc.want.workers[w].busy_ns);
    }
    CHECK(s["long_polls"].size() == 1);
    CHECK(s["long_polls"][0]["io_waited"].u64() == 6);

    for (const auto& command : {std::vector<std::string>{"chrome"}, std::vector<std::string>{"html"}}) {
      run_result o = run(command, trace, dir);
      check_clean_exit(o, {0});
      if (command[0] == "chrome") CHECK_NOTHROW(json::parse(read_file(dir.file("out"))));
    }
  }

  TEST_CASE("version 3 damage: a bad long record, a lost time base, a record split by its chunk's end") {
    // Worker 0, three chunks by hand: a poll with a long record of an
    // unknown type inside it; a poll whose end counts from a time_base that
    // was damaged into an unknown type (so from the chunk's base: earlier
    // than its begin); a poll, then a chunk that ends after the first slot
    // of a long record.
    temp_dir dir;
    tick_clock clock = tick_clock::constant(2'500'000'000);
    auto at = [&](std::uint64_t ns) { return clock.at(ns); };
    trace_file f;
    f.clock = clock;
    f.workers = 1;
    auto add_chunk = [&](std::uint64_t seq, std::uint64_t base) -> chunk& {
      trace_file::piece p;
      p.c.kind = worker;
      p.c.seq = seq;
      p.c.base = base;
      f.pieces.push_back(p);
      return f.pieces.back().c;
    };
    auto put = [](chunk& c, std::vector<slot> slots) { c.slots.insert(c.slots.end(), slots.begin(), slots.end()); };

    chunk& a = add_chunk(0, at(1 * ms));
    chunk_encoder ea(3, a.base);
    put(a, ea.record(at(1 * ms), poll_begin, 1, 0, 0, 1));
    std::vector<slot> bad = ea.record(at(1 * ms + 10 * us), queue_depth, 0, 0, 5, 6);
    bad[0].bytes[4] = 0x80 | 99;  // long, of no known type: skipped, both slots
    put(a, bad);
    put(a, ea.record(at(2 * ms), poll_end, 2, 0, 0, 1));

    chunk& b = add_chunk(1, at(10 * ms));
    chunk_encoder eb(3, b.base);
    put(b, eb.record(at(10 * ms + 500 * us), poll_begin, 1, 0, 0, 2));
    std::vector<slot> end = eb.record(at(3000 * ms), poll_end, 2, 0, 0, 2);  // too far: a time_base first
    REQUIRE(end.size() == 3);
    REQUIRE(end[0].bytes[4] == (0x80 | time_base));
    end[0].bytes[4] = 0x80 | 77;
    put(b, end);

    chunk& c = add_chunk(2, at(3100 * ms));
    chunk_encoder ec(3, c.base);
    put(c, ec.record(at(3100 * ms), poll_begin, 1, 0, 0, 3));
    put(c, ec.record(at(3101 * ms), poll_end, 2, 0, 0, 3));
    std::vector<slot> split = ec.record(at(3102 * ms), park);
    c.slots.push_back(split[0]);  // the chunk's count ends inside it

    std::string trace = write_bytes(dir, "v3-damage.wtrace", f.bytes());
    run_result r = run_tool({"summary", "--json", trace});
    check_clean_exit(r, {0});
    for (const char* needle : {"skipped 2 records of unknown type", "1 record earlier than the one before",
                               "a two-slot record ran past the chunk's end"})
      CHECK_MESSAGE(r.err.find(needle) != std::string::npos, needle << " in " << r.err);
    json::value s = json::parse(r.out);
    const json::value& d = s["decode"];
    CHECK(d["unknown_records"].u64() == 2);
    CHECK(d["split_records"].u64() == 1);
    CHECK(d["backward_times"].u64() == 1);
    CHECK_FALSE(d["truncated"].b);
    // What was intact: polls 1 and 3, with their times.
    CHECK(s["worker_stats"][0]["busy_ns"].u64() >= 2 * ms);
    CHECK(s["worker_stats"][0]["busy_ns"].u64() <= 3 * ms);  // the backward poll adds nothing absurd
    for (const auto& command : commands) check_clean_exit(run(command, trace, dir), {0});
  }

  TEST_CASE("a trace with only its header is empty, not an error") {
    temp_dir dir;
    trace_file f;
    f.workers = 4;
    std::string trace = write_bytes(dir, "header.wtrace", f.bytes());
    run_result r = run_tool({"summary", "--json", trace});
    check_clean_exit(r, {0});
    json::value s = json::parse(r.out);
    CHECK(s["polls"].u64() == 0);
    CHECK(s["worker_stats"].size() == 4);
    CHECK(s["warnings"].size() == 0);
    for (const auto& command : commands) check_clean_exit(run(command, trace, dir), {0});
  }

  TEST_CASE("cut at any point: the complete records are read, never a crash") {
    temp_dir dir;
    std::string good = basic_scenario(8).file.bytes();
    std::size_t step = good.size() / 150 + 1;
    std::size_t runs = 0;
    for (std::size_t cut = 0; cut < good.size(); cut += (cut < 200 ? 7 : step)) {
      std::string trace = write_bytes(dir, "cut.wtrace", good.substr(0, cut));
      INFO("cut at " << cut << " of " << good.size());
      run_result r = run_tool({"summary", trace});
      check_clean_exit(r, {cut < 64 ? 1 : 0});
      // Chunk headers are 32 bytes and slots 16: a cut off that grid is inside a chunk.
      if (cut >= 64 && (cut - 64) % 16 != 0) CHECK(r.err.find("file truncated") != std::string::npos);
      if (runs++ % 25 == 0)
        for (const auto& command : commands) check_clean_exit(run(command, trace, dir), {cut < 64 ? 1 : 0});
    }
  }

  TEST_CASE("random damage: exit status 0 or 1, never a crash") {
    temp_dir dir;
    std::string good = basic_scenario(12).file.bytes();
    std::mt19937_64 rng(20240607);
    for (int round = 0; round < 120; ++round) {
      std::string bytes = good;
      int flips = 1 + int(rng() % 24);
      for (int k = 0; k < flips; ++k) {
        // Mostly in the chunks; now and then in the file header.
        std::size_t at = round % 10 == 0 ? rng() % 64 : 64 + rng() % (bytes.size() - 64);
        bytes[at] = char(rng());
      }
      if (round % 3 == 0) bytes.resize(64 + rng() % (bytes.size() - 64));
      std::string trace = write_bytes(dir, "fuzz.wtrace", bytes);
      INFO("round " << round);
      check_clean_exit(run_tool({"summary", trace}), {0, 1});
      if (round % 6 == 0) {
        for (const auto& command : commands) {
          run_result r = run(command, trace, dir);
          check_clean_exit(r, {0, 1});
          if (r.exit_code == 0 && command[0] == "chrome") CHECK_NOTHROW(json::parse(read_file(dir.file("out"))));
        }
      }
    }
  }

  TEST_CASE("usage errors: exit status 2 and the usage text") {
    temp_dir dir;
    std::string trace = write_scenario(dir, "basic.wtrace", basic_scenario());
    const std::vector<std::vector<std::string>> bad{
        {},
        {"frobnicate", trace},
        {"summary"},
        {"summary", trace, "--bogus"},
        {"summary", trace, "--long-poll-ms", "abc"},
        {"summary", trace, "--long-poll-ms", "-1"},
        {"summary", trace, "--long-poll-ms"},
        {"summary", trace, "--from", "3"},
        {"html", trace, "--json"},
        {"chrome", trace, "--from", "5", "--to", "4"},
        {"summary", trace, trace},
    };
    for (const auto& args : bad) {
      run_result r = run_tool(args);
      INFO(r.err);
      check_clean_exit(r, {2});
      CHECK(r.err.find("usage: weft-trace") != std::string::npos);
    }
    run_result help = run_tool({"--help"});
    check_clean_exit(help, {0});
    CHECK(help.out.find("usage: weft-trace") != std::string::npos);
  }

  TEST_CASE("an output that cannot be written: exit status 1") {
    temp_dir dir;
    std::string trace = write_scenario(dir, "basic.wtrace", basic_scenario());
    run_result r = run_tool({"chrome", trace, "-o", dir.file("no/such/dir/out.json")});
    check_clean_exit(r, {1});
    CHECK(r.err.find("cannot write") != std::string::npos);
  }
}
