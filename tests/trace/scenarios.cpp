#include "scenarios.hpp"

#include <fmt/format.h>

namespace trace_gen {
namespace {

// Builds the threads' records and the ledger side by side.
class sim {
 public:
  sim(std::uint32_t workers, const tick_clock& clock) : workers_(workers), clock_(clock) {
    want.workers.resize(workers);
    for (std::uint16_t i = 0; i < workers; ++i) {
      threads_.emplace(std::pair{std::uint16_t(worker), i}, thread_writer(worker, i, clock_));
      w(i).add(0, thread_info, worker, i, 0, 7000 + i);
    }
  }

  thread_writer& thread(std::uint16_t kind, std::uint16_t index) {
    auto [it, fresh] = threads_.try_emplace(std::pair{kind, index}, thread_writer(kind, index, clock_));
    if (fresh) it->second.add(0, thread_info, std::uint8_t(kind), index, 0, 8000 + index);
    return it->second;
  }
  thread_writer& w(std::uint16_t i) { return thread(worker, i); }
  thread_writer& blocking_thread(std::uint16_t i) { return thread(blocking, i); }
  thread_writer& other_thread() { return thread(other, 0); }

  // Defines a site in `t`'s stream (strings first), as the tracer does for
  // each thread that spawns from it.
  std::uint32_t site(thread_writer& t, const std::string& file, std::uint32_t line, const std::string& function,
                     const std::string& name) {
    std::uint32_t f = string(t, file), fn = string(t, function), n = name.empty() ? 0 : string(t, name);
    std::uint32_t id = next_site_++;
    t.add(0, trace_gen::site, 0, 0, id, (std::uint64_t(f) << 32) | line, (std::uint64_t(fn) << 32) | n);
    std::string where = fmt::format("{}:{} {}", file, line, function);
    where_[id] = where;
    want.groups[where].name = name;
    return id;
  }

  void spawn(thread_writer& t, std::uint64_t ts, std::uint64_t task, std::uint32_t site, std::uint64_t parent = 0) {
    t.add(ts, trace_gen::spawn, 0, 0, site, task, parent);
    spawn_ts_[task] = ts;
    site_of_[task] = site;
  }

  // `switches`: the poll_end's preemption field (1 + involuntary context
  // switches, 0 not measured), written in a long record.
  void poll(std::uint16_t wk, std::uint64_t task, std::uint64_t begin, std::uint64_t dur, std::uint8_t source,
            std::uint8_t outcome = 2, std::uint16_t wait = 0, std::uint32_t switches = 0) {
    w(wk).add(begin, poll_begin, source, 0, 0, task);
    w(wk).add(begin + dur, poll_end, outcome, wait, switches, task, 0, switches != 0);
    expected_worker& e = want.workers[wk];
    ++e.polls;
    e.busy_ns += dur;
    e.durations.push_back(dur);
    e.lifo += source == 0;
    e.inject += source == 2;
    want.durations.push_back(dur);
    ++want.polls;
    if (!first_poll_.count(task)) first_poll_[task] = begin;
    if (auto it = site_of_.find(task); it != site_of_.end()) {
      expected_group& g = want.groups[where_[it->second]];
      g.busy_ns += dur;
      ++g.polls;
      g.tasks.insert(task);
    }
  }

  // A wake `latency` before the poll that answers it.
  void wake(thread_writer& t, std::uint64_t poll_begin_ts, std::uint64_t latency, std::uint64_t task,
            std::uint8_t from, std::uint16_t from_worker) {
    t.add(poll_begin_ts - latency, trace_gen::wake, from, from_worker, 0, task, 0);
    want.wake_latency.push_back(latency);
    ++want.wakes;
  }

  void steal(std::uint16_t thief, std::uint64_t ts, std::uint16_t victim, std::uint32_t tasks, std::uint64_t first) {
    w(thief).add(ts, trace_gen::steal, 0, victim, tasks, first);
    ++want.workers[thief].steal_ops;
    want.workers[thief].stolen_tasks += tasks;
    ++want.workers[victim].robbed_ops;
    want.workers[victim].robbed_tasks += tasks;
    ++want.steals;
  }

  void park(std::uint16_t wk, std::uint64_t ts) {
    w(wk).add(ts, trace_gen::park);
    ++want.workers[wk].parks;
    ++want.parks;
  }
  void unpark(std::uint16_t wk, std::uint64_t ts, std::uint8_t why) {
    w(wk).add(ts, trace_gen::unpark, why);
    ++want.unparks;
  }

