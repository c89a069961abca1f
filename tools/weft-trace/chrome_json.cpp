// `weft-trace chrome`: the Chrome Trace Event format ("traceEvents" array),
// which Perfetto (ui.perfetto.dev) and chrome://tracing open.
//
// One track per lane (tid = lane + 1). A poll is a complete event ("X"). A wake is a
// flow from the waker's track to the woken task's next poll, a steal a flow
// from the victim's track to the thief's poll of the stolen task. Both
// viewers bind a flow event to the slice enclosing it on its track, and sort
// events by time without a promise for equal times; so each flow end sits
// 1 ns inside its poll, and a flow start that no poll encloses (a wake from
// a reactor handler or a foreign thread; a victim that was not polling)
// gets a 2 ns slice of its own around it.
#include <algorithm>
#include <iterator>

#include <fmt/format.h>

#include "outputs.hpp"
#include "units.hpp"

namespace weft_trace {
namespace {

class chrome_writer {
 public:
  chrome_writer(std::string& out, const timeline& tl, const summary& s, const time_window& w)
      : out_(out), tl_(tl), s_(s), window_(w) {
    pid_ = tl.trace->header.pid ? tl.trace->header.pid : 1;
    // Where each lane's polls start in tl.polls (sorted by lane, then begin).
    lane_first_.assign(tl.lanes.size() + 1, tl.polls.size());
    for (std::size_t i = tl.polls.size(); i-- > 0;) lane_first_[tl.polls[i].lane] = i;
    for (std::size_t l = tl.lanes.size(); l-- > 0;) lane_first_[l] = std::min(lane_first_[l], lane_first_[l + 1]);
  }

  void write() {
    out_ += "{\"traceEvents\":[\n";
    metadata();
    polls();
    others();
    out_ += "\n],\"displayTimeUnit\":\"ms\",\"otherData\":";
    json_writer w(out_);
    w.begin_object().field("tool", "weft-trace").field("file", tl_.trace->path);
    w.field("long_poll_ns", s_.options.long_poll_ns);
    w.key("warnings").begin_array();
    for (const warning& wn : s_.warnings) w.value(wn.text);
    w.end_array().end_object();
    out_ += "}\n";
  }

 private:
  // Starts an event object: {"ph":"X","ts":...,"pid":...,"tid":...
  void begin(char ph, std::uint64_t ts, std::uint32_t lane) {
    if (events_++) out_ += ",\n";
    fmt::format_to(std::back_inserter(out_), "{{\"ph\":\"{}\",\"ts\":{}.{:03},\"pid\":{},\"tid\":{}", ph, ts / 1000,
                   ts % 1000, pid_, lane + 1);  // tid 0 means "no thread" to some viewers
  }
  void name(std::string_view n) {
    out_ += ",\"name\":";
    append_json_string(out_, n);
  }
  void dur(std::uint64_t ns) { fmt::format_to(std::back_inserter(out_), ",\"dur\":{}.{:03}", ns / 1000, ns % 1000); }

  void metadata() {
    begin('M', 0, 0);
    name("process_name");
    out_ += ",\"args\":{\"name\":";
    append_json_string(out_, fmt::format("weft (pid {})", tl_.trace->header.pid));
    out_ += "}}";
    for (std::uint32_t l = 0; l < tl_.lanes.size(); ++l) {
      begin('M', 0, l);
      name("thread_name");
      out_ += ",\"args\":{\"name\":";
      append_json_string(out_, tl_.lanes[l].label);
      out_ += "}}";
      begin('M', 0, l);
      name("thread_sort_index");
      fmt::format_to(std::back_inserter(out_), ",\"args\":{{\"sort_index\":{}}}}}", l);
    }
  }

  // The poll on `lane` running at `ts`, if any.
  const poll* poll_at(std::uint32_t lane, std::uint64_t ts) const {
    auto first = tl_.polls.begin() + std::ptrdiff_t(lane_first_[lane]);
    auto last = tl_.polls.begin() + std::ptrdiff_t(lane_first_[lane + 1]);
    auto it = std::upper_bound(first, last, ts, [](std::uint64_t t, const poll& p) { return t < p.begin; });
    if (it == first) return nullptr;
    --it;
    return ts <= it->end ? &*it : nullptr;
  }

  bool shown(const poll& p) const { return window_.overlaps(p.begin, p.end); }

  void polls() {
    for (std::size_t i = 0; i < tl_.polls.size(); ++i) {
      const poll& p = tl_.polls[i];
      if (!shown(p)) continue;
      if (p.wake != none) wake_flow(tl_.wakes[std::size_t(p.wake)], std::size_t(p.wake));
      if (p.steal != none) steal_flow(tl_.steals[std::size_t(p.steal)], std::size_t(p.steal));
      begin('X', p.begin, p.lane);
      dur(p.duration());
      name(tl_.task_label(p.task));
      out_ += p.duration() > s_.options.long_poll_ns ? ",\"cat\":\"poll,long\"" : ",\"cat\":\"poll\"";
      out_ += ",\"args\":{\"task\":";
      append_json_id(out_, p.task);
      if (const site_info* site = tl_.site_of(p.task)) {
        out_ += ",\"site\":";
        append_json_string(out_, site->where());
      }
      fmt::format_to(std::back_inserter(out_), ",\"source\":\"{}\",\"outcome\":\"{}\"", source_name(p.source),
                     outcome_name(p.outcome));
      if (p.outcome == 1 || p.wait == 9) fmt::format_to(std::back_inserter(out_), ",\"wait\":\"{}\"", wait_name(p.wait));
      out_ += "}}";
    }
  }

