#include "timeline.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <limits>

#include <fmt/format.h>

namespace weft_trace {

std::string site_info::where() const {
  if (!defined) return fmt::format("site #{}", id);
  std::string s = file.empty() ? std::string("?") : file;
  if (line != 0) s += fmt::format(":{}", line);
  if (!function.empty()) {
    s += ' ';
    s += function;
  }
  return s;
}

std::string site_info::short_where() const {
  if (!defined) return where();
  std::string s = file.empty() ? std::string("?") : file;
  if (line != 0) s += fmt::format(":{}", line);
  if (!function.empty()) {
    s += ' ';
    s += short_function(function);
  }
  return s;
}

std::string short_function(std::string_view function) {
  std::string f(function);
  for (std::string_view anon : {"{anonymous}::", "(anonymous namespace)::"})
    for (std::size_t at; (at = f.find(anon)) != std::string::npos;) f.erase(at, anon.size());
  // The name ends at the first '(' outside template brackets; the return
  // type, at the last space before it outside them. An operator's own
  // characters ("operator()", "operator<<", "operator bool") are part of
  // the name.
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  int angle = 0;
  std::size_t end = f.size(), start = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if (angle == 0 && f.compare(i, 8, "operator") == 0 && (i == 0 || !ident(f[i - 1])) &&
        (i + 8 == f.size() || !ident(f[i + 8]))) {
      std::size_t j = i + 8;
      if (j < f.size() && f[j] == ' ') {
        ++j;  // "operator bool", "operator new": the name follows
      } else if (f.compare(j, 2, "()") == 0) {
        j += 2;
      } else {
        while (j < f.size() && std::string_view("<>=!+-*/%^&|~,[]").find(f[j]) != std::string_view::npos) ++j;
      }
      i = j - 1;
    } else if (c == '<') {
      ++angle;
    } else if (c == '>' && angle > 0) {
      --angle;
    } else if (angle == 0 && c == ' ') {
      start = i + 1;
    } else if (angle == 0 && c == '(') {
      end = i;
      break;
    }
  }
  if (start >= end) return f;
  return f.substr(start, end - start);
}

const task_info* timeline::task(std::uint64_t id) const {
  auto it = tasks.find(id);
  return it == tasks.end() ? nullptr : &it->second;
}

const site_info* timeline::site_of(std::uint64_t task_id) const {
  const task_info* t = task(task_id);
  if (!t || t->site == 0) return nullptr;
  auto it = sites.find(t->site);
  return it == sites.end() ? nullptr : &it->second;
}

std::string site_info::label() const {
  if (!name.empty()) return name;
  if (!function.empty()) return fmt::format("task spawned in {}", short_function(function));
  return {};
}

std::string timeline::task_label(std::uint64_t task_id) const {
  if (const site_info* s = site_of(task_id))
    if (std::string l = s->label(); !l.empty()) return l;
  return fmt::format("task {}", task_id);
}

const char* source_name(std::uint8_t source) {
  static const char* const names[] = {"LIFO slot", "local queue", "inject queue", "stolen", "other"};
  return source < std::size(names) ? names[source] : "?";
}

const char* outcome_name(std::uint8_t outcome) {
  static const char* const names[] = {"yielded", "blocked", "finished", "cancelled", "threw"};
  return outcome < std::size(names) ? names[outcome] : "?";
}

const char* wait_name(std::uint16_t wait) {
  static const char* const names[] = {"other",    "timer", "channel", "mutex",         "net read",
                                      "net write", "accept", "join",   "blocking job", "yield"};
  return wait < std::size(names) ? names[wait] : "?";
}

const char* unpark_name(std::uint8_t why) {
  static const char* const names[] = {"notified", "I/O or timer", "watch timeout", "shutdown"};
  return why < std::size(names) ? names[why] : "?";
}

namespace {

std::string lane_label(thread_id id) {
  switch (id.kind) {
    case thread_kind::worker: return fmt::format("worker {}", id.index);
    case thread_kind::blocking: return fmt::format("blocking {}", id.index);
    default: return id.index == 0 ? std::string("other") : fmt::format("other {}", id.index);
  }
}

class builder {
 public:
  explicit builder(const trace_data& t) : trace_(t) { out_.trace = &t; }

