#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/net/net_support.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft::net::tcp_listener;
using weft::net::tcp_stream;
using weft_net_test::eventually;
using weft_net_test::open_fds;
using weft_test::workers;

namespace {

std::span<const char> as_bytes(const std::string& s) { return {s.data(), s.size()}; }

weft::task<void> echo(tcp_stream s) {
  char buf[4096];
  while (std::size_t n = co_await s.read_some(buf)) co_await s.write_all(std::span<const char>(buf, n));
}

// Accepts `n` connections, serving each with `serve` in its own task, and
// waits for all of them.
template <class Serve>
weft::task<void> serve_n(tcp_listener l, int n, Serve serve) {
  std::vector<weft::join_handle<void>> hs;
  for (int i = 0; i < n; ++i) hs.push_back(weft::spawn(serve(co_await l.accept())));
  for (auto& h : hs) co_await h;
}

// The connect flood of the descriptor-limit test, in a forked child: only
// system calls (no allocation, no threads), so it is safe whatever the
// parent was doing. Opens `n` connections to 127.0.0.1:port at once and
// sends a byte on each. It waits for the echoes of the first `hold` (fewer
// than the server has descriptors for) without closing anything, and holds
// on a moment longer, so the server's accept runs into its descriptor limit
// with the rest still queued. Then it reads each echo in order and closes
// that connection, freeing a server descriptor for the next accept. Exit 0
// if every echo came back.
[[noreturn]] void flood_child(int port_pipe, int n, int hold) {
  std::uint16_t port = 0;
  if (::read(port_pipe, &port, sizeof port) != sizeof port) ::_exit(10);
  static int fds[1024];
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < n; ++i) {
    fds[i] = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fds[i] < 0 || ::connect(fds[i], reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) ::_exit(11);
    if (::write(fds[i], "x", 1) != 1) ::_exit(12);
  }
  auto read_echo = [](int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20000) != 1) ::_exit(13);
    char c = 0;
    if (::read(fd, &c, 1) != 1 || c != 'x') ::_exit(14);
  };
  for (int i = 0; i < hold; ++i) read_echo(fds[i]);
  ::usleep(300000);
  for (int i = 0; i < n; ++i) {
    if (i >= hold) read_echo(fds[i]);
    ::close(fds[i]);
  }
  ::_exit(0);
}

// The message of what `aw` throws as E ("" if it returns or throws something else).
template <class E, class Aw>
weft::task<std::string> thrown_by(Aw aw) {
  try {
    co_await std::move(aw);
  } catch (const E& e) {
    co_return e.what();
  }
  co_return "";
}

// A connected pair over loopback: {client, server side}.
weft::task<std::pair<tcp_stream, tcp_stream>> connected_pair() {
  auto l = tcp_listener::bind({"127.0.0.1", 0});
  auto acc = weft::spawn(l.accept());
  tcp_stream c = co_await tcp_stream::connect({"127.0.0.1", l.local_endpoint().port()});
  tcp_stream s = co_await acc;
  co_return std::pair<tcp_stream, tcp_stream>(std::move(c), std::move(s));
}

}  // namespace

