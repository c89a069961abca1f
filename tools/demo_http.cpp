// Scene http: a small HTTP/1.1 keep-alive service on weft::net, loaded by
// wrk (or, without wrk, by client tasks on the same runtime).
//
// The server listens on 127.0.0.1 at a port the kernel picks, spawns one task
// per connection (named "conn", so the trace groups them), and answers every
// request head with the same small 200 response, pipelined requests in one
// write. The load runs from the main thread between two block_on calls: one
// starts the server, the other stops it once the clients are gone. Stopping
// waits for the connection tasks to see their peers close, then aborts the
// acceptor and any connection still open, and joins every task: nothing of
// the scene outlives it.
#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <net/net.hpp>

#include "../bench/http_heads.hpp"
#include "demo_common.hpp"

namespace weft_demo {
namespace {

using namespace std::chrono_literals;
namespace net = weft::net;

constexpr std::string_view request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// ---- the server ------------------------------------------------------------------

struct server_state {
  explicit server_state(std::size_t workers) : answered(workers) {}

  net::tcp_listener listener;
  std::uint16_t port = 0;
  std::vector<worker_tally> answered;  // requests answered, per worker
  // Relaxed: counters read for the report after the tasks were joined (the
  // join orders them), or polled by stop_server only to decide when to stop.
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> open{0};  // connection tasks not yet ended
  std::atomic<std::uint64_t> resets{0};
  // Written by the acceptor, read by stop_server after joining it.
  std::vector<weft::join_handle<void>> conns;
  weft::join_handle<void> acceptor;
};

weft::task<void> serve_conn(net::tcp_stream s, server_state& st) {
  // Counts the task out however it ends: the peer closed, a reset, or an abort.
  struct leaving {
    server_state& st;
    ~leaving() { st.open.fetch_sub(1, std::memory_order_relaxed); }
  } guard{st};
  const std::string& block = weft::bench::http_response_block();
  weft::bench::http_heads heads;
  try {
    for (;;) {
      std::span<char> room = heads.free_space();
      if (room.empty()) co_return;  // a head too long for us
      std::size_t n = co_await s.read_some(room);
      if (n == 0) co_return;  // the client closed: the normal end
      std::size_t count = heads.add(n);
      tally_here(st.answered, count);
      while (count > 0) {
        std::size_t k = std::min(count, weft::bench::http_response_batch);
        co_await s.write_all(
            std::span<const char>(block.data(), k * weft::bench::http_response.size()));
        count -= k;
      }
    }
  } catch (const net::net_error&) {
    // a reset peer ends its own connection, nothing else
    st.resets.fetch_add(1, std::memory_order_relaxed);
  }
}

weft::task<void> accept_loop(server_state& st) {
  for (;;) {
    net::tcp_stream s = co_await st.listener.accept();
    st.accepted.fetch_add(1, std::memory_order_relaxed);
    st.open.fetch_add(1, std::memory_order_relaxed);
    st.conns.push_back(weft::spawn(serve_conn(std::move(s), st), {.name = "conn"}));
  }
}

weft::task<void> start_server(server_state& st) {
  st.listener = net::tcp_listener::bind({"127.0.0.1", 0});
  st.port = st.listener.local_endpoint().port();
  st.acceptor = weft::spawn(accept_loop(st), {.name = "accept"});
  co_return;
}

struct stop_result {
  std::size_t conn_tasks = 0;
  std::size_t aborted = 0;  // still open after the grace period
};

weft::task<stop_result> stop_server(server_state& st, steady::duration grace) {
  // The clients are gone; their connections end as the tasks read the close.
  auto deadline = steady::now() + grace;
  while (st.open.load(std::memory_order_relaxed) > 0 && steady::now() < deadline)
    co_await weft::sleep_for(2ms);
  st.acceptor.abort();
  try {
    co_await st.acceptor;
  } catch (const weft::cancelled&) {
  }
  st.listener.close();
  stop_result r;
  r.conn_tasks = st.conns.size();
  for (auto& h : st.conns) {
    if (!h.is_finished()) {
      ++r.aborted;
      h.abort();
    }
    try {
      co_await h;
    } catch (const weft::cancelled&) {
    }
  }
  st.conns.clear();
  co_return r;
}

// ---- the load --------------------------------------------------------------------

struct load_report {
  bool ok = false;
  std::string error;
  std::uint64_t requests = 0;
  double seconds = 0;
  double per_second = 0;
  // As printed: wrk's own figures, or ours in the same style.
  std::string avg, p50, p90, p99, max;
  std::string socket_errors;  // wrk's line, when it had any
};

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> w;
  while (!line.empty()) {
    auto b = line.find_first_not_of(" \t");
    if (b == line.npos) break;
    line.remove_prefix(b);
    auto e = line.find_first_of(" \t");
    w.push_back(line.substr(0, e));
    line = e == line.npos ? std::string_view{} : line.substr(e);
  }
  return w;
}

double to_double(std::string_view s) {
  std::string t(s);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  return end == t.c_str() ? 0.0 : v;
}

// wrk --latency prints (among others):
//     Latency   588.12us  210.31us   5.12ms   80.00%
//      50%  540.00us            (and 75%, 90%, 99%)
//   123456 requests in 3.00s, 10.00MB read
//   Socket errors: connect 0, read 0, write 0, timeout 0
// Requests/sec:  41152.00
void parse_wrk(std::string_view out, load_report& r) {
  bool requests_seen = false, rate_seen = false;
  while (!out.empty()) {
    auto nl = out.find('\n');
    std::string_view line = out.substr(0, nl);
    out = nl == out.npos ? std::string_view{} : out.substr(nl + 1);
    auto w = words(line);
    if (w.size() >= 4 && w[0] == "Latency") {
      r.avg = w[1];
      r.max = w[3];
    } else if (w.size() == 2 && w[0] == "50%") {
      r.p50 = w[1];
    } else if (w.size() == 2 && w[0] == "90%") {
      r.p90 = w[1];
    } else if (w.size() == 2 && w[0] == "99%") {
      r.p99 = w[1];
    } else if (w.size() >= 4 && w[1] == "requests" && w[2] == "in") {
      r.requests = std::uint64_t(to_double(w[0]));
      r.seconds = to_double(w[3]);  // "3.00s," parses as 3.00
      requests_seen = true;
    } else if (w.size() == 2 && w[0] == "Requests/sec:") {
      r.per_second = to_double(w[1]);
      rate_seen = true;
    } else if (line.find("Socket errors:") != line.npos) {
      auto at = line.find("Socket errors:");
      r.socket_errors = std::string(line.substr(at));
    }
  }
  r.ok = requests_seen && rate_seen;
  if (!r.ok) r.error = "could not read wrk's output";
}

std::vector<std::string> wrk_command(const std::string& wrk, std::uint16_t port,
                                     const demo_options& opt) {
  return {wrk,
          "-t1",
          fmt::format("-c{}", opt.connections),
          fmt::format("-d{}s", opt.duration_s),
          "--latency",
          fmt::format("http://127.0.0.1:{}/", port)};
}

load_report wrk_load(const std::vector<std::string>& argv) {
  load_report r;
  program_result p = run_program(argv);
  if (!p.started || p.exit_code != 0) {
    r.error = p.started ? fmt::format("wrk exited with status {}: {}", p.exit_code, p.output)
                        : p.output;
    return r;
  }
  parse_wrk(p.output, r);
  if (!r.ok) r.error += ":\n" + p.output;
  return r;
}

std::string format_us(double us) {
  if (us >= 1000.0) return fmt::format("{:.2f}ms", us / 1000.0);
  return fmt::format("{:.0f}us", us);
}

// The fallback load: client tasks on the same runtime, one request at a time
// per connection, each timed.
struct client_record {
  std::vector<std::uint32_t> latency_us;
  bool failed = false;
};

weft::task<void> client(std::uint16_t port, steady::time_point until, client_record& rec) {
  try {
    auto s = co_await net::tcp_stream::connect(net::endpoint{"127.0.0.1", port});
    char buf[weft::bench::http_response.size()];
    while (steady::now() < until) {
      auto t0 = steady::now();
      co_await s.write_all(std::span<const char>(request.data(), request.size()));
      co_await s.read_exact(std::span<char>(buf, sizeof buf));
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0);
      rec.latency_us.push_back(std::uint32_t(std::min<std::int64_t>(us.count(), UINT32_MAX)));
    }
  } catch (const net::net_error&) {
    rec.failed = true;
  }
}