  void io(std::uint16_t wk, std::uint64_t end, std::uint64_t dur, std::uint32_t handlers, std::uint16_t reactor) {
    bool rescue = reactor != wk;
    w(wk).add(end, io_poll, rescue ? 1 : 0, reactor, handlers, dur);
    want.io_durations.push_back(dur);
    ++(rescue ? want.workers[wk].io_rescue : want.workers[wk].io_own);
    ++want.io_polls;
  }

  void timer(std::uint16_t wk, std::uint64_t ts, std::uint64_t task) {
    w(wk).add(ts, timer_fire, 0, 0, 0, task);
    ++want.timer_fires;
  }

  void depth(std::uint16_t wk, std::uint64_t ts, std::uint32_t local, std::uint64_t inject) {
    w(wk).add(ts, queue_depth, 0, 0, local, inject);
    want.workers[wk].max_queue = std::max<std::uint64_t>(want.workers[wk].max_queue, local);
    want.max_inject = std::max(want.max_inject, inject);
    ++want.depth_samples;
  }

  void job(std::uint16_t thread_index, std::uint64_t begin, std::uint64_t end, std::uint64_t task) {
    blocking_thread(thread_index).add(begin, blocking_begin, 0, 0, 0, task);
    blocking_thread(thread_index).add(end, blocking_end, 0, 0, 0, task);
    ++want.blocking_jobs;
  }

  // Sync points in `t` as the tracer records them (at start, and here at
  // every change of the clock's rate) up to `end`.
  void syncs(thread_writer& t, std::uint64_t end) {
    t.add_sync(0);
    for (const auto& [from, rate] : clock_.rates)
      if (from > 0 && from < end) t.add_sync(from);
    t.add_sync(end);
  }

  scenario finish(std::size_t per_chunk, std::uint32_t version = 3) {
    for (auto& [task, first] : first_poll_)
      if (auto it = spawn_ts_.find(task); it != spawn_ts_.end()) want.spawn_latency.push_back(first - it->second);
    std::vector<thread_writer*> list;
    for (auto& [key, t] : threads_) list.push_back(&t);
    scenario s;
    s.file = assemble(workers_, list, per_chunk, version);
    s.want = std::move(want);
    return s;
  }

  const std::string& where(std::uint32_t site) { return where_[site]; }

  expected want;

 private:
  std::uint32_t string(thread_writer& t, const std::string& text) {
    std::uint32_t id = next_string_++;
    t.add_string(0, id, text);
    return id;
  }

