#include "summary.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include <fmt/format.h>

#include "units.hpp"

namespace weft_trace {

std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = std::size_t(std::ceil(p / 100.0 * double(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

std::uint32_t summary::group_of_task(const timeline& tl, std::uint64_t task) const {
  const task_info* t = tl.task(task);
  auto it = group_of_site.find(t ? t->site : 0);
  return it == group_of_site.end() ? 0 : it->second;
}

namespace {

distribution describe(std::vector<std::uint64_t> values) {
  distribution d;
  std::sort(values.begin(), values.end());
  d.count = values.size();
  if (values.empty()) return d;
  double total = 0;
  for (std::uint64_t v : values) total += double(v);
  d.mean = total / double(values.size());
  d.p50 = percentile(values, 50);
  d.p90 = percentile(values, 90);
  d.p99 = percentile(values, 99);
  d.max = values.back();
  return d;
}

std::uint64_t overlap(std::uint64_t b, std::uint64_t e, std::uint64_t lo, std::uint64_t hi) {
  b = std::max(b, lo);
  e = std::min(e, hi);
  return e > b ? e - b : 0;
}

class summarizer {
 public:
  summarizer(const timeline& tl, const summary_options& o) : tl_(tl) { s_.options = o; }

  summary run() {
    find_span();
    workers();
    latencies();
    groups();
    long_polls();
    depths();
    warnings();
    return std::move(s_);
  }

 private:
  void find_span() {
    s_.span_begin = tl_.first_ts;
    s_.span_end = tl_.last_ts;
    const trace_data& trace = *tl_.trace;
    if (!trace.header.flight_recorder()) return;
    // Each worker's retained window began at its own time: count from where
    // they are all whole. A dump says where that is for each worker that
    // lost chunks (an idle one may have lost only old ones); for an older
    // dump, which does not, a worker's first record has to do.
    for (const thread_stream& t : trace.threads) {
      if (t.id.kind != thread_kind::worker) continue;
      std::uint64_t from = 0;
      if (trace.lists_trims) {
        if (auto it = trace.whole_from.find(t.id); it != trace.whole_from.end()) from = it->second;
      } else if (!t.records.empty()) {
        from = t.records.front().ts;
      }
      s_.span_begin = std::max(s_.span_begin, std::min(from, s_.span_end));
    }
  }

  void workers() {
    s_.workers.resize(tl_.workers);
    std::vector<std::vector<std::uint64_t>> durations(tl_.workers);
    for (std::uint32_t w = 0; w < tl_.workers; ++w) s_.workers[w].index = w;
    std::vector<std::uint64_t> all;
    all.reserve(tl_.polls.size());
    for (const poll& p : tl_.polls) {
      all.push_back(p.duration());
      std::uint64_t busy = overlap(p.begin, p.end, s_.span_begin, s_.span_end);
      s_.busy_ns += busy;
      ++s_.polls;
      if (p.lane >= tl_.workers) continue;
      worker_summary& w = s_.workers[p.lane];
      ++w.polls;
      w.busy_ns += busy;
      durations[p.lane].push_back(p.duration());
      if (p.source == 0) ++w.lifo_polls;
      if (p.source == 2) ++w.inject_pulls;
    }
    for (std::uint32_t i = 0; i < tl_.workers; ++i) {
      worker_summary& w = s_.workers[i];
      distribution d = describe(std::move(durations[i]));
      w.poll_mean_ns = d.mean;
      w.poll_p99_ns = d.p99;
      w.busy_pct = pct(w.busy_ns, s_.span_ns());
      w.lifo_pct = pct(w.lifo_polls, w.polls);
    }
    for (const span& p : tl_.parks)
      if (p.lane < tl_.workers) ++s_.workers[p.lane].parks;
    for (const steal_event& st : tl_.steals) {
      if (st.lane < tl_.workers) {
        ++s_.workers[st.lane].steal_ops;
        s_.workers[st.lane].stolen_tasks += st.tasks;
      }
      if (st.victim < tl_.workers) {
        ++s_.workers[st.victim].stolen_from_ops;
        s_.workers[st.victim].stolen_from_tasks += st.tasks;
      }
    }
    for (const io_poll_event& io : tl_.io_polls) {
      if (io.lane >= tl_.workers) continue;
      if (io.rescue)
        ++s_.workers[io.lane].io_polls_rescue;
      else
        ++s_.workers[io.lane].io_polls_own;
    }
    for (const depth_sample& d : tl_.depths)
      if (d.lane < tl_.workers)
        s_.workers[d.lane].max_queue_depth = std::max<std::uint64_t>(s_.workers[d.lane].max_queue_depth, d.local);
    for (const span& job : tl_.blocking_jobs) {
      auto it = std::find_if(s_.blocking.begin(), s_.blocking.end(),
                             [&](const blocking_summary& b) { return b.lane == job.lane; });
      if (it == s_.blocking.end()) it = s_.blocking.insert(s_.blocking.end(), blocking_summary{job.lane, 0, 0});
      ++it->jobs;
      it->busy_ns += job.end - job.begin;
    }
    s_.poll_time = describe(all);
    histogram(all);
  }

  void histogram(const std::vector<std::uint64_t>& durations) {
    if (durations.empty()) return;
    // Bucket k holds [2^k, 2^(k+1)) ns; a zero duration goes with 1ns.
    std::vector<std::uint64_t> counts(64, 0);
    int lo = 63, hi = 0;
    for (std::uint64_t d : durations) {
      int k = d <= 1 ? 0 : 63 - __builtin_clzll(d);
      ++counts[std::size_t(k)];
      lo = std::min(lo, k);
      hi = std::max(hi, k);
    }
    for (int k = lo; k <= hi; ++k)
      s_.histogram.push_back({k == 0 ? 0 : std::uint64_t(1) << k,
                              k == 63 ? ~std::uint64_t(0) : std::uint64_t(1) << (k + 1), counts[std::size_t(k)]});
  }

  void latencies() {
    std::vector<std::uint64_t> wake, spawn;
    for (const wake_event& w : tl_.wakes) {
      if (w.poll == none) continue;
      std::uint64_t begin = tl_.polls[std::size_t(w.poll)].begin;
      wake.push_back(begin - w.ts);  // begin >= ts by construction of the binding
    }
    for (const auto& [id, t] : tl_.tasks) {
      if (!t.spawned || t.polls.empty()) continue;
      std::uint64_t first = tl_.polls[t.polls.front()].begin;
      if (first >= t.spawn_ts) spawn.push_back(first - t.spawn_ts);
    }
    s_.wake_to_poll = describe(std::move(wake));
    s_.spawn_to_poll = describe(std::move(spawn));
  }

  // Tasks are grouped by where they were spawned: file, line, function and
  // name. Each recording thread defines its own site ids, so one spawn site
  // can have several ids; they make one group.
  void groups() {
    auto key_of = [&](std::uint32_t site) -> std::string {
      if (site == 0) return {};
      auto it = tl_.sites.find(site);
      if (it == tl_.sites.end() || !it->second.defined) return fmt::format("#{}", site);
      return it->second.where() + '\0' + it->second.name;
    };
    std::unordered_map<std::string, task_group> by_key;
    std::unordered_map<std::string, std::unordered_set<std::uint64_t>> tasks;
    std::unordered_map<std::uint32_t, std::string> key_of_site;
    for (const poll& p : tl_.polls) {
      const task_info* t = tl_.task(p.task);
      std::uint32_t site = t ? t->site : 0;
      auto [k, fresh] = key_of_site.try_emplace(site);
      if (fresh) k->second = key_of(site);
      task_group& g = by_key[k->second];
      if (g.polls == 0) g.site = site;
      g.busy_ns += p.duration();
      ++g.polls;
      g.max_poll_ns = std::max(g.max_poll_ns, p.duration());
      tasks[k->second].insert(p.task);
    }
    std::uint64_t total = 0;
    for (auto& [key, g] : by_key) {
      g.tasks = tasks[key].size();
      total += g.busy_ns;
      if (g.site == 0) {
        g.where = "(no spawn record)";
        g.short_where = g.where;
      } else if (auto it = tl_.sites.find(g.site); it != tl_.sites.end()) {
        g.where = it->second.where();
        g.short_where = it->second.short_where();
        g.name = it->second.name;
      } else {
        g.where = g.short_where = fmt::format("site #{}", g.site);
      }
      s_.groups.push_back(std::move(g));
    }
    s_.poll_ns = total;
    for (task_group& g : s_.groups) g.busy_pct = pct(g.busy_ns, total);
    std::sort(s_.groups.begin(), s_.groups.end(), [](const task_group& a, const task_group& b) {
      if (a.busy_ns != b.busy_ns) return a.busy_ns > b.busy_ns;
      return a.where != b.where ? a.where < b.where : a.name < b.name;
    });
    std::unordered_map<std::string, std::uint32_t> index;
    for (std::uint32_t i = 0; i < s_.groups.size(); ++i)
      index[key_of(s_.groups[i].site)] = i;
    for (const auto& [site, key] : key_of_site) s_.group_of_site[site] = index[key];
  }

  void long_polls() {
    // Per reactor, its polls ordered by end time; per lane, its timer fires.
    std::vector<std::vector<const io_poll_event*>> by_reactor(tl_.workers);
    for (const io_poll_event& io : tl_.io_polls)
      if (io.reactor < tl_.workers) by_reactor[io.reactor].push_back(&io);
    for (auto& v : by_reactor)
      std::stable_sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->end < b->end; });
    std::vector<std::vector<std::uint64_t>> timers(tl_.lanes.size());
    for (const instant& i : tl_.instants)
      if (i.type == rec::timer_fire) timers[i.lane].push_back(i.ts);
    for (auto& v : timers) std::sort(v.begin(), v.end());

    for (std::uint32_t i = 0; i < tl_.polls.size(); ++i) {
      const poll& p = tl_.polls[i];
      if (p.duration() <= s_.options.long_poll_ns) continue;
      long_poll lp;
      lp.poll = i;
      if (p.lane < tl_.workers) {
        const auto& ios = by_reactor[p.lane];
        auto it = std::upper_bound(ios.begin(), ios.end(), p.begin,
                                   [](std::uint64_t t, const io_poll_event* io) { return t < io->end; });
        for (; it != ios.end() && (*it)->end <= p.end; ++it) {
          if ((*it)->lane == p.lane) continue;  // cannot happen: the worker was inside the poll
          lp.io_rescued += (*it)->handlers;
          const auto& ts = timers[(*it)->lane];
          lp.timers_rescued += std::size_t(std::upper_bound(ts.begin(), ts.end(), (*it)->end) -
                                           std::lower_bound(ts.begin(), ts.end(), (*it)->begin()));
        }
        if (it != ios.end()) lp.io_after = (*it)->handlers;
      }
      s_.long_polls.push_back(lp);
    }
    std::stable_sort(s_.long_polls.begin(), s_.long_polls.end(), [&](const long_poll& a, const long_poll& b) {
      return tl_.polls[a.poll].duration() > tl_.polls[b.poll].duration();
    });
  }

  void depths() {
    for (const depth_sample& d : tl_.depths) {
      ++s_.depth_samples;
      if (d.inject > s_.max_inject_depth) {
        s_.max_inject_depth = d.inject;
        s_.max_inject_ts = d.ts;
      }
    }
  }

  void warn(std::string kind, std::string text) { s_.warnings.push_back({std::move(kind), std::move(text)}); }

  void warnings() {
    const trace_data& t = *tl_.trace;
    const decode_report& r = t.report;
    if (r.truncated) {
      if (r.truncated_in_header)
        warn("truncated", fmt::format("file truncated: it ends inside a chunk header ({} stray bytes ignored)",
                                      r.truncated_bytes));
      else
        warn("truncated", fmt::format("file truncated: the last chunk ({}) lacks {} bytes; its complete records "
                                      "were read",
                                      lane_name(r.truncated_thread), r.truncated_bytes));
    }
    for (const thread_stream& s : t.threads) {
      std::uint64_t dropped = std::max(s.dropped, s.drop_records);
      s_.dropped_events += dropped;
      s_.lost_chunks += s.lost_chunks;
      if (dropped)
        warn("dropped", fmt::format("{} dropped {} events (its trace buffers were full)", lane_name(s.id), dropped));
      if (s.lost_chunks)
        warn("lost_chunks", fmt::format("{} lost {} chunk{} (gap in chunk sequence numbers)", lane_name(s.id),
                                        s.lost_chunks, s.lost_chunks == 1 ? "" : "s"));
    }
    if (r.unknown_records)
      warn("unknown_records", fmt::format("skipped {} records of unknown type", r.unknown_records));
    if (r.garbage_runs)
      warn("garbage", fmt::format("skipped {} bytes that were no chunk ({} place{})", r.garbage_bytes, r.garbage_runs,
                                  r.garbage_runs == 1 ? "" : "s"));
    if (r.string_overruns)
      warn("string_overrun", fmt::format("{} chunk{} cut short: a string record ran past the chunk's end",
                                         r.string_overruns, r.string_overruns == 1 ? "" : "s"));
    if (r.split_records)
      warn("split_record", fmt::format("{} chunk{} cut short: a two-slot record ran past the chunk's end",
                                       r.split_records, r.split_records == 1 ? "" : "s"));
    if (r.backward_times)
      warn("backward_times", fmt::format("{} record{} earlier than the one before them on their thread (a damaged "
                                         "time or time base)",
                                         r.backward_times, r.backward_times == 1 ? "" : "s"));
    if (r.out_of_order_chunks)
      warn("out_of_order", fmt::format("{} chunks out of sequence order", r.out_of_order_chunks));
    if (r.uncalibrated_clock)
      warn("clock", "the trace counts CPU ticks but holds no sync point or rate to convert them: times and "
                    "durations are in ticks, shown as ns");
    if (tl_.odd.unmatched_poll_ends || tl_.odd.unclosed_polls) {
      std::string text;
      if (tl_.odd.unmatched_poll_ends)
        text = fmt::format("{} poll end{} without a begin", tl_.odd.unmatched_poll_ends,
                           tl_.odd.unmatched_poll_ends == 1 ? "" : "s");
      if (tl_.odd.unclosed_polls)
        text += fmt::format("{}{} poll{} without an end", text.empty() ? "" : ", ", tl_.odd.unclosed_polls,
                            tl_.odd.unclosed_polls == 1 ? "" : "s");
      warn("unmatched_polls", text + " (ignored)");
    }

    never_yields();

    if (s_.workers.size() >= 2 && s_.span_ns() > 0) {
      auto [lo, hi] = std::minmax_element(s_.workers.begin(), s_.workers.end(),
                                          [](const worker_summary& a, const worker_summary& b) {
                                            return a.busy_pct < b.busy_pct;
                                          });
      if (hi->busy_pct - lo->busy_pct > imbalance_warn_points)
        warn("imbalance", fmt::format("worker imbalance: worker {} was busy {}% of the time, worker {} only {}%",
                                      hi->index, format_pct(hi->busy_ns, s_.span_ns()), lo->index,
                                      format_pct(lo->busy_ns, s_.span_ns())));
    }
    if (s_.max_inject_depth >= inject_warn_depth) {
      std::uint64_t above = 0;
      for (const depth_sample& d : tl_.depths) above += d.inject >= inject_warn_depth;
      warn("inject_buildup", fmt::format("inject queue build-up: {} tasks waiting at {} ({} of {} samples at {} "
                                         "or more)",
                                         s_.max_inject_depth, format_ms(s_.max_inject_ts), above,
                                         s_.depth_samples, inject_warn_depth));
    }
  }

  // A long poll is a task that did not yield: one line per task, worst first.
  // A poll whose thread the OS preempted meanwhile says so: its time may
  // include waiting for a CPU (the count does not tell how much), and a
  // line before them counts such polls.
  void never_yields() {
    std::unordered_set<std::uint64_t> seen;
    std::vector<const long_poll*> worst;
    std::size_t preempted = 0;
    for (const long_poll& lp : s_.long_polls) {
      preempted += tl_.polls[lp.poll].preempted();
      if (seen.insert(tl_.polls[lp.poll].task).second) worst.push_back(&lp);
    }
    if (preempted > 0)
      warn("preempted", fmt::format("{} of {} long polls over {} overlapped the OS preempting their worker's thread "
                                    "(CPU contention): their times include waiting for a CPU",
                                    preempted, s_.long_polls.size(), format_duration(s_.options.long_poll_ns)));
    for (std::size_t i = 0; i < worst.size() && i < max_listed; ++i) {
      const poll& p = tl_.polls[worst[i]->poll];
      const site_info* site = tl_.site_of(p.task);
      std::string text = fmt::format("task {} \"{}\" ({}) ran {} without yielding on {}", p.task,
                                     tl_.task_label(p.task), site ? site->short_where() : "no spawn record",
                                     format_duration(p.duration()), tl_.lanes[p.lane].label);
      if (worst[i]->io_waited())
        text += fmt::format("; {} I/O handlers on its reactor waited", worst[i]->io_waited());
      if (p.preempted())
        text += fmt::format("; the OS preempted its thread {} time{} in or just before it, so part of that may be "
                            "waiting for a CPU",
                            p.switches - 1, p.switches == 2 ? "" : "s");
      warn("never_yields", std::move(text));
    }
    if (worst.size() > max_listed)
      warn("never_yields", fmt::format("... and {} more tasks with polls over {}", worst.size() - max_listed,
                                       format_duration(s_.options.long_poll_ns)));
  }

  std::string lane_name(thread_id id) const {
    for (const lane& l : tl_.lanes)
      if (l.id == id) return l.label;
    return "a thread";
  }

  const timeline& tl_;
  summary s_;
};

}  // namespace

summary summarize(const timeline& tl, const summary_options& options) { return summarizer(tl, options).run(); }

}  // namespace weft_trace
