// `weft-trace summary --json`, and the "summary" part of the HTML report's
// data: the summary model as it is, times in ns since the trace start.
#include "outputs.hpp"

namespace weft_trace {
namespace {

void distribution_json(json_writer& w, std::string_view name, const distribution& d) {
  w.key(name).begin_object();
  w.field("count", d.count).field("mean_ns", d.mean).field("p50_ns", d.p50).field("p90_ns", d.p90);
  w.field("p99_ns", d.p99).field("max_ns", d.max);
  w.end_object();
}

}  // namespace

void write_summary_json(json_writer& w, const timeline& tl, const summary& s) {
  const trace_data& t = *tl.trace;
  w.begin_object();
  w.field("file", t.path).field("pid", t.header.pid).field("start_unix_ns", t.header.start_unix_ns);
  w.field("flight_recorder", t.header.flight_recorder()).field("workers", tl.workers);
  w.field("span_begin_ns", s.span_begin).field("span_end_ns", s.span_end).field("span_ns", s.span_ns());
  w.field("records", t.report.records).field("chunks", t.report.chunks).field("polls", s.polls);
  w.field("tasks", std::uint64_t(tl.tasks.size())).field("busy_ns", s.busy_ns).field("poll_ns", s.poll_ns);
  w.field("long_poll_ns", s.options.long_poll_ns);

  w.key("worker_stats").begin_array();
  for (const worker_summary& ws : s.workers) {
    w.begin_object();
    w.field("worker", ws.index).field("busy_ns", ws.busy_ns).field("busy_pct", ws.busy_pct);
    w.field("polls", ws.polls).field("poll_mean_ns", ws.poll_mean_ns).field("poll_p99_ns", ws.poll_p99_ns);
    w.field("parks", ws.parks).field("steal_ops", ws.steal_ops).field("stolen_tasks", ws.stolen_tasks);
    w.field("stolen_from_ops", ws.stolen_from_ops).field("stolen_from_tasks", ws.stolen_from_tasks);
    w.field("lifo_polls", ws.lifo_polls).field("lifo_pct", ws.lifo_pct).field("inject_pulls", ws.inject_pulls);
    w.field("io_polls_own", ws.io_polls_own).field("io_polls_rescue", ws.io_polls_rescue);
    w.field("max_queue_depth", ws.max_queue_depth);
    w.end_object();
  }
  w.end_array();

  w.key("blocking").begin_array();
  for (const blocking_summary& b : s.blocking)
    w.begin_object().field("thread", tl.lanes[b.lane].label).field("jobs", b.jobs).field("busy_ns", b.busy_ns).end_object();
  w.end_array();

  distribution_json(w, "poll_time", s.poll_time);
  distribution_json(w, "wake_to_poll", s.wake_to_poll);
  distribution_json(w, "spawn_to_poll", s.spawn_to_poll);

  w.key("histogram").begin_array();
  for (const histogram_bucket& b : s.histogram)
    w.begin_object().field("lo_ns", b.lo_ns).field("hi_ns", b.hi_ns).field("count", b.count).end_object();
  w.end_array();

  w.key("long_polls").begin_array();
  for (const long_poll& lp : s.long_polls) {
    const poll& p = tl.polls[lp.poll];
    const site_info* site = tl.site_of(p.task);
    w.begin_object();
    w.field("poll", lp.poll).field("thread", tl.lanes[p.lane].label).field("lane", p.lane);
    w.key("task").id(p.task);
    w.field("name", tl.task_label(p.task)).field("site", site ? site->where() : std::string());
    w.field("site_short", site ? site->short_where() : std::string());
    w.field("begin_ns", p.begin).field("duration_ns", p.duration()).field("outcome", outcome_name(p.outcome));
    w.field("io_waited", lp.io_waited()).field("io_rescued", lp.io_rescued).field("io_after", lp.io_after);
    w.field("timers_rescued", lp.timers_rescued);
    // null: not measured (FORMAT.md, "Preemption").
    if (p.switches == 0) w.key("involuntary_switches").raw("null");
    else w.field("involuntary_switches", std::uint64_t(p.switches - 1));
    w.end_object();
  }
  w.end_array();

  w.key("groups").begin_array();
  for (const task_group& g : s.groups) {
    w.begin_object();
    w.field("site", g.site).field("where", g.where).field("where_short", g.short_where).field("name", g.name);
    w.field("busy_ns", g.busy_ns);
    w.field("busy_pct", g.busy_pct).field("polls", g.polls).field("tasks", g.tasks);
    w.field("max_poll_ns", g.max_poll_ns);
    w.end_object();
  }
  w.end_array();

  w.key("inject").begin_object();
  w.field("max_depth", s.max_inject_depth).field("max_at_ns", s.max_inject_ts).field("samples", s.depth_samples);
  w.end_object();

  const decode_report& r = t.report;
  w.key("decode").begin_object();
  w.field("truncated", r.truncated).field("truncated_bytes", r.truncated_bytes);
  w.field("dropped_events", s.dropped_events).field("lost_chunks", s.lost_chunks);
  w.field("unknown_records", r.unknown_records).field("garbage_bytes", r.garbage_bytes);
  w.field("string_overruns", r.string_overruns).field("split_records", r.split_records);
  w.field("out_of_order_chunks", r.out_of_order_chunks);
  w.field("unmatched_poll_ends", tl.odd.unmatched_poll_ends).field("unclosed_polls", tl.odd.unclosed_polls);
  w.field("nested_polls", tl.odd.nested_polls).field("backward_times", r.backward_times);
  w.field("wakes_of_unknown_tasks", tl.odd.wakes_of_unknown_tasks);
  // Wakes made by a task (in a version 3 file often told by the open poll).
  std::uint64_t from_tasks = 0;
  for (const auto& wk : tl.wakes) from_tasks += wk.waker != 0;
  w.field("wakes_from_tasks", from_tasks);
  w.field("steals_of_unknown_tasks", tl.odd.steals_of_unknown_tasks);
  // Drops as chunk headers count them, and as `drops` records do (the
  // format has them; weft's tracer writes none, so that count is 0).
  std::uint64_t in_headers = 0, in_records = 0;
  for (const thread_stream& ts : t.threads) {
    in_headers += ts.dropped;
    in_records += ts.drop_records;
  }
  w.field("dropped_in_chunk_headers", in_headers).field("dropped_in_records", in_records);
  // How times were converted to ns (FORMAT.md, "Time").
  w.key("clock").begin_object();
  w.field("unit", t.clock.ticks ? "ticks" : "ns").field("sync_points", t.clock.sync_points);
  w.field("ticks_per_second", t.clock.ticks_per_second).field("uncalibrated", r.uncalibrated_clock);
  w.end_object();
  w.end_object();

  w.key("warnings").begin_array();
  for (const warning& wn : s.warnings) w.begin_object().field("kind", wn.kind).field("text", wn.text).end_object();
  w.end_array();
  w.end_object();
}

}  // namespace weft_trace
