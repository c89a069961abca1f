// A small key-value server speaking Redis's protocol (RESP2), written on
// weft's public names only: the demo's `redis` scene runs it under
// redis-benchmark, and tests/net/resp_test.cpp checks it with redis-benchmark
// and redis-cli. One task per connection reads commands through
// buffered<tcp_stream> and answers every command that came in together with
// one write (pipelining). Commands: PING, ECHO, SET, GET, INCR, DEL, QUIT,
// and CONFIG GET (redis-benchmark asks for two settings first).
#pragma once

#include <atomic>
#include <cctype>
#include <charconv>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <net/net.hpp>
#include <runtime/runtime.hpp>

namespace weft_resp {

struct protocol_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct store {
  std::mutex m;  // held for one map operation, never across a co_await
  std::unordered_map<std::string, std::string> kv;
  std::atomic<long> commands{0};     // executed
  std::atomic<long> connections{0};  // open now
};

inline long parse_count(std::string_view digits, long max, const char* what) {
  long n = -1;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n < 0 || n > max)
    throw protocol_error(std::string("invalid ") + what);
  return n;
}

// One command: a RESP array of bulk strings, or an inline line ("PING").
// nullopt at a clean end of the stream.
inline weft::task<std::optional<std::vector<std::string>>> read_command(
    weft::net::buffered<weft::net::tcp_stream>& io) {
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

inline std::string bulk(std::string_view s) {
  std::string out = "$";  // appends: g++ 12 warns wrongly (-Wrestrict) on a chain of operator+
  out.append(std::to_string(s.size())).append("\r\n").append(s).append("\r\n");
  return out;
}

// A command as a client sends it: an array of bulk strings.
inline std::string command(std::initializer_list<std::string_view> args) {
  std::string out = "*";
  out.append(std::to_string(args.size())).append("\r\n");
  for (std::string_view a : args) out.append(bulk(a));
  return out;
}

inline std::string upper(std::string s) {
  for (char& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// The reply to one command; sets `quit` for QUIT.
inline std::string execute(store& db, const std::vector<std::string>& args, bool& quit) {
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
  if (cmd == "CONFIG" && arity(3) && upper(args[1]) == "GET") return "*2\r\n" + bulk(args[2]) + bulk("");
  return "-ERR unknown command '" + args[0] + "', or wrong number of arguments\r\n";
}

inline weft::task<void> session(weft::net::tcp_stream s, store* db) {
  db->connections.fetch_add(1, std::memory_order_relaxed);
  struct closing {
    store* db;
    ~closing() { db->connections.fetch_sub(1, std::memory_order_relaxed); }
  } count_down{db};
  weft::net::buffered<weft::net::tcp_stream> io(s);
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

// Accepts until aborted; a connection's task ends when its client leaves.
inline weft::task<void> serve(weft::net::tcp_listener l, store* db) {
  for (;;) {
    weft::net::tcp_stream s = co_await l.accept();  // not inside the spawn call: see the README on g++ 12
    weft::spawn(session(std::move(s), db), {.name = "resp-conn"}).detach();
  }
}

}  // namespace weft_resp
