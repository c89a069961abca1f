// fib_spawn: parallel fib(n) (default 25): a call with n >= 2 spawns fib(n-1)
// and fib(n-2) as tasks and awaits both; the result is checked. Ops: the
// number of tasks spawned, 2*fib(n+1) - 2.
#include <fmt/format.h>

#include "workload.hpp"

namespace weft::bench {
namespace {

// Larger n only exhausts memory (the task count grows ~1.6x per step).
constexpr std::uint64_t fib_max_n = 32;

task<std::uint64_t> fib(std::uint64_t n) {
  if (n < 2) co_return n;
  auto a = spawn(fib(n - 1));
  auto b = spawn(fib(n - 2));
  std::uint64_t x = co_await a;
  std::uint64_t y = co_await b;
  co_return x + y;
}

std::uint64_t fib_iter(std::uint64_t n) {
  std::uint64_t a = 0, b = 1;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t c = a + b;
    a = b;
    b = c;
  }
  return a;
}

task<outcome> fib_spawn(options o) {
  const std::uint64_t n = o.size_or(25);
  check(n <= fib_max_n, fmt::format("fib_spawn: --size is n in fib(n) and must be <= {}", fib_max_n));
  stopwatch clock;
  std::uint64_t got = co_await fib(n);
  std::uint64_t want = fib_iter(n);
  check(got == want, fmt::format("fib_spawn: fib({}) = {}, want {}", n, got, want));
  // Every call but the root one is a spawned task.
  co_return finish(2 * fib_iter(n + 1) - 2, clock);
}

const registrar reg{"fib_spawn", &fib_spawn};

}  // namespace
}  // namespace weft::bench
