// weft::task<T>: lazy, values and exceptions cross co_await, move-only, and
// a deep chain of inline awaits does not grow the stack.
#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using weft_test::workers;

namespace {

// g++ emits no tail call for symmetric transfer under the sanitizers (or
// below -O2), so these two only pass there because transfers bounce off the
// poller (detail::transfer_inline).
constexpr std::size_t deep_chain = 100'000;
constexpr std::size_t ready_awaits = 1'000'000;

// Counts live instances, so a test can see a frame's locals and parameters go.
struct counted {
  static inline std::atomic<int> live{0};
  counted() noexcept { ++live; }
  counted(const counted&) noexcept { ++live; }
  counted(counted&&) noexcept { ++live; }
  ~counted() { --live; }
};

weft::task<int> mark_and_return(std::atomic<bool>& ran, int v) {
  ran = true;
  co_return v;
}

weft::task<void> lazy_root(std::atomic<bool>& ran, bool& ran_before_await, int& got) {
  weft::task<int> t = mark_and_return(ran, 7);
  co_await weft::yield_now();  // a chance to run that a lazy task must not take
  co_await weft::sleep_for(std::chrono::milliseconds(1));
  ran_before_await = ran.load();
  got = co_await t;
}

weft::task<int> holds(counted, int v) { co_return v; }

weft::task<std::thread::id> where_am_i() { co_return std::this_thread::get_id(); }

weft::task<bool> runs_inline() {
  std::thread::id caller = std::this_thread::get_id();
  std::thread::id callee = co_await where_am_i();
  co_return caller == callee;
}

weft::task<int> throws_now() {
  throw std::runtime_error("thrown before any suspension");
  co_return 0;
}

weft::task<int> throws_after_suspending() {
  co_await weft::yield_now();
  co_await weft::sleep_for(std::chrono::milliseconds(1));
  throw std::invalid_argument("thrown after suspending");
}

weft::task<void> void_throws() {
  co_await weft::yield_now();
  throw std::out_of_range("void task failed");
}

struct caught {
  std::string first, second, third;
  int after = 0;
};

weft::task<caught> catch_them_all() {
  caught c;
  try {
    (void)co_await throws_now();
  } catch (const std::runtime_error& e) {
    c.first = e.what();
  }
  try {
    (void)co_await throws_after_suspending();
  } catch (const std::invalid_argument& e) {
    c.second = e.what();
  }
  try {
    co_await void_throws();
  } catch (const std::out_of_range& e) {
    c.third = e.what();
  }
  // The awaiting coroutine is intact after catching.
  c.after = co_await holds(counted{}, 5);
  co_return c;
}

weft::task<std::unique_ptr<int>> make_unique_value(int v) {
  co_await weft::yield_now();
  co_return std::make_unique<int>(v);
}

weft::task<int> unwrap() {
  std::unique_ptr<int> p = co_await make_unique_value(41);
  weft::task<std::unique_ptr<int>> moved = make_unique_value(1);
  weft::task<std::unique_ptr<int>> target = std::move(moved);
  CHECK_FALSE(moved.valid());
  CHECK(target.valid());
  std::unique_ptr<int> q = co_await std::move(target);
  co_return *p + *q;
}

weft::task<void> bump(int& n) {
  co_await weft::yield_now();
  ++n;
}

weft::task<int> void_tasks() {
  int n = 0;
  co_await bump(n);
  weft::task<void> t = bump(n);
  co_await t;
  co_return n;
}

// Each level awaits the next inline: with symmetric transfer the chain runs
// in constant stack however deep it is.
weft::task<std::size_t> ready_value(std::size_t v) { co_return v; }

// What a server parsing pipelined requests out of its buffer does: await
// task after task that completes without suspending, in one poll.
weft::task<std::size_t> loop_over_ready_awaits(std::size_t n) {
  std::size_t sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += co_await ready_value(1);
  co_return sum;
}

weft::task<std::size_t> nest(std::size_t n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await nest(n - 1);
}

weft::task<void> await_empty() {
  weft::task<int> empty;
  (void)co_await empty;
}

// The second await of a task once gave a moved-from value (or, if the task
// threw, weft::cancelled).
weft::task<void> await_twice() {
  auto t = []() -> weft::task<std::string> { co_return std::string("value"); }();
  CHECK(co_await t == "value");
  CHECK_THROWS_WITH_AS((void)co_await t, "weft::task awaited twice", weft::runtime_misuse);
  auto failing = []() -> weft::task<int> {
    throw std::invalid_argument("first");
    co_return 1;
  }();
  CHECK_THROWS_AS((void)co_await failing, std::invalid_argument);
  CHECK_THROWS_AS((void)co_await failing, weft::runtime_misuse);
  weft::task<void> v = []() -> weft::task<void> { co_return; }();
  co_await v;
  CHECK_THROWS_AS(co_await std::move(v), weft::runtime_misuse);
}

}  // namespace