TEST_SUITE("net/tcp") {
  TEST_CASE("echo, and a half-closed connection still gets its full reply") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      CHECK(l.local_endpoint().address().is_loopback());
      auto srv = weft::spawn(serve_n(std::move(l), 1, echo));
      auto c = co_await tcp_stream::connect({"127.0.0.1", port});
      CHECK(c.peer_endpoint().port() == port);
      // Bigger than the socket buffers, so the echo's writes block while we
      // are still writing: the client writes from one task, reads in another.
      std::string msg(4 << 20, '\0');
      for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = char('a' + i % 23);
      std::string got(msg.size(), '\0');
      auto reader = weft::spawn([](tcp_stream* c, std::string* got) -> weft::task<void> {
        co_await c->read_exact(*got);
        char extra[8];
        CHECK(co_await c->read_some(extra) == 0);  // the server closed after the echo
      }(&c, &got));
      co_await c.write_all(as_bytes(msg));
      c.shutdown(weft::net::shutdown_type::send);  // the server reads 0 only after everything
      co_await reader;
      CHECK(got == msg);
      co_await srv;
    }());
  }

  TEST_CASE("a FIN right behind the data is seen after a short read") {
    // A read that gets fewer bytes than it asked for takes the socket as
    // empty and waits for the next edge, unless the edge's event mask said
    // the peer shut its side: data and FIN that came in one edge must still
    // end in end-of-stream, not a wait forever. One worker, so the client's
    // write and shutdown both land before the reactor looks (one edge), and
    // the server is waiting on the socket by then (its read was registered).
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      for (int round = 0; round < 50; ++round) {
        auto l = tcp_listener::bind({"127.0.0.1", 0});
        auto port = l.local_endpoint().port();
        auto srv = weft::spawn([](tcp_listener l) -> weft::task<std::string> {
          tcp_stream s = co_await l.accept();
          std::string got;
          char buf[4096];
          // Short reads all the way: the reply is 2 bytes, the buffer 4 KiB.
          while (std::size_t n = co_await weft::timeout(5s, s.read_some(buf))) got.append(buf, n);
          co_return got;
        }(std::move(l)));
        auto c = co_await tcp_stream::connect({"127.0.0.1", port});
        co_await weft::sleep_for(1ms);  // the server's read finds nothing and waits
        co_await c.write_all(as_bytes("hi"));
        if (round % 2) co_await weft::sleep_for(1ms);  // odd rounds: the FIN gets an edge of its own
        c.shutdown(weft::net::shutdown_type::send);
        CHECK(co_await srv == "hi");
      }
    }());
  }

  TEST_CASE("accepted connections get TCP_NODELAY; connect by host name resolves") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto accepted = weft::spawn([](tcp_listener l) -> weft::task<bool> {
        tcp_stream s = co_await l.accept();
        co_return s.nodelay();
      }(std::move(l)));
      auto c = co_await tcp_stream::connect("localhost", port);
      CHECK(co_await accepted);
      CHECK_FALSE(c.nodelay());
      c.set_nodelay(true);
      CHECK(c.nodelay());
    }());
  }

  TEST_CASE("many concurrent echo connections whose tasks move between workers") {
    weft::runtime rt{workers(2)};
    static constexpr int conns = weft_test::sanitized ? 64 : 200;
    static constexpr int rounds = 20;
    std::mutex m;
    int moved = 0;
    rt.block_on([&]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto serve = [&](tcp_stream s) -> weft::task<void> {
        std::set<std::thread::id> threads{std::this_thread::get_id()};
        char buf[512];
        while (std::size_t n = co_await s.read_some(buf)) {
          threads.insert(std::this_thread::get_id());
          co_await s.write_all(std::span<const char>(buf, n));
          threads.insert(std::this_thread::get_id());
        }
        std::lock_guard lock(m);
        if (threads.size() > 1) ++moved;
      };
      auto srv = weft::spawn(serve_n(std::move(l), conns, serve));
      std::vector<weft::join_handle<int>> clients;
      for (int i = 0; i < conns; ++i) {
        clients.push_back(weft::spawn([](std::uint16_t port, int id) -> weft::task<int> {
          auto c = co_await tcp_stream::connect({"127.0.0.1", port});
          int ok = 0;
          for (int r = 0; r < rounds; ++r) {
            std::string msg = "conn " + std::to_string(id) + " round " + std::to_string(r);
            co_await c.write_all(as_bytes(msg));
            std::string back(msg.size(), '\0');
            co_await c.read_exact(back);
            ok += back == msg;
            if (r % 5 == 0) co_await weft::yield_now();
          }
          co_return ok;
        }(port, i)));
      }
      int ok = 0;
      for (auto& h : clients) ok += co_await h;
      CHECK(ok == conns * rounds);
      clients.clear();  // closes nothing: the streams lived in the client tasks
      co_await srv;
    }());
    // Sockets are spread over both reactors while the serving task starts
    // wherever it was spawned: completions move tasks to their homes.
    CHECK(moved > 0);
  }

  TEST_CASE("a peer reset is connection_reset for that connection only, SIGPIPE never fires") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto srv = weft::spawn([](tcp_listener l) -> weft::task<int> {
        int resets = 0;
        for (int i = 0; i < 2; ++i) {
          tcp_stream s = co_await l.accept();
          char buf[64];
          // Wait for the peer's reset, then keep writing into the dead
          // connection: EPIPE/ECONNRESET, never a signal.
          try {
            while (co_await s.read_some(buf) > 0) {
            }
          } catch (const weft::net::connection_reset&) {
            ++resets;
          }
          std::string big(1 << 16, 'x');
          try {
            for (int k = 0; k < 64; ++k) co_await s.write_all(as_bytes(big));
          } catch (const weft::net::connection_reset& e) {
            ++resets;
            CHECK((e.code() == std::errc::broken_pipe || e.code() == std::errc::connection_reset));
          }
        }
        co_return resets;
      }(std::move(l)));
      for (int i = 0; i < 2; ++i) {
        auto c = co_await tcp_stream::connect({"127.0.0.1", port});
        co_await c.write_all(as_bytes("some bytes"));
        c.close_with_reset();
      }
      CHECK(co_await srv == 4);
    }());
    struct sigaction sa {};
    sigaction(SIGPIPE, nullptr, &sa);
    CHECK((sa.sa_handler == SIG_IGN));  // the library set it, as it was the default
  }

  TEST_CASE("read_exact throws unexpected_eof when the peer closes early") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto srv = weft::spawn([](tcp_listener l) -> weft::task<void> {
        tcp_stream s = co_await l.accept();
        co_await s.write_all(as_bytes("abc"));
      }(std::move(l)));
      auto c = co_await tcp_stream::connect({"127.0.0.1", port});
      char buf[10];
      CHECK_THROWS_WITH_AS(co_await c.read_exact(buf),
                           "weft::net::read_exact: the peer closed after 3 of 10 bytes: end of stream",
                           weft::net::unexpected_eof);
      co_await srv;
    }());
  }

  TEST_CASE("connect to a closed port is a net_error") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      std::uint16_t port;
      {
        auto l = tcp_listener::bind({"127.0.0.1", 0});
        port = l.local_endpoint().port();
      }
      try {
        co_await tcp_stream::connect({"127.0.0.1", port});
        FAIL("connected to a closed port");
      } catch (const weft::net::net_error& e) {
        CHECK(e.code() == std::errc::connection_refused);
        // The message names the address.
        CHECK(std::string(e.what()).starts_with("weft::net::connect to 127.0.0.1:" + std::to_string(port) + ": "));
      }
      CHECK_THROWS_AS(tcp_listener::bind({"256.0.0.1", 0}), std::invalid_argument);
    }());
    CHECK_THROWS_AS(tcp_listener::bind({"127.0.0.1", 0}), weft::runtime_misuse);
  }

  TEST_CASE("abort and timeout cancel pending reads, accepts, connects and writes") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      // accept, by timeout
      CHECK_THROWS_AS(co_await weft::timeout(20ms, l.accept()), weft::timed_out);
      auto c = co_await tcp_stream::connect({"127.0.0.1", port});
      tcp_stream s = co_await l.accept();
      char buf[16];
      // read, by timeout (the awaitable moves into timeout's child task)
      CHECK_THROWS_AS(co_await weft::timeout(20ms, s.read_some(buf)), weft::timed_out);
      // read, by abort
      auto reader = weft::spawn([](tcp_stream* s) -> weft::task<std::size_t> {
        char b[16];
        co_return co_await s->read_some(b);
      }(&s));
      co_await weft::sleep_for(10ms);
      reader.abort();
      CHECK_THROWS_AS(co_await reader, weft::cancelled);
      // Nothing was lost: the stream still works.
      co_await c.write_all(as_bytes("after"));
      co_await s.read_exact(std::span<char>(buf, 5));
      CHECK(std::string_view(buf, 5) == "after");
      // write_all into a peer that does not read: blocks, then is cancelled.
      auto writer = weft::spawn([](tcp_stream* s) -> weft::task<void> {
        std::string big(1 << 20, 'x');
        for (;;) co_await s->write_all(as_bytes(big));
      }(&s));
      co_await weft::sleep_for(20ms);
      writer.abort();
      CHECK_THROWS_AS(co_await writer, weft::cancelled);
      // connect, by timeout: a listener whose backlog is full and that never
      // accepts drops further SYNs, so the next connect hangs.
      weft::net::listen_options o;
      o.backlog = 1;
      auto full = tcp_listener::bind({"127.0.0.1", 0}, o);
      auto fport = full.local_endpoint().port();
      std::vector<tcp_stream> queued;
      bool timed_out = false;
      for (int i = 0; i < 16 && !timed_out; ++i) {
        try {
          queued.push_back(co_await weft::timeout(100ms, tcp_stream::connect({"127.0.0.1", fport})));
        } catch (const weft::timed_out&) {
          timed_out = true;
        }
      }
      CHECK(timed_out);
    }());
  }

  TEST_CASE("a read racing its deadline either returns data or times out; no byte is lost") {
    weft::runtime rt{workers(2)};
    static constexpr int rounds = weft_test::sanitized ? 300 : 2000;
    rt.block_on([]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto c = co_await tcp_stream::connect({"127.0.0.1", port});
      tcp_stream s = co_await l.accept();
      auto sender = weft::spawn([](tcp_stream* c) -> weft::task<void> {
        std::minstd_rand rng(7);
        for (int i = 0; i < rounds; ++i) {
          // Sometimes right away, sometimes around the reader's deadline.
          if (rng() % 2) co_await weft::sleep_for(std::chrono::microseconds(rng() % 400));
          char b = char(i);
          co_await c->write_all(std::span<const char>(&b, 1));
        }
      }(&c));
      int received = 0, timeouts = 0;
      std::vector<char> seen;
      while (received < rounds) {
        char buf[64];
        try {
          std::size_t n = co_await weft::timeout(std::chrono::microseconds(200), s.read_some(buf));
          REQUIRE(n > 0);
          seen.insert(seen.end(), buf, buf + n);
          received += int(n);
        } catch (const weft::timed_out&) {
          ++timeouts;
        }
      }
      co_await sender;
      CHECK(received == rounds);
      bool in_order = true;
      for (int i = 0; i < rounds; ++i) in_order &= seen[std::size_t(i)] == char(i);
      CHECK(in_order);
      MESSAGE("timeouts: " << timeouts);
    }());
  }

  TEST_CASE("a zero timeout on a read returns data that is already there") {
    // One worker: it sleeps in the reactor that harvests the socket's edge,
    // so by the time the task wakes weft knows the socket is readable. (With
    // more workers the edge may still be on its way through another worker's
    // reactor; then the read has to wait, and a zero timeout ends it, as in
    // Tokio. Nothing is lost either way: see the test above.)
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto c = co_await tcp_stream::connect({"127.0.0.1", l.local_endpoint().port()});
      tcp_stream s = co_await l.accept();
      for (int i = 0; i < 50; ++i) {
        co_await c.write_all("data");
        co_await weft::sleep_for(1ms);
        char buf[4];
        bool timed_out = false;
        try {
          CHECK(co_await weft::timeout(0ms, s.read_some(buf)) == 4);
        } catch (const weft::timed_out&) {
          timed_out = true;
        }
        CHECK_FALSE(timed_out);
        if (timed_out) CHECK(co_await s.read_some(buf) == 4);  // and nothing was lost
      }
      // Nothing there: the read ends by the deadline.
      char buf[4];
      CHECK_THROWS_AS((void)co_await weft::timeout(0ms, s.read_some(buf)), weft::timed_out);
    }());
  }

  TEST_CASE("silent peers end by deadline, without leaking descriptors") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      weft_net_test::warm_reactors(2);
      int before = open_fds();
      {
        auto l = tcp_listener::bind({"127.0.0.1", 0});
        auto port = l.local_endpoint().port();
        std::atomic<int> timed_out{0};
        auto srv = weft::spawn(serve_n(std::move(l), 20, [&](tcp_stream s) -> weft::task<void> {
          char buf[64];
          try {
            co_await weft::timeout(50ms, s.read_some(buf));
          } catch (const weft::timed_out&) {
            ++timed_out;
          }
        }));
        std::vector<tcp_stream> silent;
        for (int i = 0; i < 20; ++i) silent.push_back(co_await tcp_stream::connect({"127.0.0.1", port}));
        co_await srv;
        CHECK(timed_out == 20);
      }
      CHECK(open_fds() == before);
    }());
  }

  TEST_CASE("10,000 connections reset at random points leak no descriptor") {
    weft::runtime rt{workers(2)};
    static constexpr int total = 10000;
    static constexpr int parallel = 32;
    rt.block_on([]() -> weft::task<void> {
      weft_net_test::warm_reactors(2);
      int before = open_fds();
      std::atomic<int> live{0}, handled{0}, resets{0};
      {
        auto l = tcp_listener::bind({"127.0.0.1", 0});
        auto port = l.local_endpoint().port();
        auto acceptor = weft::spawn([](tcp_listener l, std::atomic<int>* live, std::atomic<int>* handled,
                                       std::atomic<int>* resets) -> weft::task<void> {
          for (;;) {
            tcp_stream s = co_await l.accept();
            ++*live;
            weft::spawn([](tcp_stream s, std::atomic<int>* live, std::atomic<int>* handled,
                           std::atomic<int>* resets) -> weft::task<void> {
              try {
                co_await echo(std::move(s));
              } catch (const weft::net::connection_reset&) {
                ++*resets;
              }
              ++*handled;
              --*live;
            }(std::move(s), live, handled, resets));
          }
        }(std::move(l), &live, &handled, &resets));
        std::vector<weft::join_handle<void>> clients;
        for (int p = 0; p < parallel; ++p) {
          clients.push_back(weft::spawn([](std::uint16_t port, int p) -> weft::task<void> {
            std::minstd_rand rng(unsigned(p + 1));
            std::string msg(1000, 'r');
            char buf[1000];
            for (int i = p; i < total; i += parallel) {
              auto c = co_await tcp_stream::connect({"127.0.0.1", port});
              switch (rng() % 5) {
                case 0:  // reset at once
                  break;
                case 1:  // reset with our data unread by the server
                  co_await c.write_all(as_bytes(msg));
                  break;
                case 2:  // reset with the echo unread by us
                  co_await c.write_all(as_bytes(msg));
                  co_await c.read_some(std::span<char>(buf, 1));
                  break;
                case 3:  // reset mid-reply
                  co_await c.write_all(as_bytes(msg));
                  co_await c.read_exact(std::span<char>(buf, 1 + rng() % 999));
                  break;
                default:  // orderly: full echo, half-close, end
                  co_await c.write_all(as_bytes(msg));
                  co_await c.read_exact(buf);
                  c.shutdown(weft::net::shutdown_type::send);
                  CHECK(co_await c.read_some(buf) == 0);
                  continue;
              }
              c.close_with_reset();
            }
          }(port, p)));
        }
        for (auto& h : clients) co_await h;
        CHECK(co_await eventually([&] { return handled.load() == total; }, 30s));
        acceptor.abort();
        CHECK_THROWS_AS(co_await acceptor, weft::cancelled);
      }
      CHECK(live == 0);
      CHECK(resets > 0);
      MESSAGE("resets seen by the server: " << resets.load());
      CHECK(open_fds() == before);
    }());
  }

  TEST_CASE("accept under RLIMIT_NOFILE 64 backs off and recovers as descriptors free up") {
    static constexpr int conns = 150;
    int port_pipe[2];
    REQUIRE(::pipe(port_pipe) == 0);
    // Fork before this test starts any thread (and with nothing buffered).
    std::fflush(nullptr);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(port_pipe[1]);
      flood_child(port_pipe[0], conns, 30);
    }
    ::close(port_pipe[0]);
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    rlimit low = old;
    low.rlim_cur = 64;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::uint64_t backoffs = 0;
    int served = 0;
    {
      weft::runtime rt{workers(2)};
      rt.block_on([&]() -> weft::task<void> {
        auto l = tcp_listener::bind({"127.0.0.1", 0});
        std::uint16_t port = l.local_endpoint().port();
        REQUIRE(::write(port_pipe[1], &port, sizeof port) == sizeof port);
        std::vector<weft::join_handle<bool>> hs;
        for (int i = 0; i < conns; ++i) {
          tcp_stream s = co_await weft::timeout(30s, l.accept());
          hs.push_back(weft::spawn([](tcp_stream s) -> weft::task<bool> {
            char c;
            co_await s.read_exact(std::span<char>(&c, 1));
            co_await s.write_all(std::span<const char>(&c, 1));
            bool eof = co_await s.read_some(std::span<char>(&c, 1)) == 0;  // the client closed
            // Parameters live as long as the frame, which our join handle
            // keeps: give the descriptor back now.
            s.close();
            co_return eof;
          }(std::move(s))));
        }
        for (auto& h : hs) served += co_await h;
        backoffs = l.backoff_count();
      }());
    }
    ::setrlimit(RLIMIT_NOFILE, &old);
    ::close(port_pipe[1]);
    int status = -1;
    for (int i = 0; i < 3000 && ::waitpid(child, &status, WNOHANG) == 0; ++i) ::usleep(10000);
    if (status == -1) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
    }
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(served == conns);
    // It did hit the limit, and backed off rather than spun (a spinning
    // accept would count millions here).
    CHECK(backoffs > 0);
    CHECK(backoffs < 5000);
    MESSAGE("accept backed off " << backoffs << " times");
  }

  TEST_CASE("closing a listener ends an accept that backs off out of descriptors") {
    // The back-off slept holding the listener's core: closing woke nothing,
    // and after the sleep the accept used the freed core (a new user saw it
    // accept a connection of the next listener bound, or fail with EBADF).
    rlimit old{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
    std::vector<int> filler;
    std::string thrown;
    std::uint64_t backoffs = 0;
    std::chrono::steady_clock::duration took{};
    {
      weft::runtime rt{workers(2)};
      rt.block_on([&]() -> weft::task<void> {
        auto l = tcp_listener::bind({"127.0.0.1", 0});
        tcp_stream waiting = co_await tcp_stream::connect({"127.0.0.1", l.local_endpoint().port()});
        rlimit low = old;
        low.rlim_cur = rlim_t(open_fds() + 8);
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
        for (int fd; (fd = ::open("/dev/null", O_RDONLY)) >= 0;) filler.push_back(fd);
        auto acc = weft::spawn(thrown_by<weft::net::net_error>(l.accept()));
        // Eight back-offs: it sleeps 128 ms now.
        for (int i = 0; i < 2000 && l.backoff_count() < 8; ++i) co_await weft::sleep_for(1ms);
        backoffs = l.backoff_count();
        auto t0 = std::chrono::steady_clock::now();
        l.close();
        thrown = co_await acc;
        took = std::chrono::steady_clock::now() - t0;
      }());
    }
    for (int fd : filler) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &old);
    CHECK(backoffs >= 8);
    CHECK(thrown.find("closed while waiting") != std::string::npos);
    CHECK(took < std::chrono::milliseconds(60));
  }

  TEST_CASE("a second task reading or accepting at once gets runtime_misuse; the first is not lost") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto first = weft::spawn(l.accept());
      co_await weft::sleep_for(20ms);  // it waits on the listener's watch now
      CHECK(co_await thrown_by<weft::runtime_misuse>(l.accept()) ==
            "weft::net::tcp_listener::accept: another task is already accepting on this listener "
            "(one accepting task at a time)");
      auto c = co_await tcp_stream::connect({"127.0.0.1", port});
      tcp_stream s = co_await weft::timeout(5s, std::move(first));  // the first was not lost
      CHECK(s.is_open());

      char buf[16];
      // The main task waits once first, so the watch exists before the
      // reader task starts (both then see it without racing to install it).
      CHECK_THROWS_AS(co_await weft::timeout(1ms, s.read_some(buf)), weft::timed_out);
      auto reader = weft::spawn([](tcp_stream* s) -> weft::task<std::size_t> {
        char b[16];
        co_return co_await s->read_some(b);
      }(&s));
      co_await weft::sleep_for(20ms);
      const std::string second =
          "another task is already reading this socket (a stream allows one reading and one writing "
          "task at a time)";
      CHECK(co_await thrown_by<weft::runtime_misuse>(s.read_some(buf)) ==
            "weft::net::tcp_stream::read_some: " + second);
      CHECK(co_await thrown_by<weft::runtime_misuse>(s.wait_readable()) ==
            "weft::net::tcp_stream::wait_readable: " + second);
      co_await c.write_all(as_bytes("hello"));
      CHECK(co_await weft::timeout(5s, std::move(reader)) == 5);
      // The misuse left no trace: the stream reads on as usual.
      co_await c.write_all(as_bytes("again"));
      co_await s.read_exact(std::span<char>(buf, 5));
      CHECK(std::string_view(buf, 5) == "again");
    }());
  }

  TEST_CASE("closing a socket or listener wakes its pending accept, read or wait_readable") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      // The accept loop stopped by closing its listener.
      auto l = std::make_unique<tcp_listener>(tcp_listener::bind({"127.0.0.1", 0}));
      auto acceptor = weft::spawn([](tcp_listener* l) -> weft::task<std::string> {
        std::string why;
        try {
          for (;;) co_await l->accept();
        } catch (const weft::net::net_error& e) {
          CHECK(e.code() == std::errc::operation_canceled);
          why = e.what();
        }
        co_return why;
      }(l.get()));
      co_await weft::sleep_for(20ms);
      l->close();
      CHECK(co_await weft::timeout(5s, std::move(acceptor)) ==
            "weft::net::tcp_listener::accept: the socket was closed while waiting: Operation canceled");
      l.reset();

      // A read, ended by close(); a wait_readable, by destroying the stream.
      for (bool destroy : {false, true}) {
        auto [c, s0] = co_await connected_pair();
        auto s = std::make_unique<tcp_stream>(std::move(s0));
        auto reader = weft::spawn([](tcp_stream* s, bool wait) -> weft::task<std::string> {
          char b[16];
          if (wait) co_return co_await thrown_by<weft::net::net_error>(s->wait_readable());
          co_return co_await thrown_by<weft::net::net_error>(s->read_some(b));
        }(s.get(), destroy));
        co_await weft::sleep_for(20ms);
        if (destroy) s.reset();
        else s->close();
        CHECK(co_await weft::timeout(5s, std::move(reader)) ==
              (destroy ? "weft::net::wait: the socket was closed while waiting: Operation canceled"
                       : "weft::net::read_some: the socket was closed while waiting: Operation canceled"));
      }
    }());
  }

  TEST_CASE("a runtime destroyed with reads and accepts waiting lets go of every socket") {
    // Each waiting read or accept is registered on its socket's readiness
    // watch. Tearing down destroys the tasks' frames in no set order: the
    // operation may go before the socket it waits on (owned by another task)
    // or after it. Either way no destroyed operation is woken (it was, as a
    // use-after-free the ASan build reports), the watch is freed (LeakSanitizer)
    // and no descriptor is left open.
    static constexpr auto read_own = [](tcp_stream s) -> weft::task<void> {
      char b[16];
      co_await s.read_some(b);
    };
    static constexpr auto read_borrowed = [](tcp_stream* s) -> weft::task<void> {
      char b[16];
      co_await s->read_some(b);
    };
    static constexpr auto keep = [](tcp_stream s [[maybe_unused]]) -> weft::task<void> {
      co_await weft::sleep_for(1h);
    };
    static constexpr auto accept_one = [](tcp_listener l) -> weft::task<void> { co_await l.accept(); };
    const int fds_before = open_fds();
    {
      weft::runtime rt{workers(2)};
      rt.block_on([]() -> weft::task<void> {
        weft_net_test::warm_reactors(2);
        for (int i = 0; i < 20; ++i) {
          auto [c, s] = co_await connected_pair();
          if (i % 2) {
            weft::spawn(read_own(std::move(s)));
          } else {
            auto owned = std::make_unique<tcp_stream>(std::move(s));
            tcp_stream* borrowed = owned.get();
            weft::spawn([](std::unique_ptr<tcp_stream> s [[maybe_unused]]) -> weft::task<void> {
              co_await weft::sleep_for(1h);
            }(std::move(owned)));
            weft::spawn(read_borrowed(borrowed));
          }
          weft::spawn(keep(std::move(c)));
        }
        auto listener = tcp_listener::bind({"127.0.0.1", 0});
        weft::spawn(accept_one(std::move(listener)));
        co_await weft::sleep_for(50ms);  // every read and the accept wait on their watches
      }());
    }
    CHECK(open_fds() == fds_before);
  }

  TEST_CASE("closing a socket while its reading task is aborted: one of the two ends the read") {
    // The close wakes the reader while an abort may fire its cancel hook on
    // the socket's watch: the sanitizer builds check that nothing freed is
    // touched, and every round ends one way or the other.
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      const int rounds = 300;
      int closed = 0, aborted = 0;
      for (int i = 0; i < rounds; ++i) {
        auto [c, s0] = co_await connected_pair();
        auto s = std::make_unique<tcp_stream>(std::move(s0));
        std::atomic<bool> started{false}, go{false};
        auto reader = weft::spawn([](tcp_stream* s, std::atomic<bool>* started) -> weft::task<void> {
          char b[16];
          auto read = s->read_some(b);
          started->store(true);
          co_await read;  // registers on the watch within microseconds
        }(s.get(), &started));
        while (!started.load()) co_await weft::yield_now();
        co_await weft::sleep_for(weft_test::sanitized ? 5ms : 2ms);
        // Both spin until `go`, then race; which is spawned last (and
        // likely runs first) alternates.
        auto abort_it = [](weft::join_handle<void>* r, std::atomic<bool>* go) -> weft::task<void> {
          while (!go->load()) co_await weft::yield_now();
          r->abort();
        };
        auto close_it = [](std::unique_ptr<tcp_stream>* s, std::atomic<bool>* go) -> weft::task<void> {
          while (!go->load()) co_await weft::yield_now();
          s->reset();
        };
        std::vector<weft::join_handle<void>> racers;
        if (i % 2) racers.push_back(weft::spawn(abort_it(&reader, &go)));
        racers.push_back(weft::spawn(close_it(&s, &go)));
        if (i % 2 == 0) racers.push_back(weft::spawn(abort_it(&reader, &go)));
        go = true;
        for (auto& r : racers) co_await r;
        try {
          co_await weft::timeout(5s, std::move(reader));
        } catch (const weft::cancelled&) {
          ++aborted;
        } catch (const weft::net::net_error& e) {
          CHECK(e.code() == std::errc::operation_canceled);
          ++closed;
        }
      }
      CHECK(closed + aborted == rounds);
      MESSAGE("closed " << closed << ", aborted " << aborted);
    }());
  }
}