  timeline build() {
    make_lanes();
    resolve_sites();
    bool any = false;
    std::uint64_t first = std::numeric_limits<std::uint64_t>::max(), last = 0;
    for (std::size_t i = 0; i < trace_.threads.size(); ++i) {
      const thread_stream& s = trace_.threads[i];
      std::uint32_t lane = lane_of_[i];
      for (const record& r : s.records) {
        if (r.type != rec::clock_sync) {
          first = std::min(first, r.ts);
          last = std::max(last, r.ts);
          any = true;
        }
      }
      walk(s, lane);
    }
    out_.records = trace_.report.records;
    if (any) {
      out_.first_ts = first;
      out_.last_ts = last;
    }
    close_parks();
    order();
    // A dump's live tasks whose spawn record left the window: their site
    // (name) and parent, not a spawn in the window (no spawn time). Only for
    // tasks the window has.
    for (const record& r : trace_.live_spawns) {
      auto it = out_.tasks.find(r.x);
      if (it == out_.tasks.end() || it->second.spawned) continue;
      it->second.site = r.a32;
      it->second.parent = r.y;
      it->second.kind = r.a8;
    }
    bind();
    return std::move(out_);
  }

 private:
  void make_lanes() {
    std::uint32_t workers = trace_.header.workers;
    for (const thread_stream& s : trace_.threads)
      if (s.id.kind == thread_kind::worker) workers = std::max<std::uint32_t>(workers, s.id.index + 1u);
    out_.workers = workers;
    for (std::uint32_t w = 0; w < workers; ++w)
      out_.lanes.push_back({thread_id{thread_kind::worker, std::uint16_t(w)}, lane_label({thread_kind::worker, std::uint16_t(w)})});
    // threads are sorted by (kind, index): blocking threads, then the others.
    for (const thread_stream& s : trace_.threads) {
      if (s.id.kind == thread_kind::worker) {
        lane_of_.push_back(s.id.index);
        continue;
      }
      lane_of_.push_back(std::uint32_t(out_.lanes.size()));
      out_.lanes.push_back({s.id, lane_label(s.id)});
    }
  }

  void resolve_sites() {
    auto text = [&](std::uint32_t id) {
      const std::string* s = trace_.string_at(id);
      return s ? *s : std::string();
    };
    for (const auto& [id, raw] : trace_.sites) {
      site_info& s = out_.sites[id];
      s.id = id;
      s.defined = true;
      s.file = text(raw.file);
      s.line = raw.line;
      s.function = text(raw.function);
      s.name = raw.name ? text(raw.name) : std::string();
    }
  }

  void walk(const thread_stream& s, std::uint32_t lane) {
    bool open = false;
    poll current;
    std::int64_t park_open = none;
    std::int64_t job_open = none;
    for (const record& r : s.records) {
      switch (r.type) {
        case rec::spawn: {
          task_info& t = out_.tasks[r.x];
          t.id = r.x;
          t.site = r.a32;
          t.parent = r.y;
          t.kind = r.a8;
          t.spawned = true;
          t.spawn_ts = r.ts;
          if (r.a32 != 0 && !out_.sites.count(r.a32)) out_.sites[r.a32].id = r.a32;
          break;
        }
        case rec::poll_begin:
          if (open) {
            ++out_.odd.unclosed_polls;
            ++out_.odd.nested_polls;
          }
          open = true;
          current = poll{};
          current.lane = lane;
          current.task = r.x;
          current.begin = r.ts;
          current.source = r.a8;
          break;
        case rec::poll_end:
          if (!open || current.task != r.x) {
            ++out_.odd.unmatched_poll_ends;
            open = false;
            break;
          }
          open = false;
          current.end = r.ts;
          if (current.end < current.begin) {
            ++out_.odd.backwards_time;
            current.end = current.begin;
          }
          current.outcome = r.a8;
          current.wait = r.a16;
          current.switches = std::uint8_t(std::min<std::uint32_t>(r.a32, 255));
          out_.polls.push_back(current);
          break;
        case rec::wake:
          out_.wakes.push_back({lane, r.ts, r.x, r.y, r.a8, none});
          break;
        case rec::steal:
          out_.steals.push_back({lane, r.ts, r.a16, r.a32, r.x, none});
          break;
        case rec::park:
          out_.instants.push_back({lane, r.ts, r.type, r.a8, r.x});
          if (park_open == none) {
            park_open = std::int64_t(out_.parks.size());
            out_.parks.push_back({lane, r.ts, r.ts, 0xff});
          }
          break;
        case rec::unpark:
          out_.instants.push_back({lane, r.ts, r.type, r.a8, r.x});
          if (park_open != none) {
            span& p = out_.parks[std::size_t(park_open)];
            p.end = std::max(p.begin, r.ts);
            p.arg = r.a8;
            park_open = none;
          }
          break;
        case rec::timer_fire:
          out_.instants.push_back({lane, r.ts, r.type, r.a8, r.x});
          break;
        case rec::io_poll:
          out_.io_polls.push_back({lane, r.ts, r.x, r.a32, r.a8 == 1, r.a16});
          break;
        case rec::blocking_begin:
          job_open = std::int64_t(out_.blocking_jobs.size());
          out_.blocking_jobs.push_back({lane, r.ts, r.ts, r.x});
          break;
        case rec::blocking_end:
          if (job_open != none && out_.blocking_jobs[std::size_t(job_open)].arg == r.x)
            out_.blocking_jobs[std::size_t(job_open)].end =
                std::max(out_.blocking_jobs[std::size_t(job_open)].begin, r.ts);
          job_open = none;
          break;
        case rec::queue_depth:
          out_.depths.push_back({lane, r.ts, r.a32, r.x});
          break;
        default:
          break;  // clock_sync, thread_info, drops: read by the decoder and summary
      }
    }
    if (open) ++out_.odd.unclosed_polls;
    open_parks_.push_back(park_open);
  }

