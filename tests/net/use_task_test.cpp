// Beast's parser trips g++ 12's -Wmaybe-uninitialized (a false positive in
// boost::optional) at -O2 with the sanitizers; the warning is reported at
// instantiation time, so it is silenced for this whole file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <net/asio.hpp>
#include <net/net.hpp>
#include <net/use_task.hpp>
#include <runtime/runtime.hpp>
#include <tests/net/net_support.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using weft::net::tcp_listener;
using weft::net::tcp_stream;
using weft_test::workers;

namespace {

// A connected pair of Asio sockets on weft reactors.
weft::task<std::pair<asio::ip::tcp::socket, asio::ip::tcp::socket>> asio_pair() {
  auto l = tcp_listener::bind({"127.0.0.1", 0});
  auto c = co_await tcp_stream::connect({"127.0.0.1", l.local_endpoint().port()});
  auto s = co_await l.accept();
  co_return std::pair(weft::net::into_asio(std::move(c)), weft::net::into_asio(std::move(s)));
}

weft::task<void> http_session(tcp_stream s, std::atomic<int>* requests) {
  auto sock = weft::net::into_asio(std::move(s));
  beast::flat_buffer buf;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(sock, buf, req, weft::use_task_nothrow);
    (void)n;
    if (ec == http::error::end_of_stream) break;
    if (ec) throw boost::system::system_error(ec);
    ++*requests;
    http::response<http::string_body> res(http::status::ok, req.version());
    res.set(http::field::content_type, "text/plain");
    res.body() = "hello from weft: " + std::string(req.target()) + "\n";
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    co_await http::async_write(sock, res, weft::use_task);
    if (!res.keep_alive()) break;
  }
  boost::system::error_code ec;
  sock.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

weft::task<void> ws_session(tcp_stream s) {
  websocket::stream<asio::ip::tcp::socket> ws(weft::net::into_asio(std::move(s)));
  co_await ws.async_accept(weft::use_task);
  for (;;) {
    beast::flat_buffer b;
    auto [ec, n] = co_await ws.async_read(b, weft::use_task_nothrow);
    (void)n;
    if (ec == websocket::error::closed) break;
    if (ec) throw boost::system::system_error(ec);
    ws.text(ws.got_text());
    co_await ws.async_write(b.data(), weft::use_task);
  }
}

}  // namespace

