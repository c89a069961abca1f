#include <doctest/doctest.h>

#include <atomic>
#include <chrono>

#include <runtime/runtime.hpp>

using namespace std::chrono_literals;

namespace {
weft::task<int> add(int a, int b) { co_return a + b; }
weft::task<int> root() {
  int x = co_await add(1, 2);
  auto h = weft::spawn(add(x, 10));
  co_await weft::yield_now();
  co_await weft::sleep_for(1ms);
  co_return co_await h;
}
}  // namespace

TEST_SUITE("runtime/smoke") {
TEST_CASE("a task spawns, yields, sleeps and joins") {
  weft::runtime_config cfg;
  cfg.worker_threads = 2;
  weft::runtime rt{cfg};
  CHECK(rt.block_on(root()) == 13);
}
}
