// `weft-trace summary`: the summary as text tables.
#include <algorithm>
#include <ctime>
#include <iterator>

#include <fmt/format.h>

#include "outputs.hpp"
#include "units.hpp"

namespace weft_trace {
namespace {

constexpr std::size_t max_long_polls_listed = 20;
constexpr std::size_t max_groups_listed = 10;
constexpr int histogram_width = 40;

std::string utc_time(std::uint64_t unix_ns) {
  if (unix_ns == 0) return "unknown";
  std::time_t secs = std::time_t(unix_ns / 1'000'000'000);
  std::tm tm{};
  if (!gmtime_r(&secs, &tm)) return "unknown";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// At most `width` characters (UTF-8 aware), "..." marking a cut.
std::string clip(const std::string& s, std::size_t width) {
  std::size_t chars = 0, i = 0, cut = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;  // a continuation byte
    if (chars == width - 3) cut = i;
    if (++chars > width) return s.substr(0, cut) + "...";
  }
  return s;
}

// Whether the OS preempted a long poll's thread (FORMAT.md, "Preemption").
std::string preemption(const poll& p) {
  if (p.switches == 0) return "not measured";
  if (!p.preempted()) return "no";
  return fmt::format("yes ({} time{})", p.switches - 1, p.switches == 2 ? "" : "s");
}

std::string plural(std::uint64_t n, const char* word) { return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s"); }

class text_writer {
 public:
  text_writer(std::string& out, const timeline& tl, const summary& s) : out_(out), tl_(tl), s_(s) {}

  void write() {
    header();
    workers();
    blocking();
    latencies();
    histogram();
    long_polls();
    groups();
    warnings();
  }

 private:
  template <class... A>
  void line(fmt::format_string<A...> f, A&&... a) {
    fmt::format_to(std::back_inserter(out_), f, std::forward<A>(a)...);
    out_ += '\n';
  }

  void header() {
    const trace_data& t = *tl_.trace;
    line("weft-trace summary of {}", t.path);
    std::size_t blocking = 0;
    for (const lane& l : tl_.lanes) blocking += l.id.kind == thread_kind::blocking;
    line("  {}, {}; pid {}; recorded {}{}", plural(tl_.workers, "worker"), plural(blocking, "blocking thread"),
         t.header.pid, utc_time(t.header.start_unix_ns), t.header.flight_recorder() ? " (flight-recorder dump)" : "");
    line("  span {} ({} to {}), {} records in {} chunks, {} polls, {} tasks", format_duration(s_.span_ns()),
         format_ms(s_.span_begin), format_ms(s_.span_end), t.report.records, t.report.chunks, s_.polls,
         tl_.tasks.size());
  }

  void workers() {
    line("");
    line("Workers");
    line("  {:>6} {:>6} {:>7} {:>9} {:>9} {:>6} {:>15} {:>15} {:>6} {:>7} {:>7} {:>7} {:>9}", "worker", "busy%",
         "polls", "poll mean", "poll p99", "parks", "steals (tasks)", "robbed (tasks)", "LIFO%", "inject", "io own",
         "io resc", "max queue");
    for (const worker_summary& w : s_.workers)
      line("  {:>6} {:>6} {:>7} {:>9} {:>9} {:>6} {:>15} {:>15} {:>6} {:>7} {:>7} {:>7} {:>9}", w.index,
           format_pct(w.busy_ns, s_.span_ns()), w.polls, format_duration(round_ns(w.poll_mean_ns)),
           format_duration(w.poll_p99_ns), w.parks, fmt::format("{} ({})", w.steal_ops, w.stolen_tasks),
           fmt::format("{} ({})", w.stolen_from_ops, w.stolen_from_tasks), format_pct(w.lifo_polls, w.polls),
           w.inject_pulls, w.io_polls_own, w.io_polls_rescue, w.max_queue_depth);
    line("  (robbed: steals by peers from this worker; inject: polls of tasks from the inject queue;"
         " io resc: polls of a stuck peer's reactor)");
  }

  void blocking() {
    if (s_.blocking.empty()) return;
    line("");
    line("Blocking threads");
    for (const blocking_summary& b : s_.blocking)
      line("  {:<12} {:>7} {:>10} busy", tl_.lanes[b.lane].label, plural(b.jobs, "job"), format_duration(b.busy_ns));
  }

  void distribution_row(const char* what, const distribution& d) {
    line("  {:<14} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}", what, d.count,
         format_duration(round_ns(d.mean)), format_duration(d.p50), format_duration(d.p90),
         format_duration(d.p99), format_duration(d.max));
  }

  void latencies() {
    line("");
    line("Latencies");
    line("  {:<14} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}", "", "count", "mean", "p50", "p90", "p99", "max");
    distribution_row("wake -> poll", s_.wake_to_poll);
    distribution_row("spawn -> poll", s_.spawn_to_poll);
    distribution_row("poll time", s_.poll_time);
  }

  void histogram() {
    if (s_.histogram.empty()) return;
    line("");
    line("Poll time histogram (log2 buckets)");
    std::uint64_t most = 0;
    for (const histogram_bucket& b : s_.histogram) most = std::max(most, b.count);
    for (const histogram_bucket& b : s_.histogram) {
      int bar = int((b.count * histogram_width + most - 1) / most);
      line("  [{:>8}, {:>8}) {:>8}  {}", format_duration(b.lo_ns), format_duration(b.hi_ns), b.count,
           std::string(std::size_t(bar), '#'));
    }
  }

  void long_polls() {
    line("");
    line("Long polls (over {}): {}", format_duration(s_.options.long_poll_ns), s_.long_polls.size());
    if (s_.long_polls.empty()) return;
    line("  {:>9} {:>11} {:<10} {:>8}  {:<24} {:<48} {}", "duration", "at", "thread", "task", "name", "spawn site",
         "I/O waited (rescued + after), timers fired by rescues; preempted");
    std::size_t n = std::min(s_.long_polls.size(), max_long_polls_listed);
    for (std::size_t i = 0; i < n; ++i) {
      const long_poll& lp = s_.long_polls[i];
      const poll& p = tl_.polls[lp.poll];
      const site_info* site = tl_.site_of(p.task);
      line("  {:>9} {:>11} {:<10} {:>8}  {:<24} {:<48} {} ({} + {}), {}; {}", format_duration(p.duration()),
           format_ms(p.begin), tl_.lanes[p.lane].label, p.task,
           clip(tl_.task_label(p.task), 24), clip(site ? site->short_where() : "(no spawn record)", 48), lp.io_waited(), lp.io_rescued,
           lp.io_after, lp.timers_rescued, preemption(p));
    }
    if (s_.long_polls.size() > n) line("  ... and {} more", s_.long_polls.size() - n);
  }

  void groups() {
    line("");
    line("Top task groups by busy time (by spawn site)");
    if (s_.groups.empty()) {
      line("  (no polls)");
      return;
    }
    line("  {:>9} {:>6} {:>7} {:>6} {:>9}  {}", "busy", "share", "polls", "tasks", "max poll", "spawn site");
    std::size_t n = std::min(s_.groups.size(), max_groups_listed);
    for (std::size_t i = 0; i < n; ++i) {
      const task_group& g = s_.groups[i];
      line("  {:>9} {:>5}% {:>7} {:>6} {:>9}  {}{}", format_duration(g.busy_ns), format_pct(g.busy_ns, s_.poll_ns),
           g.polls, g.tasks, format_duration(g.max_poll_ns), g.short_where,
           g.name.empty() ? std::string() : fmt::format(" \"{}\"", g.name));
    }
    if (s_.groups.size() > n) line("  ... and {} more groups", s_.groups.size() - n);
  }

  void warnings() {
    line("");
    if (s_.warnings.empty()) {
      line("No warnings");
      return;
    }
    line("Warnings ({})", s_.warnings.size());
    for (const warning& w : s_.warnings) line("  ! {}", w.text);
  }

  std::string& out_;
  const timeline& tl_;
  const summary& s_;
};

}  // namespace

void write_summary_text(std::string& out, const timeline& tl, const summary& s) { text_writer(out, tl, s).write(); }

}  // namespace weft_trace
