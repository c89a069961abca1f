// weft-trace: reads a .wtrace file written by weft's tracer and summarises
// it, exports it for Perfetto / chrome://tracing, or renders an HTML report.
//
// The pipeline: trace_file (decode) -> timeline (assemble) -> summary
// (numbers) -> one of the outputs. Exit status: 0 done (warnings allowed),
// 1 the trace could not be read or the output not written, 2 usage error.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "outputs.hpp"
#include "summary.hpp"
#include "timeline.hpp"
#include "trace_file.hpp"
#include "units.hpp"

namespace {

using namespace weft_trace;

constexpr int exit_ok = 0, exit_unreadable = 1, exit_usage = 2;

constexpr std::string_view usage_text = R"(usage: weft-trace COMMAND [OPTIONS] TRACE.wtrace

commands:
  summary   per-worker table, latencies, poll-time histogram, long polls,
            busiest task groups and warnings, as text (or --json)
  chrome    Chrome Trace Event JSON for ui.perfetto.dev or chrome://tracing
  html      a self-contained HTML report: zoomable timeline and the summary

options:
  -o, --output FILE    write there instead of standard output
  --long-poll-ms N     polls longer than N ms are long polls (default 1)
  --from MS, --to MS   chrome: only events within this window (ms since the
                       trace started)
  --json               summary: machine-readable JSON
  -h, --help           this text

exit status: 0 done (warnings allowed), 1 the trace could not be read or the
output not written, 2 usage error
)";

struct options {
  std::string command;
  std::string input;
  std::string output;
  double long_poll_ms = 1.0;
  std::optional<double> from_ms, to_ms;
  bool json = false;
};

struct usage_error {
  std::string what;
};

std::optional<double> parse_ms(std::string_view s) {
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

options parse(int argc, char** argv) {
  options o;
  std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view a = args[i];
    std::string_view inline_value;
    bool has_inline = false;
    if (a.starts_with("--") && a.find('=') != std::string_view::npos) {
      inline_value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      has_inline = true;
    }
    auto value = [&]() -> std::string_view {
      if (has_inline) return inline_value;
      if (i + 1 >= args.size()) throw usage_error{fmt::format("{} needs a value", a)};
      return args[++i];
    };
    auto ms = [&]() {
      std::string_view v = value();
      auto d = parse_ms(v);
      if (!d) throw usage_error{fmt::format("{} takes a non-negative number of milliseconds, not \"{}\"", a, v)};
      return *d;
    };
    if (a == "-h" || a == "--help") {
      o.command = "help";
      return o;
    } else if (a == "-o" || a == "--output") {
      o.output = value();
    } else if (a == "--long-poll-ms") {
      o.long_poll_ms = ms();
    } else if (a == "--from") {
      o.from_ms = ms();
    } else if (a == "--to") {
      o.to_ms = ms();
    } else if (a == "--json") {
      o.json = true;
    } else if (a.starts_with("-") && a.size() > 1) {
      throw usage_error{fmt::format("unknown option {}", a)};
    } else if (o.command.empty()) {
      o.command = a;
    } else if (o.input.empty()) {
      o.input = a;
    } else {
      throw usage_error{fmt::format("unexpected argument \"{}\"", a)};
    }
  }
  if (o.command.empty()) throw usage_error{"no command given"};
  if (o.command != "summary" && o.command != "chrome" && o.command != "html")
    throw usage_error{fmt::format("unknown command \"{}\"", o.command)};
  if (o.input.empty()) throw usage_error{"no trace file given"};
  if ((o.from_ms || o.to_ms) && o.command != "chrome") throw usage_error{"--from and --to apply to chrome only"};
  if (o.json && o.command != "summary") throw usage_error{"--json applies to summary only"};
  if (o.from_ms && o.to_ms && *o.from_ms > *o.to_ms) throw usage_error{"--from is after --to"};
  return o;
}

std::uint64_t ms_to_ns(double ms) {
  double ns = ms * 1e6;
  return ns >= 1.8e19 ? ~std::uint64_t(0) : std::uint64_t(std::llround(ns));
}

// Problems with the file itself go to stderr whatever the output; the
// analysis' own warnings are part of the output.
bool about_the_file(const std::string& kind) {
  return kind != "never_yields" && kind != "preempted" && kind != "imbalance" && kind != "inject_buildup";
}

bool write_out(const std::string& path, const std::string& text) {
  std::FILE* f = path.empty() || path == "-" ? stdout : std::fopen(path.c_str(), "wb");
  if (!f) {
    fmt::print(stderr, "weft-trace: cannot write {}: {}\n", path, std::strerror(errno));
    return false;
  }
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fflush(f) == 0 && ok;
  if (f != stdout) ok = std::fclose(f) == 0 && ok;
  if (!ok) fmt::print(stderr, "weft-trace: error writing {}\n", path.empty() ? "standard output" : path);
  return ok;
}

int run(const options& o) {
  read_result r = read_trace_file(o.input);
  if (!r.ok) {
    fmt::print(stderr, "weft-trace: error: {}\n", r.error);
    return exit_unreadable;
  }
  timeline tl = build_timeline(r.trace);
  summary_options so;
  so.long_poll_ns = ms_to_ns(o.long_poll_ms);
  summary s = summarize(tl, so);
  for (const warning& w : s.warnings)
    if (about_the_file(w.kind)) fmt::print(stderr, "weft-trace: warning: {}\n", printable(w.text));

  std::string out;
  if (o.command == "summary") {
    if (o.json) {
      json_writer w(out);
      write_summary_json(w, tl, s);
      out += '\n';
    } else {
      write_summary_text(out, tl, s);
      out = printable(out);
    }
  } else if (o.command == "chrome") {
    time_window window;
    if (o.from_ms) window.from = ms_to_ns(*o.from_ms);
    if (o.to_ms) window.to = ms_to_ns(*o.to_ms);
    write_chrome_json(out, tl, s, window);
  } else {
    write_html_report(out, tl, s);
  }
  return write_out(o.output, out) ? exit_ok : exit_unreadable;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse(argc, argv);
  } catch (const usage_error& e) {
    fmt::print(stderr, "weft-trace: {}\n\n{}", e.what, usage_text);
    return exit_usage;
  }
  if (o.command == "help") {
    fmt::print("{}", usage_text);
    return exit_ok;
  }
  try {
    return run(o);
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "weft-trace: error: out of memory reading {}\n", o.input);
    return exit_unreadable;
  }
}