weft::task<load_report> task_load(std::uint16_t port, const demo_options& opt) {
  load_report r;
  std::vector<client_record> records(opt.connections);
  std::vector<weft::join_handle<void>> clients;
  auto start = steady::now();
  auto until = start + std::chrono::seconds(opt.duration_s);
  for (auto& rec : records)
    clients.push_back(weft::spawn(client(port, until, rec), {.name = "client"}));
  for (auto& h : clients) co_await h;
  r.seconds = std::chrono::duration<double>(steady::now() - start).count();

  std::vector<std::uint32_t> all;
  std::size_t failed = 0;
  for (auto& rec : records) {
    all.insert(all.end(), rec.latency_us.begin(), rec.latency_us.end());
    if (rec.failed) ++failed;
  }
  r.requests = all.size();
  r.per_second = r.seconds > 0 ? double(r.requests) / r.seconds : 0;
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    double sum = 0;
    for (auto v : all) sum += v;
    auto pct = [&](double p) {
      return double(all[std::min(all.size() - 1, std::size_t(p * double(all.size())))]);
    };
    r.avg = format_us(sum / double(all.size()));
    r.p50 = format_us(pct(0.50));
    r.p90 = format_us(pct(0.90));
    r.p99 = format_us(pct(0.99));
    r.max = format_us(double(all.back()));
  }
  if (failed) r.socket_errors = fmt::format("{} client connection(s) failed", failed);
  r.ok = r.requests > 0;
  if (!r.ok) r.error = "the client tasks completed no request";
  co_return r;
}

}  // namespace

