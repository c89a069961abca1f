#include <doctest/doctest.h>

#include <unistd.h>

#include <string>
#include <vector>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/net/net_support.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft::net::unix_listener;
using weft::net::unix_stream;
using weft_test::workers;

namespace {
weft::task<void> echo(unix_stream s) {
  char buf[4096];
  while (std::size_t n = co_await s.read_some(buf)) co_await s.write_all(std::span<const char>(buf, n));
}
}  // namespace

TEST_SUITE("net/unix") {
  TEST_CASE("echo over a path socket with many concurrent connections") {
    weft::runtime rt{workers(2)};
    weft_net_test::temp_dir dir;
    std::string path = dir.file("echo.sock");
    rt.block_on([&]() -> weft::task<void> {
      auto l = unix_listener::bind(path);
      CHECK(::access(path.c_str(), F_OK) == 0);
      constexpr int conns = 50;
      auto srv = weft::spawn([](unix_listener l) -> weft::task<void> {
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < conns; ++i) hs.push_back(weft::spawn(echo(co_await l.accept())));
        for (auto& h : hs) co_await h;
      }(std::move(l)));
      std::vector<weft::join_handle<bool>> cs;
      for (int i = 0; i < conns; ++i) {
        cs.push_back(weft::spawn([](std::string path, int i) -> weft::task<bool> {
          auto c = co_await unix_stream::connect(path);
          std::string msg(1000 + i * 100, char('a' + i % 26));
          co_await c.write_all(msg);
          c.shutdown(weft::net::shutdown_type::send);
          std::string back(msg.size(), '\0');
          co_await c.read_exact(back);
          char extra;
          co_return back == msg && co_await c.read_some(std::span<char>(&extra, 1)) == 0;
        }(path, i)));
      }
      int ok = 0;
      for (auto& h : cs) ok += co_await h;
      CHECK(ok == conns);
      co_await srv;
    }());
    CHECK(::access(path.c_str(), F_OK) != 0);  // unlinked with the listener
  }

  TEST_CASE("abstract names, socket pairs, and a stale path") {
    weft::runtime rt{workers(2)};
    weft_net_test::temp_dir dir;
    rt.block_on([&]() -> weft::task<void> {
      std::string name = "@weft-test-" + std::to_string(::getpid());
      auto l = unix_listener::bind(name);
      auto acc = weft::spawn([](unix_listener* l) -> weft::task<unix_stream> { co_return co_await l->accept(); }(&l));
      auto c = co_await unix_stream::connect(name);
      auto s = co_await acc;
      co_await c.write_all(std::string_view("ping"));
      char buf[4];
      co_await s.read_exact(buf);
      CHECK(std::string_view(buf, 4) == "ping");

      auto [a, b] = unix_stream::pair();
      co_await a.write_all(std::string_view("pair"));
      co_await b.read_exact(buf);
      CHECK(std::string_view(buf, 4) == "pair");
      a.close();
      CHECK(co_await b.read_some(buf) == 0);

      // A failed connect names the path, and an abstract name with its '@'.
      for (std::string missing : {dir.path() + "/missing.sock", name + "-missing"}) {
        try {
          co_await unix_stream::connect(missing);
          FAIL("connected to " << missing);
        } catch (const weft::net::net_error& e) {
          CHECK(std::string(e.what()).starts_with("weft::net::connect to " + missing + ": "));
        }
      }

      std::string path = dir.file("stale.sock");
      {
        auto first = unix_listener::bind(path, {}, /*unlink_on_close=*/false);
      }
      // A failed bind names the path; a bad path says what is wrong with it.
      CHECK_THROWS_WITH_AS(unix_listener::bind(path),
                           ("weft::net::unix_listener::bind to " + path + ": Address already in use").c_str(),
                           weft::net::net_error);
      CHECK_THROWS_WITH_AS(unix_listener::bind(""), "weft::net::unix_listener::bind: empty path: Invalid argument",
                           weft::net::net_error);
      CHECK_THROWS_WITH_AS((void)co_await unix_stream::connect(std::string(200, 'x')),
                           "weft::net::unix_stream::connect: a path of 200 bytes (at most 107): File name too long",
                           weft::net::net_error);
      ::unlink(path.c_str());
      CHECK_NOTHROW(unix_listener::bind(path));
    }());
  }
}
