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
        {"version-3", with_u32(good, 8, 3), "unsupported trace version 3"},
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
      if (cut >= 64 && (cut - 64) % 32 != 0) CHECK(r.err.find("file truncated") != std::string::npos);
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
