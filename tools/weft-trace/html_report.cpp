// `weft-trace html`: one self-contained page (no network): the page, its CSS
// and script come from the *.inc files beside this one, the trace data is
// embedded as JSON in a <script type="application/json"> element.
//
// The data is columnar (one array per field) so that a few hundred thousand
// polls stay compact and load into typed arrays. Times are ns since `base`
// (the span's start). Lanes are the workers and blocking threads; the other
// threads run no polls, and a wake from one of them has lane -1.
#include <iterator>
#include <string_view>

#include <fmt/format.h>

#include "outputs.hpp"

namespace weft_trace {
namespace {

constexpr std::string_view page_template =
#include "report_page.html.inc"
    ;
constexpr std::string_view page_style =
#include "report_style.css.inc"
    ;
constexpr std::string_view page_script =
#include "report_script.js.inc"
    ;

// Writes `name: [f(0), f(1), ...]` for n items.
template <class F>
void column(std::string& out, std::string_view name, std::size_t n, F&& f, bool last = false) {
  out += '"';
  out += name;
  out += "\":[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    f(i);
  }
  out += last ? "]" : "],";
}

class data_writer {
 public:
  data_writer(std::string& out, const timeline& tl, const summary& s) : out_(out), tl_(tl), s_(s) {
    for (const lane& l : tl.lanes)
      if (l.id.kind != thread_kind::other) ++lanes_;
  }

  void write() {
    out_ += "{\"summary\":";
    json_writer w(out_, true);
    write_summary_json(w, tl_, s_);
    fmt::format_to(std::back_inserter(out_), ",\"base\":{},", s_.span_begin);
    lanes();
    groups();
    polls();
    wakes();
    steals();
    parks();
    io();
    jobs();
    out_ += '}';
  }

 private:
  void num(std::uint64_t v) { fmt::format_to(std::back_inserter(out_), "{}", v); }
  void time(std::uint64_t ts) {  // relative to base; negative before it
    fmt::format_to(std::back_inserter(out_), "{}", std::int64_t(ts - s_.span_begin));  // wraps, never overflows
  }
  std::int64_t html_lane(std::uint32_t lane) const { return lane < lanes_ ? std::int64_t(lane) : -1; }

  void lanes() {
    out_ += "\"lanes\":[";
    for (std::uint32_t l = 0; l < lanes_; ++l) {
      if (l) out_ += ',';
      json_writer w(out_, true);
      w.begin_object().field("label", tl_.lanes[l].label);
      w.field("kind", tl_.lanes[l].id.kind == thread_kind::worker ? "worker" : "blocking").end_object();
    }
    out_ += "],";
  }

  // Per group (same order as summary.groups): what to call its tasks.
  void groups() {
    out_ += "\"groups\":[";
    for (std::size_t g = 0; g < s_.groups.size(); ++g) {
      if (g) out_ += ',';
      std::string label;
      if (auto it = tl_.sites.find(s_.groups[g].site); it != tl_.sites.end())
        label = it->second.label();
      json_writer w(out_, true);
      w.begin_object().field("label", label).end_object();
    }
    out_ += "],";
  }

  void polls() {
    // Polls of the shown lanes are a prefix of tl.polls (sorted by lane).
    std::size_t n = 0;
    while (n < tl_.polls.size() && tl_.polls[n].lane < lanes_) ++n;
    const auto& p = tl_.polls;
    out_ += "\"polls\":{";
    column(out_, "lane", n, [&](std::size_t i) { num(p[i].lane); });
    column(out_, "begin", n, [&](std::size_t i) { time(p[i].begin); });
    column(out_, "dur", n, [&](std::size_t i) { num(p[i].duration()); });
    column(out_, "task", n, [&](std::size_t i) { append_json_id(out_, p[i].task); });
    column(out_, "group", n, [&](std::size_t i) { num(s_.group_of_task(tl_, p[i].task)); });
    column(out_, "info", n, [&](std::size_t i) {
      num(std::uint64_t(p[i].source & 15) | std::uint64_t(p[i].outcome & 15) << 4 | std::uint64_t(p[i].wait) << 8);
    }, true);
    out_ += "},";
    shown_polls_ = n;
  }

