// The demo's Redis-protocol server (tools/resp_server.hpp, weft's public
// names only) answering clients no one here wrote: redis-benchmark with
// pipelining over many connections, and redis-cli. The counter it INCRs
// proves that every pipelined command ran exactly once.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/net/net_support.hpp>
#include <tests/support/test_runtime.hpp>
#include <tools/resp_server.hpp>

using namespace std::chrono_literals;
using weft::net::tcp_listener;
using weft::net::tcp_stream;
using weft_test::workers;

namespace {

using weft_resp::serve;
using weft_resp::store;

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
      // Every client is gone, and so is every connection's task.
      auto all_closed = [&db] { return db.connections.load() == 0; };
      CHECK(co_await weft_net_test::eventually(all_closed));
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