  std::uint32_t workers_;
  tick_clock clock_;
  std::map<std::pair<std::uint16_t, std::uint16_t>, thread_writer> threads_;
  std::uint32_t next_string_ = 1, next_site_ = 1;
  std::map<std::uint32_t, std::string> where_;
  std::map<std::uint64_t, std::uint64_t> spawn_ts_, first_poll_;
  std::map<std::uint64_t, std::uint32_t> site_of_;
};

constexpr const char* odd_file = "src/odd \"dir\"/x.cpp";
constexpr const char* odd_function = "operator()<std::string>() </script><b>x</b>";
// A tab, a control character, a two-byte UTF-8 letter and a byte that is no UTF-8.
constexpr const char* odd_name = "odd\tname\x01 \xc3\xbc \xff";
constexpr const char* odd_name_shown = "odd\tname\x01 \xc3\xbc \xef\xbf\xbd";  // the stray byte as U+FFFD

}  // namespace

scenario basic_scenario(std::size_t per_chunk, const tick_clock& clock, std::uint32_t version) {
  sim s(3, clock);
  thread_writer& other = s.other_thread();
  s.syncs(other, 100 * ms);

  // Worker 0: 50 "conn" polls of 800us, spawned from the foreign thread.
  std::uint32_t conn = s.site(other, "src/server.cpp", 42, "handle_conn(weft::tcp_stream)", "conn");
  for (std::uint64_t k = 0; k < 50; ++k) {
    std::uint64_t begin = 1 * ms + k * 1900 * us;
    s.spawn(other, begin - 5 * us * (k + 1), 100 + k, conn);
    std::uint8_t source = k % 5 == 0 ? 2 : k % 5 <= 2 ? 0 : 1;
    s.poll(0, 100 + k, begin, 800 * us, source);
    std::uint64_t gap = begin + 900 * us;  // between this poll and the next
    if (k == 10 || k == 20 || k == 30 || k == 40) s.io(0, gap + 50 * us, 50 * us, 1, 0);
    static constexpr std::uint32_t locals[] = {3, 7, 12, 4, 1};
    static constexpr std::uint64_t injects[] = {0, 10, 80, 100, 20};
    if (k % 10 == 2) s.depth(0, begin + 1300 * us, locals[k / 10], injects[k / 10]);
  }
  s.park(0, 96 * ms);  // never unparked: lasts to the end
  s.depth(0, 100 * ms, 0, 0);

  // Worker 1: 20 "main_task" polls of 1 ms (exactly the long-poll threshold:
  // not long), each woken by worker 0 or the foreign thread, then the 25 ms
  // poll of "cruncher".
  std::uint32_t main_task = s.site(s.w(1), "src/main.cpp", 10, "main_task()", "");
  std::uint32_t crunch = s.site(s.w(1), "src/crunch.cpp", 7, "crunch(int)", "cruncher");
  for (std::uint64_t k = 0; k < 20; ++k) {
    std::uint64_t begin = 2 * ms + k * 1500 * us;
    s.spawn(s.w(1), begin - 2 * ms, 200 + k, main_task, 1);
    if (k % 2 == 0)
      s.wake(s.w(0), begin, (k + 1) * 10 * us, 200 + k, 2, 0);
    else
      s.wake(other, begin, (k + 1) * 10 * us, 200 + k, 1, 0xffff);
    bool blocked = k % 2 == 0;
    s.poll(1, 200 + k, begin, 1 * ms, k % 4 == 0 ? 0 : 1, blocked ? 1 : 0, blocked ? 2 : 9);
  }
  s.io(1, 35 * ms, 100 * us, 1, 1);
  s.depth(1, 36 * ms, 2, 30);
  s.spawn(s.w(1), 39 * ms, 300, crunch, 1);
  s.poll(1, 300, 40 * ms, 25 * ms, 1, 0, 9);
  s.io(1, 65 * ms + 200 * us, 100 * us, 2, 1);  // the first poll of its reactor after the long poll

  // The blocking pool ran one job for task 219.
  s.job(0, 33 * ms, 36 * ms, 219);

  // Worker 2: steals from worker 0, parks, rescues worker 1's reactor twice
  // during the long poll (one timer fires in the first rescue), then a task
  // with an odd name polled six times.
  std::uint32_t main_task_w0 = s.site(s.w(0), "src/main.cpp", 10, "main_task()", "");
  for (std::uint64_t t = 400; t < 404; ++t) s.spawn(s.w(0), 9 * ms, t, main_task_w0, 100);
  s.io(2, 9500 * us, 20 * us, 0, 2);
  s.steal(2, 10 * ms, 0, 3, 400);
  s.poll(2, 400, 10100 * us, 500 * us, 3);
  s.poll(2, 401, 10700 * us, 500 * us, 1);
  s.poll(2, 402, 11300 * us, 500 * us, 1);
  s.steal(2, 20 * ms, 0, 1, 403);
  s.poll(2, 403, 20100 * us, 500 * us, 3);
  const std::uint64_t parks[][3] = {{30, 35, 0}, {44, 49, 2}, {52, 61, 2}, {70, 75, 0}, {80, 85, 1}};
  for (const auto& p : parks) {
    s.park(2, p[0] * ms);
    s.unpark(2, p[1] * ms + (p[2] == 2 ? 500 * us : 0), std::uint8_t(p[2]));
  }
  s.timer(2, 49900 * us, 600);
  s.io(2, 50 * ms, 200 * us, 3, 1);
  s.io(2, 62 * ms, 200 * us, 1, 1);
  std::uint32_t odd = s.site(s.w(2), odd_file, 99, odd_function, odd_name);
  s.want.groups[s.where(odd)].name = odd_name_shown;
  s.spawn(s.w(2), 85 * ms, 500, odd);
  for (std::uint64_t k = 0; k < 6; ++k) {
    std::uint64_t begin = (86 + k) * ms;
    if (k > 0) s.wake(s.w(2), begin, 100 * us, 500, 0, 2);
    s.poll(2, 500, begin, 500 * us, k == 0 ? 1 : 0, k < 5 ? 1 : 2, k < 5 ? 1 : 0);
  }

  s.want.span_begin = 0;
  s.want.span_end = 100 * ms;
  expected_long lp;
  lp.worker = 1;
  lp.task = 300;
  lp.name = "cruncher";
  lp.site = "src/crunch.cpp:7 crunch(int)";
  lp.begin = 40 * ms;
  lp.duration = 25 * ms;
  lp.io_rescued = 3 + 1;
  lp.io_after = 2;
  lp.timers = 1;
  s.want.long_polls.push_back(lp);
  s.want.warning_kinds = {"never_yields", "imbalance", "inject_buildup"};
  return s.finish(per_chunk, version);
}

scenario damaged_scenario() {
  scenario s = basic_scenario();
  trace_file& f = s.file;
  auto at = [&](std::uint64_t ns) { return f.clock.at(ns); };
  expected& want = s.want;
  auto find_chunk = [&](std::uint16_t kind, std::uint16_t index, std::uint64_t seq) -> std::size_t {
    for (std::size_t i = 0; i < f.pieces.size(); ++i)
      if (f.pieces[i].is_chunk && f.pieces[i].c.kind == kind && f.pieces[i].c.index == index && f.pieces[i].c.seq == seq)
        return i;
    return f.pieces.size();
  };

  // Worker 2 dropped 7 events before its second chunk (also told by a drops record).
  const std::uint32_t v = f.version;
  chunk& w2 = f.pieces[find_chunk(worker, 2, 1)].c;
  w2.dropped = 7;
  std::vector<slot> drop = chunk_encoder(v, w2.base).record(w2.base, drops, 0, 0, 7);
  w2.slots.insert(w2.slots.begin(), drop.begin(), drop.end());
  want.dropped = 7;

  // Worker 1's chunk 2 was lost: its later chunks skip a sequence number.
  for (auto& p : f.pieces)
    if (p.is_chunk && p.c.kind == worker && p.c.index == 1 && p.c.seq >= 2) ++p.c.seq;
  want.lost_chunks = 1;

  // Two records of unknown types in worker 0's first chunk.
  // (After the chunk's first record; version 3: short ones, one slot each.)
  chunk& w0 = f.pieces[find_chunk(worker, 0, 0)].c;
  slot junk, zero;
  junk.size = zero.size = v >= 3 ? 16 : 32;
  for (auto& b : junk.bytes) b = 0xAB;
  junk.bytes[v >= 3 ? 4 : 8] = 99;
  auto after_first = std::ptrdiff_t(record_units(v, w0.slots.front()));
  w0.slots.insert(w0.slots.begin() + after_first, junk);
  w0.slots.insert(w0.slots.begin() + after_first + 1, zero);  // type 0
  want.unknown_records = 2;

  // 50 bytes of garbage between two chunks.
  trace_file::piece garbage;
  garbage.is_chunk = false;
  garbage.raw = std::string(50, '\xEE');
  f.pieces.insert(f.pieces.begin() + 5, garbage);
  want.garbage = true;

  // A chunk of the foreign thread whose string claims 200 bytes but holds 2 slots.
  trace_file::piece overrun;
  overrun.c.kind = other;
  overrun.c.index = 0;
  std::uint64_t last_seq = 0;
  for (const auto& p : f.pieces)
    if (p.is_chunk && p.c.kind == other) last_seq = std::max(last_seq, p.c.seq);
  overrun.c.seq = last_seq + 1;
  overrun.c.base = at(99 * ms);
  {
    chunk_encoder enc(v, overrun.c.base);
    auto put = [&](std::vector<slot> slots) {
      overrun.c.slots.insert(overrun.c.slots.end(), slots.begin(), slots.end());
    };
    put(enc.record(at(99 * ms), string, 0, 200, 999));
    put(enc.record(at(99 * ms), poll_begin, 0, 0, 0, 1234));  // looks like a record: must be skipped
    put(enc.record(at(99 * ms + 1), poll_end, 2, 0, 0, 1234));
  }
  f.pieces.push_back(overrun);
  want.string_overruns = 1;

  // Worker 2's last chunk: one complete poll, then the file ends inside the
  // poll_end of the next one.
  std::uint64_t w2_seq = 0;
  for (const auto& p : f.pieces)
    if (p.is_chunk && p.c.kind == worker && p.c.index == 2) w2_seq = std::max(w2_seq, p.c.seq);
  trace_file::piece tail;
  tail.c.kind = worker;
  tail.c.index = 2;
  tail.c.seq = w2_seq + 1;
  tail.c.base = at(95 * ms);
  {
    chunk_encoder enc(v, tail.c.base);
    auto put = [&](std::vector<slot> slots) { tail.c.slots.insert(tail.c.slots.end(), slots.begin(), slots.end()); };
    put(enc.record(at(95 * ms), poll_begin, 1, 0, 0, 501));
    put(enc.record(at(95 * ms + 500 * us), poll_end, 2, 0, 0, 501));
    put(enc.record(at(96 * ms), poll_begin, 1, 0, 0, 502));
    // Long (version 3): the cut takes its second slot.
    put(enc.record(at(96 * ms + 100 * us), poll_end, 2, 0, 0, 502, 0, true));
  }
  f.pieces.push_back(tail);
  f.cut_bytes = 16;
  want.truncated = true;
  want.unclosed_polls = 1;
  expected_worker& e = want.workers[2];
  ++e.polls;
  e.busy_ns += 500 * us;
  e.durations.push_back(500 * us);
  want.durations.push_back(500 * us);
  ++want.polls;
  want.groups["(no spawn record)"].busy_ns += 500 * us;
  ++want.groups["(no spawn record)"].polls;
  want.groups["(no spawn record)"].tasks.insert(501);

  want.warning_kinds.insert({"dropped", "lost_chunks", "unknown_records", "garbage", "string_overrun", "truncated",
                             "unmatched_polls"});
  return s;
}

scenario preempted_scenario() {
  sim s(1, {});
  std::uint32_t busy = s.site(s.w(0), "src/busy.cpp", 1, "busy()", "");
  std::uint32_t victim = s.site(s.w(0), "src/victim.cpp", 2, "victim()", "");
  s.spawn(s.w(0), 0, 10, busy);
  s.spawn(s.w(0), 0, 11, victim);
  s.spawn(s.w(0), 0, 12, busy);
  s.poll(0, 10, 1 * ms, 5 * ms, 2, 2, 0, 1);   // measured: on the CPU throughout
  s.poll(0, 11, 10 * ms, 8 * ms, 2, 2, 0, 4);  // preempted 3 times
  s.poll(0, 12, 20 * ms, 2 * ms, 2, 2, 0, 0);  // not measured (an older trace)
  s.want.span_begin = 0;
  s.want.span_end = 22 * ms;
  return s.finish(16);
}

scenario flight_scenario() {
  scenario s = basic_scenario();
  s.file.flags = 1;
  for (auto& p : s.file.pieces)
    if (p.is_chunk) p.c.seq += 40;  // older chunks were dropped from the window: no loss
  return s;
}

scenario big_scenario(std::size_t polls) {
  const std::uint16_t workers = 4;
  sim s(workers, tick_clock{});
  std::uint64_t rng = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
  };
  std::vector<std::uint32_t> sites;
  for (std::uint32_t i = 0; i < 200; ++i)
    sites.push_back(s.site(s.w(std::uint16_t(i % workers)), fmt::format("src/module{}.cpp", i % 23), 10 + i,
                           fmt::format("handler_{}()", i), i % 3 == 0 ? fmt::format("job {}", i) : ""));
  std::vector<std::uint64_t> now(workers, 10 * us);
  std::uint64_t task = 1000;
  for (std::size_t n = 0; n < polls; ++n) {
    std::uint16_t wk = std::uint16_t(n % workers);
    std::uint64_t r = next();
    // Mostly short polls, some medium, a rare long one.
    std::uint64_t dur = r % 1000 == 0 ? 2 * ms + r % (3 * ms) : r % 10 == 0 ? 20 * us + r % (200 * us) : 1 * us + r % (15 * us);
    std::uint64_t gap = 500 + (r >> 20) % (8 * us);
    std::uint64_t begin = now[wk] + gap;
    ++task;
    std::uint32_t site = sites[(r >> 32) % (wk == 3 ? 20 : sites.size())];
    s.spawn(s.w(wk), begin - gap / 2, task, site);
    s.poll(wk, task, begin, dur, std::uint8_t((r >> 40) % 3));
    now[wk] = begin + dur;
    if ((r >> 45) % 50 == 0) {
      s.park(wk, now[wk] + 100);
      s.unpark(wk, now[wk] + 100 + 50 * us, 0);
      now[wk] += 60 * us;
    }
    if ((r >> 50) % 97 == 0) s.io(wk, now[wk] + 200, 150, std::uint32_t(r % 4), wk);
    if ((r >> 52) % 300 == 0) s.steal(wk, now[wk] + 300, std::uint16_t((wk + 1) % workers), 2, task + 1);
  }
  std::uint64_t end = 0;
  for (auto t : now) end = std::max(end, t);
  for (std::uint16_t wk = 0; wk < workers; ++wk) s.depth(wk, end + 1000, 0, 0);
  s.syncs(s.w(0), (end / ms + 1) * ms);
  return s.finish(2048);
}

}  // namespace trace_gen