  void wakes() {
    std::vector<const wake_event*> bound;
    for (const wake_event& w : tl_.wakes)
      if (w.poll != none && std::size_t(w.poll) < shown_polls_) bound.push_back(&w);
    out_ += "\"wakes\":{";
    column(out_, "poll", bound.size(), [&](std::size_t i) { num(std::uint64_t(bound[i]->poll)); });
    column(out_, "lane", bound.size(), [&](std::size_t i) {
      fmt::format_to(std::back_inserter(out_), "{}", html_lane(bound[i]->lane));
    });
    column(out_, "ts", bound.size(), [&](std::size_t i) { time(bound[i]->ts); }, true);
    out_ += "},";
  }

  void steals() {
    const auto& st = tl_.steals;
    out_ += "\"steals\":{";
    column(out_, "lane", st.size(), [&](std::size_t i) { num(st[i].lane); });
    column(out_, "ts", st.size(), [&](std::size_t i) { time(st[i].ts); });
    column(out_, "victim", st.size(), [&](std::size_t i) { num(st[i].victim); });
    column(out_, "tasks", st.size(), [&](std::size_t i) { num(st[i].tasks); });
    column(out_, "task", st.size(), [&](std::size_t i) { append_json_id(out_, st[i].first_task); });
    column(out_, "poll", st.size(), [&](std::size_t i) {
      fmt::format_to(std::back_inserter(out_), "{}", st[i].poll < std::int64_t(shown_polls_) ? st[i].poll : none);
    }, true);
    out_ += "},";
  }

  void parks() {
    const auto& pk = tl_.parks;
    out_ += "\"parks\":{";
    column(out_, "lane", pk.size(), [&](std::size_t i) { num(pk[i].lane); });
    column(out_, "begin", pk.size(), [&](std::size_t i) { time(pk[i].begin); });
    column(out_, "end", pk.size(), [&](std::size_t i) { time(pk[i].end); });
    column(out_, "why", pk.size(), [&](std::size_t i) { num(pk[i].arg); }, true);
    out_ += "},";
  }

  void io() {
    const auto& io = tl_.io_polls;
    out_ += "\"io\":{";
    column(out_, "lane", io.size(), [&](std::size_t i) { num(io[i].lane); });
    column(out_, "end", io.size(), [&](std::size_t i) { time(io[i].end); });
    column(out_, "dur", io.size(), [&](std::size_t i) { num(io[i].duration); });
    column(out_, "handlers", io.size(), [&](std::size_t i) { num(io[i].handlers); });
    column(out_, "rescue", io.size(), [&](std::size_t i) { num(io[i].rescue ? 1 : 0); });
    column(out_, "reactor", io.size(), [&](std::size_t i) { num(io[i].reactor); }, true);
    out_ += "},";
  }

  void jobs() {
    const auto& j = tl_.blocking_jobs;
    out_ += "\"jobs\":{";
    column(out_, "lane", j.size(), [&](std::size_t i) { num(j[i].lane); });
    column(out_, "begin", j.size(), [&](std::size_t i) { time(j[i].begin); });
    column(out_, "end", j.size(), [&](std::size_t i) { time(j[i].end); });
    column(out_, "task", j.size(), [&](std::size_t i) { append_json_id(out_, j[i].arg); });
    column(out_, "group", j.size(), [&](std::size_t i) { num(s_.group_of_task(tl_, j[i].arg)); }, true);
    out_ += '}';
  }

  std::string& out_;
  const timeline& tl_;
  const summary& s_;
  std::uint32_t lanes_ = 0;
  std::size_t shown_polls_ = 0;
};

void append_html_text(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
}

}  // namespace

void write_html_report(std::string& out, const timeline& tl, const summary& s) {
  // The template's placeholders, in the order they appear in it.
  std::string_view rest = page_template;
  auto copy_until = [&](std::string_view marker) {
    std::size_t at = rest.find(marker);
    out += rest.substr(0, at);
    rest = at == std::string_view::npos ? std::string_view() : rest.substr(at + marker.size());
  };
  copy_until("@TITLE@");
  append_html_text(out, "weft-trace: " + tl.trace->path);
  copy_until("@STYLE@");
  out += page_style;
  copy_until("@DATA@");
  data_writer(out, tl, s).write();
  copy_until("@SCRIPT@");
  out += page_script;
  out += rest;
}

}  // namespace weft_trace
