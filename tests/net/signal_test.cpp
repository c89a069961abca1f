#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::workers;

namespace {
weft::task<int> wait_on(weft::net::signal_set* s) { co_return co_await s->wait(); }
}  // namespace

TEST_SUITE("net/signal") {
  TEST_CASE("a signal set receives signals raised before and during the wait") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      weft::net::signal_set sigs{SIGUSR1, SIGUSR2};
      ::kill(::getpid(), SIGUSR2);  // before anybody waits: kept
      CHECK(co_await weft::timeout(5s, sigs.wait()) == SIGUSR2);
      auto waiter = weft::spawn([](weft::net::signal_set* s) -> weft::task<int> { co_return co_await s->wait(); }(&sigs));
      co_await weft::sleep_for(5ms);
      ::kill(::getpid(), SIGUSR1);
      CHECK(co_await weft::timeout(5s, std::move(waiter)) == SIGUSR1);
    }());
  }

  TEST_CASE("waiting is cancellable") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      CHECK_THROWS_AS(co_await weft::timeout(10ms, weft::net::wait_for_signal(SIGUSR1)), weft::timed_out);
      weft::net::signal_set sigs{SIGUSR1};
      auto h = weft::spawn([](weft::net::signal_set* s) -> weft::task<int> { co_return co_await s->wait(); }(&sigs));
      co_await weft::sleep_for(5ms);
      h.abort();
      CHECK_THROWS_AS(co_await h, weft::cancelled);
    }());
  }

  TEST_CASE("a signal that cannot be caught is refused by name") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      try {
        weft::net::signal_set sigs{SIGUSR1, SIGKILL};
        FAIL("SIGKILL was accepted");
      } catch (const weft::net::net_error& e) {
        CHECK(std::string(e.what()).rfind("weft::net::signal_set: cannot watch signal 9 (SIGKILL)", 0) == 0);
      }
      CHECK_THROWS_AS(weft::net::signal_set({0}), weft::net::net_error);
      co_return;
    }());
  }

  TEST_CASE("a second waiter is refused, and the first one still gets its signal") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      weft::net::signal_set sigs{SIGUSR1};
      auto first = weft::spawn(wait_on(&sigs));
      co_await weft::sleep_for(5ms);
      CHECK_THROWS_AS(co_await sigs.wait(), weft::runtime_misuse);
      ::kill(::getpid(), SIGUSR1);
      CHECK(co_await weft::timeout(5s, std::move(first)) == SIGUSR1);
      // The first wait is over: waiting again is fine, also after a timed-out wait.
      CHECK_THROWS_AS(co_await weft::timeout(5ms, sigs.wait()), weft::timed_out);
      ::kill(::getpid(), SIGUSR1);
      CHECK(co_await weft::timeout(5s, sigs.wait()) == SIGUSR1);
    }());
  }

  TEST_CASE("destroying a set ends its wait with an error") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto sigs = std::make_unique<weft::net::signal_set>(std::initializer_list<int>{SIGUSR2});
      auto h = weft::spawn(wait_on(sigs.get()));
      co_await weft::sleep_for(5ms);
      sigs.reset();
      try {
        (void)co_await weft::timeout(5s, std::move(h));
        FAIL("the wait outlived its set");
      } catch (const weft::net::net_error& e) {
        CHECK(std::string(e.what()).find("destroyed while waiting") != std::string::npos);
      }
    }());
  }
}
