// Scene redis: the Redis-protocol key-value server of resp_server.hpp on this
// runtime, loaded by redis-benchmark with pipelining (or, without it, by
// client tasks on the same runtime that pipeline their own commands).
//
// Either load INCRs one counter; the scene reads it back over the protocol
// and checks that it equals the INCRs sent: every pipelined command ran
// exactly once. The client tasks also check that each GET sees their last
// SET. The acceptor is aborted at the end, once every connection has closed.
#include <algorithm>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <net/net.hpp>

#include "demo_common.hpp"
#include "resp_server.hpp"

namespace weft_demo {
namespace {

using namespace std::chrono_literals;
namespace net = weft::net;

constexpr long pipeline = 16;
constexpr std::string_view counter_key = "counter:__rand_int__";  // redis-benchmark's INCR key without -r

// ---- redis-benchmark ---------------------------------------------------------------

struct bench_line {
  std::string test;
  double per_second = 0;
  std::string p50_ms, p99_ms;
};

// --csv: a header, then "TEST","rps","avg","min","p50","p95","p99","max".
std::vector<bench_line> parse_csv(std::string_view out) {
  std::vector<bench_line> lines;
  while (!out.empty()) {
    auto end = out.find('\n');
    std::string_view line = out.substr(0, end);
    out = end == std::string_view::npos ? std::string_view() : out.substr(end + 1);
    std::vector<std::string> cells;
    for (std::size_t at = 0; (at = line.find('"', at)) != std::string_view::npos;) {
      auto close = line.find('"', at + 1);
      if (close == std::string_view::npos) break;
      cells.emplace_back(line.substr(at + 1, close - at - 1));
      at = close + 1;
    }
    if (cells.size() != 8 || cells[0] == "test") continue;
    bench_line b;
    b.test = cells[0];
    try {
      b.per_second = std::stod(cells[1]);
    } catch (const std::exception&) {
      continue;
    }
    b.p50_ms = cells[4];
    b.p99_ms = cells[6];
    lines.push_back(std::move(b));
  }
  return lines;
}

// ---- client tasks --------------------------------------------------------------------

struct client_record {
  long commands = 0, incrs = 0;
  std::string error;  // empty: every reply was right
};

// Pipelines batches of SET key v, INCR counter (eight each) and a GET key,
// then reads the seventeen replies and checks them.
weft::task<void> client(std::uint16_t port, int id, steady::time_point until, client_record& rec) {
  auto s = co_await net::tcp_stream::connect({"127.0.0.1", port});
  s.set_nodelay(true);
  net::buffered<net::tcp_stream> io(s);
  const std::string key = fmt::format("demo:key:{}", id);
  const std::string incr = weft_resp::command({"INCR", counter_key});
  const std::string get = weft_resp::command({"GET", key});
  for (long round = 0; steady::now() < until; ++round) {
    std::string last;
    for (int i = 0; i < pipeline / 2; ++i) {
      last = fmt::format("{}-{}", round, i);
      std::string set = weft_resp::command({"SET", key, last});
      co_await io.write(set);
      co_await io.write(incr);
    }
    co_await io.write(get);
    co_await io.flush();
    for (int i = 0; i < pipeline; ++i) {
      auto reply = co_await io.read_line();
      bool ok = reply && (i % 2 == 0 ? *reply == "+OK" : reply->starts_with(":"));
      if (!ok) {
        rec.error = fmt::format("client {}: unexpected reply '{}'", id, reply ? std::string(*reply) : "(closed)");
        co_return;
      }
    }
    auto head = co_await io.read_line();
    std::string want_head = fmt::format("${}", last.size());
    if (!head || *head != want_head) {
      rec.error = fmt::format("client {}: GET answered '{}', not the last SET", id, head ? std::string(*head) : "");
      co_return;
    }
    auto value = co_await io.read_line();
    if (!value || *value != last) {
      rec.error = fmt::format("client {}: GET saw '{}', not its last SET '{}'", id,
                              value ? std::string(*value) : "", last);
      co_return;
    }
    rec.commands += pipeline + 1;
    rec.incrs += pipeline / 2;
  }
}

struct task_load_result {
  long commands = 0, incrs = 0;
  double seconds = 0;
  std::string error;
};

weft::task<task_load_result> task_load(std::uint16_t port, const demo_options& opt) {
  std::vector<client_record> recs(opt.connections);
  std::vector<weft::join_handle<void>> hs;
  auto t0 = steady::now();
  auto until = t0 + std::chrono::seconds(opt.duration_s);
  for (std::uint32_t c = 0; c < opt.connections; ++c) hs.push_back(weft::spawn(client(port, int(c), until, recs[c])));
  task_load_result r;
  for (auto& h : hs) {
    try {
      co_await h;
    } catch (const std::exception& e) {
      if (r.error.empty()) r.error = e.what();
    }
  }
  r.seconds = std::chrono::duration<double>(steady::now() - t0).count();
  for (const auto& rec : recs) {
    r.commands += rec.commands;
    r.incrs += rec.incrs;
    if (r.error.empty()) r.error = rec.error;
  }
  co_return r;
}

// ---- the server's side -----------------------------------------------------------------

// Binds on a port the kernel picks (sockets are made in tasks: each is homed
// on a worker) and spawns the acceptor.
weft::task<weft::join_handle<void>> start_server(weft_resp::store& db, std::uint16_t& port) {
  auto l = net::tcp_listener::bind({"127.0.0.1", 0});
  port = l.local_endpoint().port();
  co_return weft::spawn(weft_resp::serve(std::move(l), &db));
}

// GET counter_key over the protocol: the value, or -1.
weft::task<long> read_counter(std::uint16_t port) {
  auto s = co_await net::tcp_stream::connect({"127.0.0.1", port});
  net::buffered<net::tcp_stream> io(s);
  const std::string get = weft_resp::command({"GET", counter_key});
  co_await io.write(get);
  co_await io.flush();
  auto head = co_await io.read_line();
  if (!head || !head->starts_with("$") || *head == "$-1") co_return -1;
  auto value = co_await io.read_line();
  co_return value ? std::stol(std::string(*value)) : -1;
}

weft::task<bool> wait_for_clients_to_leave(weft_resp::store& db, steady::duration limit) {
  // The counter read's own connection must be gone too.
  for (auto until = steady::now() + limit; db.connections.load() > 0;) {
    if (steady::now() > until) co_return false;
    co_await weft::sleep_for(1ms);
  }
  co_return true;
}

// A count for people; "none" for the counter that was never set.
std::string count(long n) { return n < 0 ? "none" : with_commas(std::uint64_t(n)); }

}  // namespace

bool redis_scene(weft::runtime& rt, const demo_options& opt) {
  std::optional<std::string> bench;
  if (opt.load != load_kind::tasks) bench = find_on_path("redis-benchmark");
  fmt::print("\n== redis: a Redis-protocol key-value server (tools/resp_server.hpp), pipelines of {} ==\n",
             pipeline);
  if (opt.load == load_kind::clients && !bench) {
    fmt::print("  FAILED: redis-benchmark is not on PATH (tools/check --deps-only installs redis-tools)\n");
    return false;
  }
  weft_resp::store db;
  std::uint16_t port = 0;
  auto server = rt.block_on(start_server(db, port));
  fmt::print("  listening on 127.0.0.1:{}\n", port);

  bool ok = true;
  long incrs_sent = 0;
  if (bench) {
    // Five tests of n requests each, half a second apiece at a few hundred
    // thousand a second; n a multiple of the depth (whole pipelines).
    const long n = std::max<long>(pipeline, long(opt.duration_s) * 100'000 / pipeline * pipeline);
    std::vector<std::string> argv = {*bench, "-h", "127.0.0.1", "-p", std::to_string(port),
                                     "-c", std::to_string(opt.connections), "-P", std::to_string(pipeline),
                                     "-n", std::to_string(n), "-t", "ping,set,get,incr", "--csv"};
    fmt::print("  load: redis-benchmark");
    for (std::size_t i = 1; i < argv.size(); ++i) fmt::print(" {}", argv[i]);
    fmt::print("\n");
    std::fflush(stdout);
    program_result run = run_program(argv);
    auto lines = parse_csv(run.output);
    if (!run.started || run.exit_code != 0 || lines.size() != 5) {
      fmt::print("  FAILED: redis-benchmark exited {} with:\n{}\n", run.exit_code, run.output);
      ok = false;
    }
    for (const auto& b : lines)
      fmt::print("  {:<12} {:>10} requests/s   latency p50 {} ms, p99 {} ms\n", b.test,
                 count(long(b.per_second + 0.5)), b.p50_ms, b.p99_ms);
    incrs_sent = n;
  } else {
    fmt::print("  load: {} client tasks on this runtime for {} s, each pipelining {} SETs and INCRs and a GET\n",
               opt.connections, opt.duration_s, pipeline);
    std::fflush(stdout);
    task_load_result r = rt.block_on(task_load(port, opt));
    if (!r.error.empty()) {
      fmt::print("  FAILED: {}\n", r.error);
      ok = false;
    }
    fmt::print("  {} commands/s: {} commands in {:.2f} s, every GET saw its client's last SET\n",
               count(long(double(r.commands) / std::max(r.seconds, 1e-9))), count(r.commands), r.seconds);
    incrs_sent = r.incrs;
  }

  long counter = rt.block_on(read_counter(port));
  bool left = rt.block_on(wait_for_clients_to_leave(db, 5s));
  server.abort();
  rt.block_on([](weft::join_handle<void> h) -> weft::task<void> {
    try {
      co_await h;
    } catch (const weft::cancelled&) {
    }
  }(std::move(server)));
  fmt::print("  server: {} commands executed; INCR counter {} for {} INCRs sent{}\n", count(db.commands.load()),
             count(counter), count(incrs_sent), counter == incrs_sent ? " (each ran exactly once)" : "");
  if (counter != incrs_sent) {
    fmt::print("  FAILED: the counter does not match the INCRs sent\n");
    ok = false;
  }
  if (!left) {
    fmt::print("  FAILED: {} connection(s) still open 5 s after the load\n", db.connections.load());
    ok = false;
  }
  return ok;
}

}  // namespace weft_demo
