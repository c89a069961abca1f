// weft-trace html, read as a file: self-contained, its data valid JSON that
// holds the same summary as `summary --json`. (tests/trace/browser_test.sh
// renders it in Chromium.)
#include <doctest/doctest.h>

#include "json_value.hpp"
#include "scenarios.hpp"
#include "tool_runner.hpp"

using namespace trace_gen;
using namespace trace_test;

namespace {

std::size_t occurrences(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// Same JSON value, numbers compared exactly.
bool same(const json::value& a, const json::value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case json::value::null: return true;
    case json::value::boolean: return a.b == b.b;
    case json::value::number: return a.n == b.n;
    case json::value::string: return a.s == b.s;
    case json::value::array:
      if (a.items.size() != b.items.size()) return false;
      for (std::size_t i = 0; i < a.items.size(); ++i)
        if (!same(a.items[i], b.items[i])) return false;
      return true;
    case json::value::object:
      if (a.members.size() != b.members.size()) return false;
      for (std::size_t i = 0; i < a.members.size(); ++i)
        if (a.members[i].first != b.members[i].first || !same(a.members[i].second, b.members[i].second)) return false;
      return true;
  }
  return false;
}

}  // namespace

TEST_SUITE("trace/html") {
  TEST_CASE("the report is one self-contained file whose data is the summary and the polls") {
    temp_dir dir;
    scenario sc = basic_scenario();
    std::string trace = write_scenario(dir, "basic.wtrace", sc);
    std::string out = dir.file("report.html");
    run_result r = run_tool({"html", trace, "-o", out});
    INFO("stderr: " << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE_FALSE(r.sanitizer_report());
    std::string html = read_file(out);

    CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
    // Nothing is fetched: no links, no external scripts or fonts, no URLs at all.
    for (const char* banned : {"<link", "<script src", "http://", "https://", "@import", "url("})
      CHECK_MESSAGE(html.find(banned) == std::string::npos, banned);
    CHECK(occurrences(html, "<script") == 2);  // the data and the code
    CHECK(occurrences(html, "</script>") == 2);  // trace strings cannot close them
    for (const char* id : {"id=\"weft-trace\"", "id=\"timeline\"", "id=\"lane-labels\"", "id=\"workers-table\"",
                           "id=\"latency-table\"", "id=\"histogram\"", "id=\"long-polls-table\"",
                           "id=\"groups-table\"", "id=\"warnings\""})
      CHECK_MESSAGE(html.find(id) != std::string::npos, id);

    const std::string open = "<script type=\"application/json\" id=\"weft-data\">";
    std::size_t begin = html.find(open);
    REQUIRE(begin != std::string::npos);
    begin += open.size();
    std::size_t end = html.find("</script>", begin);
    REQUIRE(end != std::string::npos);
    json::value data = json::parse(std::string_view(html).substr(begin, end - begin));

    run_result sr = run_tool({"summary", "--json", trace});
    REQUIRE(sr.exit_code == 0);
    CHECK(same(data["summary"], json::parse(sr.out)));

    CHECK(data["lanes"].size() == 4);  // 3 workers and the blocking thread
    CHECK(data["lanes"][3]["label"].str() == "blocking 0");
    CHECK(data["polls"]["begin"].size() == sc.want.polls);
    for (const char* column : {"lane", "dur", "task", "group", "info"})
      CHECK(data["polls"][column].size() == sc.want.polls);
    CHECK(data["groups"].size() == sc.want.groups.size());
    CHECK(data["wakes"]["poll"].size() == sc.want.wakes);
    CHECK(data["parks"]["lane"].size() == sc.want.parks);
    CHECK(data["io"]["lane"].size() == sc.want.io_polls);
  }

  TEST_CASE("a trace with no events still makes a page") {
    temp_dir dir;
    trace_file empty;
    empty.workers = 2;
    std::string trace = write_bytes(dir, "empty.wtrace", empty.bytes());
    std::string out = dir.file("empty.html");
    run_result r = run_tool({"html", trace, "-o", out});
    REQUIRE(r.exit_code == 0);
    std::string html = read_file(out);
    CHECK(html.find("\"polls\":{\"lane\":[]") != std::string::npos);
  }
}
