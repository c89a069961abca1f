// A key-value server speaking Redis's protocol (RESP), written on weft's
// public names, answering clients no one here wrote: redis-benchmark with
// pipelining over many connections, and redis-cli. The counter it INCRs
// proves that every pipelined command ran exactly once.
#include <doctest/doctest.h>

#include <charconv>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/net/net_support.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft::net::buffered;
using weft::net::tcp_listener;
using weft::net::tcp_stream;
using weft_test::workers;

namespace {

struct protocol_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct store {
  std::mutex m;  // held for a map operation only, never across a co_await
  std::unordered_map<std::string, std::string> kv;
  std::atomic<long> commands{0};
};

long parse_count(std::string_view digits, long max, const char* what) {
  long n = -1;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n < 0 || n > max)
    throw protocol_error(std::string("invalid ") + what);
  return n;
}

// One command: a RESP array of bulk strings, or an inline line ("PING").
// nullopt at a clean end of the stream.
weft::task<std::optional<std::vector<std::string>>> read_command(buffered<tcp_stream>& io) {
  auto line = co_await io.read_line();
  if (!line) co_return std::nullopt;
  std::vector<std::string> args;
  if (line->empty() || line->front() != '*') {
    std::string_view rest = *line;
    while (!rest.empty()) {
      auto word_end = rest.find(' ');
      if (word_end != 0) args.emplace_back(rest.substr(0, word_end));
      rest = word_end == std::string_view::npos ? std::string_view() : rest.substr(word_end + 1);
    }
    co_return args;
  }
  long n = parse_count(line->substr(1), 1024, "multibulk length");
  for (long i = 0; i < n; ++i) {
    auto head = co_await io.read_line();
    if (!head || head->empty() || head->front() != '$') throw protocol_error("expected '$'");
    long len = parse_count(head->substr(1), 1 << 20, "bulk length");
    std::string arg(std::size_t(len) + 2, '\0');
    co_await io.read_exact(std::span<char>(arg.data(), arg.size()));
    if (arg[len] != '\r' || arg[len + 1] != '\n') throw protocol_error("bulk string not ended by CRLF");
    arg.resize(std::size_t(len));
    args.push_back(std::move(arg));
  }
  co_return args;
}

std::string bulk(std::string_view s) {
  std::string out = "$";  // appends: g++ 12 warns wrongly (-Wrestrict) on a chain of operator+
  out.append(std::to_string(s.size())).append("\r\n").append(s).append("\r\n");
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The reply to one command; sets `quit` for QUIT.
std::string execute(store& db, const std::vector<std::string>& args, bool& quit) {
  if (args.empty()) return "";
  db.commands.fetch_add(1, std::memory_order_relaxed);
  const std::string cmd = upper(args[0]);
  auto arity = [&](std::size_t n) { return args.size() == n; };
  if (cmd == "PING") return args.size() > 1 ? bulk(args[1]) : "+PONG\r\n";
  if (cmd == "ECHO" && arity(2)) return bulk(args[1]);
  if (cmd == "QUIT") {
    quit = true;
    return "+OK\r\n";
  }
  std::lock_guard lock(db.m);
  if (cmd == "SET" && arity(3)) {
    db.kv[args[1]] = args[2];
    return "+OK\r\n";
  }
  if (cmd == "GET" && arity(2)) {
    auto it = db.kv.find(args[1]);
    return it == db.kv.end() ? "$-1\r\n" : bulk(it->second);
  }
  if (cmd == "INCR" && arity(2)) {
    std::string& v = db.kv[args[1]];
    long n = 0;
    if (!v.empty()) {
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end != v.data() + v.size()) return "-ERR value is not an integer or out of range\r\n";
    }
    v = std::to_string(++n);
    return ":" + v + "\r\n";
  }
  if (cmd == "DEL" && args.size() >= 2) {
    long n = 0;
    for (std::size_t i = 1; i < args.size(); ++i) n += long(db.kv.erase(args[i]));
    return ":" + std::to_string(n) + "\r\n";
  }
  // redis-benchmark asks for these two settings first; it only prints them.
  if (cmd == "CONFIG" && arity(3) && upper(args[1]) == "GET") return "*2\r\n" + bulk(args[2]) + bulk("");
  return "-ERR unknown command '" + args[0] + "', or wrong number of arguments\r\n";
}

