#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/net/net_support.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft::net::udp_socket;
using weft_test::workers;

TEST_SUITE("net/udp") {
  TEST_CASE("echo between sockets, connected and not, from many tasks") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto server = udp_socket::bind({"127.0.0.1", 0});
      auto addr = server.local_endpoint();
      auto srv = weft::spawn([](udp_socket* s) -> weft::task<int> {
        char buf[1500];
        int n = 0;
        for (;;) {
          auto [size, from] = co_await s->recv_from(buf);
          if (std::string_view(buf, size) == "stop") co_return n;
          co_await s->send_to(std::span<const char>(buf, size), from);
          ++n;
        }
      }(&server));
      constexpr int clients = 16, per_client = 50;
      std::vector<weft::join_handle<int>> hs;
      for (int c = 0; c < clients; ++c) {
        hs.push_back(weft::spawn([](weft::net::endpoint addr, int c) -> weft::task<int> {
          auto s = udp_socket::bind({"127.0.0.1", 0});
          s.connect(addr);
          int ok = 0;
          for (int i = 0; i < per_client; ++i) {
            std::string msg = std::to_string(c) + ":" + std::to_string(i);
            co_await s.send(msg);
            char buf[64];
            // Loopback does not drop under this load, but bound the wait.
            std::size_t n = co_await weft::timeout(5s, s.recv(buf));
            ok += std::string_view(buf, n) == msg;
          }
          co_return ok;
        }(addr, c)));
      }
      int ok = 0;
      for (auto& h : hs) ok += co_await h;
      CHECK(ok == clients * per_client);
      auto ctl = udp_socket::bind({"127.0.0.1", 0});
      co_await ctl.send_to(std::string_view("stop"), addr);
      CHECK(co_await srv == clients * per_client);
    }());
  }

  TEST_CASE("a pending receive is cancelled by timeout and by abort") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto s = udp_socket::bind({"127.0.0.1", 0});
      char buf[16];
      CHECK_THROWS_AS(co_await weft::timeout(20ms, s.recv_from(buf)), weft::timed_out);
      auto h = weft::spawn([](udp_socket* s) -> weft::task<void> {
        char b[16];
        co_await s->recv(b);
      }(&s));
      co_await weft::sleep_for(5ms);
      h.abort();
      CHECK_THROWS_AS(co_await h, weft::cancelled);
      // Still usable: a datagram sent now is received.
      auto t = udp_socket::bind({"127.0.0.1", 0});
      co_await t.send_to(std::string_view("hi"), s.local_endpoint());
      auto [n, from] = co_await s.recv_from(buf);
      CHECK(std::string_view(buf, n) == "hi");
      CHECK(from == t.local_endpoint());
    }());
  }

  TEST_CASE("a failed send or receive names the call") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      auto a = udp_socket::bind({"127.0.0.1", 0});
      auto b = udp_socket::bind({"127.0.0.1", 0});
      std::string huge(70000, 'x');  // over the 65,507 bytes a UDP datagram can carry
      CHECK_THROWS_WITH_AS((void)co_await a.send_to(huge, b.local_endpoint()),
                           "weft::net::udp_socket::send_to: Message too long", weft::net::net_error);
      a.connect(b.local_endpoint());
      CHECK_THROWS_WITH_AS((void)co_await a.send(huge), "weft::net::udp_socket::send: Message too long",
                           weft::net::net_error);
      // A datagram to a port nobody listens on: the ICMP reply fails the next receive.
      auto gone = udp_socket::bind({"127.0.0.1", 0});
      auto gone_at = gone.local_endpoint();
      gone.close();
      a.connect(gone_at);
      co_await a.send("ping");
      char buf[8];
      CHECK_THROWS_WITH_AS((void)co_await weft::timeout(5s, a.recv_from(buf)),
                           "weft::net::udp_socket::recv_from: Connection refused", weft::net::net_error);
      co_await a.send("ping");
      CHECK_THROWS_WITH_AS((void)co_await weft::timeout(5s, a.recv(buf)),
                           "weft::net::udp_socket::recv: Connection refused", weft::net::net_error);
    }());
  }
}