TEST_SUITE("runtime/task") {
  TEST_CASE("a task is lazy: its body runs only when it is awaited") {
    weft::runtime rt{workers(2)};
    std::atomic<bool> ran{false};
    bool ran_before_await = true;
    int got = 0;
    rt.block_on(lazy_root(ran, ran_before_await, got));
    CHECK_FALSE(ran_before_await);
    CHECK(ran.load());
    CHECK(got == 7);
  }

  TEST_CASE("creating and destroying a task without a runtime runs nothing and frees its frame") {
    std::atomic<bool> ran{false};
    int before = counted::live.load();
    {
      weft::task<int> t = holds(counted{}, 1);
      CHECK(t.valid());
      CHECK(counted::live.load() == before + 1);  // the parameter lives in the frame
      weft::task<int> u = mark_and_return(ran, 2);
      u = holds(counted{}, 3);  // move-assign destroys u's unstarted frame
      CHECK(counted::live.load() == before + 2);
    }
    CHECK(counted::live.load() == before);
    CHECK_FALSE(ran.load());
  }

  TEST_CASE("awaiting a task runs it inline on the awaiting thread") {
    weft::runtime rt{workers(2)};
    CHECK(rt.block_on(runs_inline()));
  }

  TEST_CASE("values and exceptions cross co_await") {
    weft::runtime rt{workers(2)};
    int before = counted::live.load();
    caught c = rt.block_on(catch_them_all());
    CHECK(c.first == "thrown before any suspension");
    CHECK(c.second == "thrown after suspending");
    CHECK(c.third == "void task failed");
    CHECK(c.after == 5);
    CHECK(counted::live.load() == before);
  }

  TEST_CASE("block_on rethrows the root task's exception") {
    weft::runtime rt{workers(1)};
    CHECK_THROWS_WITH_AS(rt.block_on(throws_after_suspending()), "thrown after suspending",
                         std::invalid_argument);
    CHECK_THROWS_AS(rt.block_on(void_throws()), std::out_of_range);
    CHECK(rt.block_on(holds(counted{}, 9)) == 9);  // and the runtime goes on
  }

  TEST_CASE("task is move-only and carries move-only values") {
    static_assert(!std::is_copy_constructible_v<weft::task<int>>);
    static_assert(!std::is_copy_assignable_v<weft::task<int>>);
    static_assert(std::is_nothrow_move_constructible_v<weft::task<int>>);
    static_assert(std::is_nothrow_move_assignable_v<weft::task<void>>);
    weft::runtime rt{workers(2)};
    CHECK(rt.block_on(unwrap()) == 42);
  }

  TEST_CASE("task<void> runs its body and returns") {
    weft::runtime rt{workers(1)};
    CHECK(rt.block_on(void_tasks()) == 2);
  }

  TEST_CASE("awaiting an empty task throws runtime_misuse") {
    weft::runtime rt{workers(1)};
    weft::task<int> empty;
    CHECK_FALSE(empty.valid());
    CHECK_THROWS_AS(rt.block_on(await_empty()), weft::runtime_misuse);
    CHECK_THROWS_AS(rt.block_on(std::move(empty)), weft::runtime_misuse);
  }

  TEST_CASE("awaiting a task twice throws runtime_misuse") {
    weft::runtime rt{workers(1)};
    rt.block_on(await_twice());
  }

  TEST_CASE("a deep chain of nested awaits does not overflow the stack") {
    weft::runtime rt{workers(2)};
    CHECK(rt.block_on(nest(deep_chain)) == deep_chain);
    // And again, so the second run reuses cached frames.
    CHECK(rt.block_on(nest(deep_chain)) == deep_chain);
  }

  TEST_CASE("a loop over a million awaits that complete at once does not overflow the stack") {
    weft::runtime rt{workers(1)};
    CHECK(rt.block_on(loop_over_ready_awaits(ready_awaits)) == ready_awaits);
  }
}
