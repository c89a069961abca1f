// The demo's trace, after the run: weft-trace renders the HTML report and the
// Chrome JSON next to the .wtrace file and summarises it; the demo prints
// where the files are and the summary's headlines (the busiest task groups,
// where the "conn" tasks show up, the latencies and the warnings).
//
// weft-trace is looked for next to the demo in the build tree
// (build/tools/weft-trace/weft-trace: tools/demo builds both), then on PATH.
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "demo_common.hpp"

namespace weft_demo {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> find_weft_trace() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path sibling = self.parent_path() / "weft-trace" / "weft-trace";
    if (::access(sibling.c_str(), X_OK) == 0) return sibling.string();
  }
  return find_on_path("weft-trace");
}

// `trace` with its .wtrace extension replaced (or `ext` appended).
std::string beside(const fs::path& trace, std::string_view ext) {
  fs::path p = trace;
  if (p.extension() == ".wtrace")
    p.replace_extension(ext);
  else
    p += ext;
  return p.string();
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    text = nl == text.npos ? std::string_view{} : text.substr(nl + 1);
  }
  return lines;
}

// The summary's sections worth a glance in a terminal, indented: the span
// line of the header, the latencies, the top task groups, the warnings.
void print_headlines(std::string_view summary) {
  constexpr int max_lines = 10;  // per section
  bool keep = false;
  int kept_in_section = 0;
  auto end_section = [&] {
    if (keep && kept_in_section > max_lines)
      fmt::print("    ... {} more in the whole summary\n", kept_in_section - max_lines);
    keep = false;
  };
  for (std::string_view l : lines_of(summary)) {
    if (l.empty()) {
      end_section();
      continue;
    }
    if (l.starts_with("  span ")) {
      fmt::print("  {}\n", l.substr(2));
      continue;
    }
    if (!l.starts_with(" ")) {  // a section title
      end_section();
      keep = l.starts_with("Latencies") || l.starts_with("Top task groups") ||
             l.starts_with("Warnings") || l.starts_with("No warnings");
      kept_in_section = 0;
      if (keep) fmt::print("\n  {}\n", l);
      continue;
    }
    if (keep && kept_in_section++ < max_lines) fmt::print("  {}\n", l);
  }
  end_section();
}

}  // namespace

bool report_trace(const std::string& trace_path) {
  std::error_code ec;
  fs::path trace = fs::absolute(trace_path, ec);
  if (ec) trace = trace_path;
  fmt::print("\n== trace ==\n");
  auto size = fs::file_size(trace, ec);
  if (ec) {
    fmt::print("  no trace was written to {} (weft built with -Dtracing=disabled?)\n",
               trace.string());
    return true;
  }
  fmt::print("  trace        {}  ({:.1f} MB)\n", trace.string(), double(size) / 1e6);

  auto tool = find_weft_trace();
  if (!tool) {
    fmt::print("  weft-trace not found (build it: ninja -C <build> tools/weft-trace/weft-trace);\n"
               "  then: weft-trace html {} -o {}\n",
               trace.string(), beside(trace, ".html"));
    return false;
  }

  bool ok = true;
  auto render = [&](std::string_view command, std::string_view label, std::string_view ext,
                    std::vector<std::string> extra = {}) {
    std::string out = beside(trace, ext);
    std::vector<std::string> argv{*tool, std::string(command), trace.string(), "-o", out};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = run_program(argv);
    if (!r.started || r.exit_code != 0) {
      fmt::print("  FAILED: weft-trace {} (status {}): {}\n", command, r.exit_code, r.output);
      ok = false;
      return;
    }
    auto bytes = fs::file_size(out, ec);
    fmt::print("  {:<12} {}  ({:.1f} MB){}\n", label, out, ec ? 0.0 : double(bytes) / 1e6,
               command == "chrome" ? "  first 200 ms; open in ui.perfetto.dev" : "");
  };
  render("html", "HTML report", ".html");
  // The whole run as Chrome JSON is a few hundred MB; the first 200 ms (the
  // spawn scene and the start of the load) open quickly in Perfetto.
  render("chrome", "Chrome JSON", ".json", {"--to", "200"});

  auto summary = run_program({*tool, "summary", trace.string()});
  if (!summary.started || summary.exit_code != 0) {
    fmt::print("  FAILED: weft-trace summary (status {}): {}\n", summary.exit_code,
               summary.output);
    return false;
  }
  fmt::print("  the whole summary: {} summary {}\n", *tool, trace.string());
  print_headlines(summary.output);
  return ok;
}

}  // namespace weft_demo