weft::task<void> session(tcp_stream s, store* db) {
  buffered<tcp_stream> io(s);
  bool quit = false;
  while (!quit) {
    std::optional<std::vector<std::string>> args;
    std::string bad;
    try {
      args = co_await read_command(io);
    } catch (const protocol_error& e) {
      bad = e.what();
    }
    if (!bad.empty()) {
      // Named, not built inside co_await (g++ 12: see the README).
      std::string error = "-ERR Protocol error: " + bad + "\r\n";
      co_await io.write(error);
      break;  // as Redis does: the stream cannot be trusted past this
    }
    if (!args) break;
    std::string reply = execute(*db, *args, quit);
    co_await io.write(reply);
    // Pipelining: one write for every command that came in together.
    if (io.pending().empty()) co_await io.flush();
  }
  co_await io.flush();
}

weft::task<void> serve(tcp_listener l, store* db) {
  for (;;) weft::spawn(session(co_await l.accept(), db)).detach();
}

weft_net_test::command_result run(std::string cmd) {
  return weft_net_test::run_command(cmd, 60);
}

}  // namespace

TEST_SUITE("net/resp") {
  TEST_CASE("a RESP server on weft answers redis-benchmark's pipelines and redis-cli") {
    REQUIRE_MESSAGE(weft_net_test::have_program("redis-benchmark"),
                    "redis-benchmark is missing (apt-get install redis-tools)");
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      // A multiple of the pipeline depth: redis-benchmark sends whole
      // pipelines, so it would issue n rounded up to one (5,000 -> 5,008 INCRs).
      static constexpr long pipeline = 16;
      static constexpr long n = weft_test::sanitized ? 4'800 : 20'000;
      static_assert(n % pipeline == 0);
      store db;
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      const std::string port = std::to_string(l.local_endpoint().port());
      auto server = weft::spawn(serve(std::move(l), &db));

      std::string bench = "redis-benchmark -h 127.0.0.1 -p " + port + " -c 20 -P " + std::to_string(pipeline) +
                          " -n " + std::to_string(n) + " -t ping,set,get,incr --csv";
      auto bench_job = [bench] { return run(bench); };
      auto out = co_await weft::spawn_blocking(std::move(bench_job));
      CHECK(out.status == 0);
      MESSAGE(out.output);
      for (const char* test : {"\"PING_INLINE\"", "\"PING_MBULK\"", "\"SET\"", "\"GET\"", "\"INCR\""})
        CHECK_MESSAGE(out.output.find(test) != std::string::npos, test);
      CHECK(db.commands.load() >= 5 * n);

      // Every INCR ran once: the benchmark's key is literal without -r.
      std::string cli = "redis-cli -h 127.0.0.1 -p " + port;
      std::string get_counter = cli + " get counter:__rand_int__";
      auto counter_job = [get_counter] { return run(get_counter); };
      auto counter = co_await weft::spawn_blocking(std::move(counter_job));
      CHECK(counter.status == 0);
      CHECK(counter.output == std::to_string(n) + "\n");
      std::string cmds =
          "printf 'SET greeting \"hello weft\"\\nGET greeting\\nINCR greeting\\nDEL greeting nope\\nFLY\\n' | " + cli;
      auto cli_job = [cmds] { return run(cmds); };
      auto session_out = co_await weft::spawn_blocking(std::move(cli_job));
      CHECK(session_out.status == 0);
      CHECK(session_out.output ==
            // (redis-cli follows an error with an empty line when not on a terminal)
            "OK\nhello weft\nERR value is not an integer or out of range\n\n1\n"
            "ERR unknown command 'FLY', or wrong number of arguments\n\n");
      server.abort();
    }());
  }

  TEST_CASE("a RESP request with a bad length gets an error and the connection closes") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      store db;
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto ep = l.local_endpoint();
      auto server = weft::spawn(serve(std::move(l), &db));
      for (std::string_view garbage : {"*1\r\n$99999999999\r\n", "*x\r\n", "*1\r\n$3\r\nGETXX"}) {
        auto c = co_await tcp_stream::connect(ep);
        co_await c.write_all(std::span<const char>(garbage.data(), garbage.size()));
        std::string reply;
        char buf[256];
        while (std::size_t got = co_await weft::timeout(5s, c.read_some(std::span<char>(buf, sizeof buf))))
          reply.append(buf, got);
        // (No CAPTURE here: doctest's context is per thread, and the task moves.)
        CHECK_MESSAGE(reply.starts_with("-ERR Protocol error: "), garbage);  // then the end of the stream
      }
      server.abort();
    }());
  }
}
