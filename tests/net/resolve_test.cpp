#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <vector>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using weft_test::workers;

TEST_SUITE("net/resolve") {
  TEST_CASE("numeric hosts, localhost, and names that do not resolve") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto n = co_await weft::net::resolve("127.0.0.1", 80);
      REQUIRE(n.size() == 1);
      CHECK(n[0] == weft::net::endpoint("127.0.0.1", 80));
      auto l = co_await weft::net::resolve("localhost", "8080");
      REQUIRE_FALSE(l.empty());
      for (const auto& ep : l) {
        CHECK(ep.address().is_loopback());
        CHECK(ep.port() == 8080);
      }
      // getaddrinfo would take these modulo 65536.
      CHECK_THROWS_AS(co_await weft::net::resolve("localhost", "99999"), std::invalid_argument);
      CHECK_THROWS_AS(co_await weft::net::resolve("127.0.0.1", "65536"), std::invalid_argument);
      CHECK_THROWS_AS(co_await weft::net::resolve("localhost", "123456789012345678901234"), std::invalid_argument);
      auto padded = co_await weft::net::resolve("127.0.0.1", "000000080");
      CHECK((padded.size() == 1 && padded[0].port() == 80));
      try {
        co_await weft::net::resolve("no-such-host.invalid", 80);
        FAIL("resolved a name under .invalid");
      } catch (const weft::net::net_error& e) {
        // The message names what was looked up.
        CHECK(std::string(e.what()).starts_with("weft::net::resolve(\"no-such-host.invalid\", \"80\")"));
      }
    }());
  }

  TEST_CASE("a lookup out of file descriptors says so") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      (void)co_await weft::net::resolve("localhost", "80");  // the blocking pool's thread is up
      rlimit old{};
      REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
      rlimit low = old;
      low.rlim_cur = 256;
      REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
      std::vector<int> held;
      for (int fd; (fd = ::dup(0)) >= 0;) held.push_back(fd);
      std::error_code code;
      std::string what;
      try {
        (void)co_await weft::net::resolve("localhost", "80");
      } catch (const weft::net::net_error& e) {
        code = e.code();
        what = e.what();
      }
      for (int fd : held) ::close(fd);
      ::setrlimit(RLIMIT_NOFILE, &old);
      CHECK(code == std::errc::too_many_files_open);
      MESSAGE(what);
      CHECK_FALSE((co_await weft::net::resolve("localhost", "80")).empty());
    }());
  }
}