  // The flow's start (and, if nothing encloses it, the slice it starts from)
  // and its end.
  void wake_flow(const wake_event& w, std::size_t id) {
    if (!window_.contains(w.ts)) return;
    std::uint64_t ts = flow_start(w.ts, w.lane);
    if (ts == anchored) {
      ts = w.ts;
      anchor(ts, w.lane);
      name(fmt::format("wake {}", tl_.task_label(w.task)));
      out_ += ",\"cat\":\"wake\",\"args\":{\"task\":";
      append_json_id(out_, w.task);
      out_ += "}}";
    }
    flow(ts, w.lane, tl_.polls[std::size_t(w.poll)], "wake", id);
  }

  void steal_flow(const steal_event& st, std::size_t id) {
    if (!window_.contains(st.ts) || st.victim >= tl_.workers) return;
    std::uint64_t ts = flow_start(st.ts, st.victim);
    if (ts == anchored) {
      ts = st.ts;
      anchor(ts, st.victim);
      name(fmt::format("robbed by worker {}", st.lane));
      fmt::format_to(std::back_inserter(out_), ",\"cat\":\"steal\",\"args\":{{\"tasks\":{}}}}}", st.tasks);
    }
    flow(ts, st.victim, tl_.polls[std::size_t(st.poll)], "steal", id);
  }

  // Where a flow from `ts` on `lane` starts: inside the poll running then,
  // at least 1 ns from its ends; `anchored` if no poll was running.
  static constexpr std::uint64_t anchored = ~std::uint64_t(0);
  std::uint64_t flow_start(std::uint64_t ts, std::uint32_t lane) const {
    const poll* p = poll_at(lane, ts);
    if (!p) return anchored;
    if (p->duration() < 2) return p->begin;
    return std::clamp(ts, p->begin + 1, p->end - 1);
  }

  // A 2 ns slice around `ts` for a flow to start from.
  void anchor(std::uint64_t ts, std::uint32_t lane) {
    begin('X', ts == 0 ? 0 : ts - 1, lane);
    dur(2);
  }

  void flow(std::uint64_t ts, std::uint32_t from_lane, const poll& to, const char* cat, std::size_t id) {
    begin('s', ts, from_lane);
    name(cat);
    fmt::format_to(std::back_inserter(out_), ",\"cat\":\"{}\",\"id\":{}}}", cat, id + 1);
    begin('f', to.begin + (to.duration() >= 2 ? 1 : 0), to.lane);
    name(cat);
    fmt::format_to(std::back_inserter(out_), ",\"cat\":\"{}\",\"id\":{},\"bp\":\"e\"}}", cat, id + 1);
  }

  void mark(std::uint64_t ts, std::uint32_t lane, std::string_view n) {
    begin('i', ts, lane);
    name(n);
    out_ += ",\"s\":\"t\"";
  }

  void others() {
    for (const instant& i : tl_.instants) {
      if (!window_.contains(i.ts)) continue;
      switch (i.type) {
        case rec::park:
          mark(i.ts, i.lane, "park");
          out_ += "}";
          break;
        case rec::unpark:
          mark(i.ts, i.lane, "unpark");
          fmt::format_to(std::back_inserter(out_), ",\"args\":{{\"why\":\"{}\"}}}}", unpark_name(i.a8));
          break;
        case rec::timer_fire:
          mark(i.ts, i.lane, "timer fired");
          out_ += ",\"args\":{\"task\":";
          append_json_id(out_, i.x);
          out_ += "}}";
          break;
        default:
          break;
      }
    }
    for (const io_poll_event& io : tl_.io_polls) {
      if (!window_.contains(io.end)) continue;
      mark(io.end, io.lane, io.rescue ? "io poll (rescue)" : "io poll");
      fmt::format_to(std::back_inserter(out_),
                     ",\"args\":{{\"handlers\":{},\"reactor\":{},\"rescue\":{},\"duration_us\":{}.{:03}}}}}",
                     io.handlers, io.reactor, io.rescue, io.duration / 1000, io.duration % 1000);
    }
    for (const steal_event& st : tl_.steals) {
      if (!window_.contains(st.ts)) continue;
      mark(st.ts, st.lane, "steal");
      fmt::format_to(std::back_inserter(out_), ",\"args\":{{\"victim\":{},\"tasks\":{},\"first_task\":", st.victim,
                     st.tasks);
      append_json_id(out_, st.first_task);
      out_ += "}}";
    }
    for (const span& job : tl_.blocking_jobs) {
      if (!window_.overlaps(job.begin, job.end)) continue;
      begin('X', job.begin, job.lane);
      dur(job.end - job.begin);
      name(fmt::format("blocking job of {}", tl_.task_label(job.arg)));
      out_ += ",\"cat\":\"blocking\",\"args\":{\"task\":";
      append_json_id(out_, job.arg);
      out_ += "}}";
    }
    for (const depth_sample& d : tl_.depths) {
      if (!window_.contains(d.ts)) continue;
      begin('C', d.ts, d.lane);
      name(fmt::format("run queue {}", tl_.lanes[d.lane].label));
      fmt::format_to(std::back_inserter(out_), ",\"args\":{{\"depth\":{}}}}}", d.local);
      begin('C', d.ts, d.lane);
      name("inject queue");
      fmt::format_to(std::back_inserter(out_), ",\"args\":{{\"depth\":{}}}}}", d.inject);
    }
  }

  std::string& out_;
  const timeline& tl_;
  const summary& s_;
  time_window window_;
  std::uint64_t pid_ = 1;
  std::uint64_t events_ = 0;
  std::vector<std::size_t> lane_first_;
};

}  // namespace

void write_chrome_json(std::string& out, const timeline& tl, const summary& s, const time_window& window) {
  chrome_writer(out, tl, s, window).write();
}

}  // namespace weft_trace