bool http_scene(weft::runtime& rt, const demo_options& opt) {
  const std::size_t workers = rt.worker_count();
  std::optional<std::string> wrk;
  if (opt.load != load_kind::tasks) wrk = find_on_path("wrk");
  fmt::print("\n== http: an HTTP/1.1 keep-alive server, one task per connection, {} connections "
             "for {} s ==\n",
             opt.connections, opt.duration_s);
  if (opt.load == load_kind::clients && !wrk) {
    fmt::print("  FAILED: --load clients, but wrk is not on PATH (tools/check --deps-only installs "
               "it)\n");
    return false;
  }

  server_state st{workers};
  rt.block_on(start_server(st));
  fmt::print("  listening on 127.0.0.1:{}\n", st.port);

  auto before = rt.metrics();
  auto t0 = steady::now();
  load_report load;
  if (wrk) {
    auto argv = wrk_command(*wrk, st.port, opt);
    fmt::print("  load: wrk");
    for (std::size_t i = 1; i < argv.size(); ++i) fmt::print(" {}", argv[i]);
    fmt::print("\n");
    std::fflush(stdout);
    load = wrk_load(argv);
  } else {
    fmt::print("  load: {} client tasks on this runtime (sharing the workers with the server),\n"
               "        one request at a time each{}\n",
               opt.connections, opt.load == load_kind::tasks ? "" : " (wrk is not on PATH)");
    std::fflush(stdout);
    load = rt.block_on(task_load(st.port, opt));
  }
  auto wall = steady::now() - t0;
  auto per_worker = delta(before, rt.metrics());
  stop_result stop = rt.block_on(stop_server(st, 2s));

  bool ok = true;
  if (!load.ok) {
    fmt::print("  FAILED: {}\n", load.error);
    ok = false;
  } else {
    fmt::print("  {} requests/s: {} requests in {:.2f} s\n",
               with_commas(std::uint64_t(load.per_second + 0.5)),
               with_commas(load.requests), load.seconds);
    fmt::print("  latency: avg {}, p50 {}, p90 {}, p99 {}, max {}\n", load.avg, load.p50,
               load.p90, load.p99, load.max);
    if (!load.socket_errors.empty()) fmt::print("  client: {}\n", load.socket_errors);
  }

  std::uint64_t answered = 0;
  for (auto& t : st.answered) answered += t.get();
  std::uint64_t accepted = st.accepted.load(std::memory_order_relaxed);
  std::uint64_t resets = st.resets.load(std::memory_order_relaxed);
  fmt::print("  server: {} connections served, {} requests answered{}\n", accepted,
             with_commas(answered),
             resets ? fmt::format(", {} connection(s) ended by a reset from the client", resets)
                    : "");

  double wall_ns = double(std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count());
  fmt::print("  {:>6}  {:>9}  {:>6}  {:<20}  {:>8}  {:>5}  {:>15}  {:>8}\n", "worker",
             "requests", "share", "", "polls", "busy", "steals (tasks)", "I/O polls");
  for (std::size_t i = 0; i < workers; ++i) {
    std::uint64_t n = st.answered[i].get();
    double share = answered ? double(n) / double(answered) : 0.0;
    const auto& m = per_worker[i];
    double busy = wall_ns > 0 ? double(m.busy_time.count()) / wall_ns : 0.0;
    fmt::print("  {:>6}  {:>9}  {:>5.1f}%  {:<20}  {:>8}  {:>4.0f}%  {:>15}  {:>8}\n", i, n,
               share * 100, bar(share, 20), m.polls, std::min(busy, 1.0) * 100,
               fmt::format("{} ({})", m.steals, m.stolen_tasks), m.io_polls);
  }

  fmt::print("  shutdown: acceptor stopped, listener closed, {} connection task(s) joined",
             stop.conn_tasks);
  if (stop.aborted)
    fmt::print(" ({} still open after 2 s were aborted)", stop.aborted);
  else
    fmt::print(" (every client had closed its connection)");
  fmt::print("\n");

  if (accepted == 0) {
    fmt::print("  FAILED: the server accepted no connection\n");
    ok = false;
  }
  if (load.ok && answered < load.requests) {
    fmt::print("  FAILED: the client counted {} responses but the server answered {}\n",
               load.requests, answered);
    ok = false;
  }
  if (!st.conns.empty() || st.open.load(std::memory_order_relaxed) != 0) {
    fmt::print("  FAILED: connection tasks outlived the shutdown\n");
    ok = false;
  }
  return ok;
}

}  // namespace weft_demo