TEST_SUITE("net/use_task") {
  TEST_CASE("Asio operations return their results, throw or return their errors") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      asio::steady_timer t(weft::net::next_io_executor(), 2ms);
      co_await t.async_wait(weft::use_task);  // void(error_code): returns nothing

      auto [a, b] = co_await asio_pair();
      std::string msg = "0123456789";
      std::size_t w = co_await asio::async_write(a, asio::buffer(msg), weft::use_task);
      CHECK(w == 10);
      char buf[10];
      std::size_t r = co_await asio::async_read(b, asio::buffer(buf), weft::use_task);
      CHECK(r == 10);
      CHECK(std::string_view(buf, 10) == msg);

      // End of stream, seen once per connection (Asio hangs reading twice
      // past it on an edge-triggered reactor), through each flavour.
      a.shutdown(asio::ip::tcp::socket::shutdown_send);
      auto [ec, n] = co_await b.async_read_some(asio::buffer(buf), weft::use_task_nothrow);
      CHECK(ec == asio::error::eof);
      CHECK(n == 0);
      auto [c, d] = co_await asio_pair();
      c.shutdown(asio::ip::tcp::socket::shutdown_send);
      auto [ec2, n2] = co_await d.async_read_some(asio::buffer(buf), asio::as_tuple(weft::use_task));
      CHECK(ec2 == asio::error::eof);
      (void)n2;
      auto [e, f] = co_await asio_pair();
      e.shutdown(asio::ip::tcp::socket::shutdown_send);
      CHECK_THROWS_AS(co_await f.async_read_some(asio::buffer(buf), weft::use_task), boost::system::system_error);
      boost::system::error_code only = co_await t.async_wait(weft::use_task_nothrow);
      CHECK_FALSE(only);

      // redirect_error: the error_code goes to the variable, the rest is returned.
      boost::system::error_code rec = asio::error::fault;
      t.expires_after(1ms);
      co_await t.async_wait(asio::redirect_error(weft::use_task, rec));
      CHECK_FALSE(rec);
      auto [g, h] = co_await asio_pair();
      co_await asio::async_write(g, asio::buffer(msg), weft::use_task);
      std::size_t got = co_await asio::async_read(h, asio::buffer(buf), asio::redirect_error(weft::use_task, rec));
      CHECK(got == 10);
      CHECK_FALSE(rec);
      g.shutdown(asio::ip::tcp::socket::shutdown_send);
      std::size_t none = co_await h.async_read_some(asio::buffer(buf), asio::redirect_error(weft::use_task, rec));
      CHECK(rec == asio::error::eof);
      CHECK(none == 0);
    }());
  }

  TEST_CASE("abort and timeout reach the operation's cancellation slot") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto h = weft::spawn([]() -> weft::task<void> {
        asio::steady_timer t(weft::net::next_io_executor(), 1h);
        co_await t.async_wait(weft::use_task);
      }());
      co_await weft::sleep_for(5ms);
      auto t0 = std::chrono::steady_clock::now();
      h.abort();
      CHECK_THROWS_AS(co_await h, weft::cancelled);
      CHECK(weft_test::ms_since(t0) < 1s);

      // A composed operation (async_read of 100 bytes, 50 arrive) cancelled
      // between its steps.
      auto [a, b] = co_await asio_pair();
      std::string half(50, 'h');
      co_await asio::async_write(a, asio::buffer(half), weft::use_task);
      char buf[100];
      CHECK_THROWS_AS(co_await weft::timeout(30ms, asio::async_read(b, asio::buffer(buf), weft::use_task)),
                      weft::timed_out);
      // Through redirect_error too: a cancelled wait throws, it does not
      // report operation_aborted in the variable.
      boost::system::error_code ec;
      asio::steady_timer t(weft::net::next_io_executor(), 1h);
      CHECK_THROWS_AS(co_await weft::timeout(10ms, t.async_wait(asio::redirect_error(weft::use_task, ec))),
                      weft::timed_out);
    }());
  }

  TEST_CASE("completions racing cancellation: exactly one outcome each, no hang") {
    weft::runtime rt{workers(2)};
    static constexpr int rounds = weft_test::sanitized ? 300 : 3000;
    rt.block_on([]() -> weft::task<void> {
      int done = 0, timed_out = 0;
      asio::steady_timer t(weft::net::next_io_executor());
      for (int i = 0; i < rounds; ++i) {
        t.expires_after(std::chrono::microseconds(50 + i % 100));
        try {
          co_await weft::timeout(std::chrono::microseconds(100), t.async_wait(weft::use_task));
          ++done;
        } catch (const weft::timed_out&) {
          ++timed_out;
        }
      }
      CHECK(done + timed_out == rounds);
      MESSAGE("completed " << done << ", timed out " << timed_out);
    }());
  }

  TEST_CASE("a Beast HTTP/1.1 server on weft answers curl, keeping the connection alive") {
    REQUIRE_MESSAGE(weft_net_test::have_program("curl"), "the curl command is missing (apt-get install curl)");
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      std::atomic<int> requests{0};
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto srv = weft::spawn([](tcp_listener l, std::atomic<int>* requests) -> weft::task<void> {
        co_await http_session(co_await l.accept(), requests);  // curl reuses one connection
      }(std::move(l), &requests));
      std::string base = "http://127.0.0.1:" + std::to_string(port);
      std::string cmd = "curl -sS --max-time 10 " + base + "/one " + base + "/two";
      auto job = [cmd] { return weft_net_test::run_command(cmd, 20); };
      auto out = co_await weft::spawn_blocking(std::move(job));
      CHECK(out.status == 0);
      CHECK(out.output == "hello from weft: /one\nhello from weft: /two\n");
      co_await weft::timeout(10s, std::move(srv));
      CHECK(requests == 2);
    }());
  }

  TEST_CASE("a Beast WebSocket echo server on weft, with Beast clients") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      static constexpr int clients = 8, messages = 20;
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto srv = weft::spawn([](tcp_listener l) -> weft::task<void> {
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < clients; ++i) hs.push_back(weft::spawn(ws_session(co_await l.accept())));
        for (auto& h : hs) co_await h;
      }(std::move(l)));
      std::vector<weft::join_handle<int>> cs;
      for (int c = 0; c < clients; ++c) {
        cs.push_back(weft::spawn([](std::uint16_t port, int c) -> weft::task<int> {
          websocket::stream<asio::ip::tcp::socket> ws(
              weft::net::into_asio(co_await tcp_stream::connect({"127.0.0.1", port})));
          co_await ws.async_handshake("localhost", "/echo", weft::use_task);
          int ok = 0;
          for (int i = 0; i < messages; ++i) {
            std::string msg = "client " + std::to_string(c) + " message " + std::to_string(i);
            co_await ws.async_write(asio::buffer(msg), weft::use_task);
            beast::flat_buffer b;
            co_await ws.async_read(b, weft::use_task);
            ok += beast::buffers_to_string(b.data()) == msg;
          }
          co_await ws.async_close(websocket::close_code::normal, weft::use_task);
          co_return ok;
        }(port, c)));
      }
      int ok = 0;
      for (auto& h : cs) ok += co_await h;
      CHECK(ok == clients * messages);
      co_await weft::timeout(10s, std::move(srv));
    }());
  }
}
