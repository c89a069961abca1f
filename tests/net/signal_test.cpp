#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::workers;

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
}