  // A park that never ended lasts until the end of the trace.
  void close_parks() {
    for (std::int64_t i : open_parks_)
      if (i != none) out_.parks[std::size_t(i)].end = std::max(out_.parks[std::size_t(i)].begin, out_.last_ts);
  }

  void order() {
    auto by_lane_begin = [](const auto& a, const auto& b) {
      return a.lane != b.lane ? a.lane < b.lane : a.begin < b.begin;
    };
    std::stable_sort(out_.polls.begin(), out_.polls.end(), by_lane_begin);
    std::stable_sort(out_.parks.begin(), out_.parks.end(), by_lane_begin);
    std::stable_sort(out_.io_polls.begin(), out_.io_polls.end(),
                     [](const io_poll_event& a, const io_poll_event& b) {
                       return a.lane != b.lane ? a.lane < b.lane : a.end < b.end;
                     });
    for (std::uint32_t i = 0; i < out_.polls.size(); ++i) {
      task_info& t = out_.tasks[out_.polls[i].task];
      t.id = out_.polls[i].task;
      t.polls.push_back(i);
    }
    for (auto& [id, t] : out_.tasks)
      std::stable_sort(t.polls.begin(), t.polls.end(), [&](std::uint32_t a, std::uint32_t b) {
        return out_.polls[a].begin < out_.polls[b].begin;
      });
  }

  // The first poll of `task` that begins at or after `ts` (on `lane`, if given).
  std::int64_t next_poll(std::uint64_t task, std::uint64_t ts, std::int64_t lane = none) const {
    auto it = out_.tasks.find(task);
    if (it == out_.tasks.end()) return none;
    const auto& ps = it->second.polls;
    auto pos = std::lower_bound(ps.begin(), ps.end(), ts,
                                [&](std::uint32_t p, std::uint64_t t) { return out_.polls[p].begin < t; });
    for (; pos != ps.end(); ++pos)
      if (lane == none || out_.polls[*pos].lane == std::uint32_t(lane)) return *pos;
    return none;
  }

  // A wake is answered by the woken task's next poll. When several wakes
  // precede one poll (it should not happen), the earliest one counts: the
  // task was runnable from then on.
  void bind() {
    auto known = [&](std::uint64_t id) {
      auto it = out_.tasks.find(id);
      return it != out_.tasks.end() && (it->second.spawned || !it->second.polls.empty());
    };
    for (const wake_event& w : out_.wakes)
      out_.odd.wakes_of_unknown_tasks += !known(w.task) || (w.waker != 0 && !known(w.waker));
    for (const steal_event& st : out_.steals) out_.odd.steals_of_unknown_tasks += !known(st.first_task);

    std::vector<std::uint32_t> order(out_.wakes.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::uint32_t a, std::uint32_t b) { return out_.wakes[a].ts < out_.wakes[b].ts; });
    for (std::uint32_t i : order) {
      wake_event& w = out_.wakes[i];
      std::int64_t p = next_poll(w.task, w.ts);
      if (p == none || out_.polls[std::size_t(p)].wake != none) continue;
      w.poll = p;
      out_.polls[std::size_t(p)].wake = i;
    }
    for (std::uint32_t i = 0; i < out_.steals.size(); ++i) {
      steal_event& s = out_.steals[i];
      std::int64_t p = next_poll(s.first_task, s.ts, s.lane);
      if (p == none || out_.polls[std::size_t(p)].steal != none) continue;
      s.poll = p;
      out_.polls[std::size_t(p)].steal = i;
    }
  }

  const trace_data& trace_;
  timeline out_;
  std::vector<std::uint32_t> lane_of_;  // per trace_.threads entry
  std::vector<std::int64_t> open_parks_;
};

}  // namespace

timeline build_timeline(const trace_data& trace) { return builder(trace).build(); }

}  // namespace weft_trace
