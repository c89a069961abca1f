#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>

#include <runtime/runtime.hpp>
#include <sync/event.hpp>
#include <tests/support/stderr_capture.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft_test::alive_counter;
using weft_test::stderr_capture;
using weft_test::workers;

namespace {
weft::task<void> add_after(std::atomic<int>& sum, int v, std::chrono::milliseconds d) {
  co_await weft::sleep_for(d);
  sum += v;
}
weft::task<void> sleep_long(std::atomic<int>& alive) {
  alive_counter guard(alive);
  co_await weft::sleep_for(1h);
}
// Counts its entry before any await: a body that runs at all shows.
weft::task<void> count_entry(std::atomic<int>& entered) {
  ++entered;
  co_await weft::sleep_for(1ms);
}
weft::task<void> fail_soon() {
  co_await weft::sleep_for(2ms);
  throw std::runtime_error("group child failed");
}
weft::task<void> fail_with(const char* message) {
  co_await weft::sleep_for(2ms);
  throw std::runtime_error(message);
}
// Fails only once aborted, so its failure comes after its group is gone.
weft::task<void> fail_when_aborted(const char* message) {
  try {
    co_await weft::sleep_for(1h);
  } catch (const weft::cancelled&) {
  }
  throw std::runtime_error(message);
}
int unjoined_line = 0;
}  // namespace

TEST_SUITE("runtime/task_group") {
  TEST_CASE("join waits for every child") {
    weft::runtime rt{workers(2)};
    std::atomic<int> sum{0};
    rt.block_on([&]() -> weft::task<void> {
      weft::task_group group;
      for (int i = 1; i <= 100; ++i) group.spawn(add_after(sum, i, std::chrono::milliseconds(i % 5)));
      co_await group.join();
      CHECK(sum == 5050);
      CHECK(group.running() == 0);
      group.spawn(add_after(sum, 1, 1ms));  // reusable after a join
      co_await group.join();
      CHECK(sum == 5051);
    }());
  }

  TEST_CASE("the first failure cancels the siblings and join rethrows it") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    rt.block_on([&]() -> weft::task<void> {
      weft::task_group group;
      group.spawn(sleep_long(alive));
      group.spawn(fail_soon());
      group.spawn(sleep_long(alive));
      CHECK_THROWS_WITH_AS(co_await group.join(), "group child failed", std::runtime_error);
      CHECK(alive == 0);
    }());
  }

  TEST_CASE("cancel then join: returns once the children end cancelled; a failure still comes out") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    rt.block_on([&]() -> weft::task<void> {
      weft::task_group group;
      for (int i = 0; i < 10; ++i) group.spawn(sleep_long(alive));
      co_await weft::sleep_for(2ms);
      CHECK(alive == 10);
      group.cancel();
      co_await group.join();  // the children's weft::cancelled is no failure
      CHECK(alive == 0);
      CHECK(group.running() == 0);
      // A child that throws something else while it unwinds is one.
      group.spawn(sleep_long(alive));
      group.spawn(fail_when_aborted("failed while cancelled"));
      co_await weft::sleep_for(2ms);
      group.cancel();
      CHECK_THROWS_WITH_AS(co_await group.join(), "failed while cancelled", std::runtime_error);
      CHECK(alive == 0);
    }());
  }

  TEST_CASE("after a failure children start aborted (their bodies never run) until join rethrows it; then a new round runs") {
    weft::runtime rt{workers(2)};
    std::atomic<int> sum{0}, entered{0};
    rt.block_on([&]() -> weft::task<void> {
      weft::task_group group;
      group.spawn(fail_soon());
      while (group.running() > 0) co_await weft::sleep_for(1ms);  // the failure is in
      group.spawn(add_after(sum, 1, 1ms));                          // starts aborted
      group.spawn(count_entry(entered));                            // and never runs
      CHECK_THROWS_WITH_AS(co_await group.join(), "group child failed", std::runtime_error);
      CHECK(sum == 0);
      CHECK(entered == 0);
      group.spawn(add_after(sum, 2, 1ms));  // a new round: runs
      co_await group.join();                // the old failure is not thrown again
      CHECK(sum == 2);
    }());
  }

  TEST_CASE("destroying a group with running children cancels them before the owner completes") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    rt.block_on([&]() -> weft::task<void> {
      auto owner = weft::spawn([](std::atomic<int>& a) -> weft::task<int> {
        weft::task_group group;
        for (int i = 0; i < 10; ++i) group.spawn(sleep_long(a));
        co_await weft::sleep_for(2ms);
        co_return 7;  // the group dies here with 10 children running
      }(alive));
      int v = co_await owner;
      CHECK(v == 7);
      CHECK(alive == 0);  // no child outlived its owner's completion
    }());
  }

  TEST_CASE("aborting the task in join cancels the children; join throws cancelled") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    rt.block_on([&]() -> weft::task<void> {
      auto h = weft::spawn([](std::atomic<int>& a) -> weft::task<void> {
        weft::task_group group;
        group.spawn(sleep_long(a));
        group.spawn(sleep_long(a));
        co_await group.join();
      }(alive));
      co_await weft::sleep_for(5ms);
      h.abort();
      CHECK_THROWS_AS(co_await h, weft::cancelled);
      CHECK(alive == 0);
    }());
  }

  // The second of two concurrent joins once waited for ever, running() == 0:
  // the group wakes one joiner.
  TEST_CASE("a join while another task joins the group throws runtime_misuse") {
    weft::runtime rt{workers(1)};
    rt.block_on([]() -> weft::task<void> {
      weft::task_group group;
      weft::event go;
      group.spawn([](weft::event& go) -> weft::task<void> { co_await go.wait(); }(go));
      auto first = weft::spawn(group.join());
      // One worker: while we sleep, the first join runs and waits.
      co_await weft::sleep_for(10ms);
      CHECK_THROWS_AS(co_await group.join(), weft::runtime_misuse);
      CHECK(group.running() == 1);
      go.set();
      co_await first;  // the first join is unharmed
      CHECK(group.running() == 0);
      co_await group.join();  // and the group takes joins again
    }());
  }

  // A group dropped without join() once discarded its children's failure
  // silently, where a detached task's is reported.
  TEST_CASE("a failure that no join rethrew is reported on stderr like a detached task's") {
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    std::string out;
    bool reported = false;
    {
      stderr_capture capture;
      rt.block_on([](std::atomic<int>& alive) -> weft::task<void> {
        {
          weft::task_group group;  // joined: nothing to report
          group.spawn(fail_with("joined failure"));
          CHECK_THROWS_AS(co_await group.join(), std::runtime_error);
        }
        // Failed while the group lived, and the group dropped unjoined.
        int v = co_await weft::spawn([](std::atomic<int>& a) -> weft::task<int> {
          weft::task_group group;
          group.spawn(sleep_long(a));
          unjoined_line = __LINE__; group.spawn(fail_with("unjoined failure"), {.name = "failing"});  // NOLINT
          co_await weft::sleep_for(20ms);
          co_return 1;
        }(alive));
        CHECK(v == 1);
        // Failed after the group was gone (aborted by its destruction).
        co_await weft::spawn([]() -> weft::task<void> {
          weft::task_group group;
          group.spawn(fail_when_aborted("late failure"));
          co_await weft::sleep_for(2ms);
        }());
      }(alive));
      reported = capture.wait_for("late failure") && capture.wait_for("unjoined failure");
      out = capture.text();
    }
    CAPTURE(out);
    CHECK(reported);
    CHECK(alive == 0);
    CHECK(out.find("(failing) spawned at ") != std::string::npos);
    CHECK(out.find("task_group_test.cpp:" + std::to_string(unjoined_line)) != std::string::npos);
    CHECK(out.find("failed and nobody joined it: unjoined failure") != std::string::npos);
    CHECK(out.find("failed and nobody joined it: late failure") != std::string::npos);
    CHECK(out.find("unjoined failure") == out.rfind("unjoined failure"));  // once
    CHECK(out.find(": joined failure") == std::string::npos);
    CHECK(out.find("cancelled") == std::string::npos);
  }

  // The README's pattern for children that borrow from the enclosing frame.
  TEST_CASE("catch then cancel and join then rethrow: borrowing children end before the frame, also in an aborted task") {
    struct connection {
      std::string name = "a connection with a heap-allocated name";
      std::atomic<int> cleanups{0};  // the two children may unwind at once, on two workers
    };
    static constexpr auto borrower = [](connection& c) -> weft::task<void> {
      struct touch {
        connection& c;
        ~touch() { c.cleanups += int(c.name.size() > 10); }  // reads the borrowed frame while unwinding
      } t{c};
      co_await weft::sleep_for(10s);
    };
    static constexpr auto handler = [](bool abort_self, int& cleanups_seen) -> weft::task<void> {
      connection conn;
      weft::task_group g;
      std::exception_ptr failure;
      try {
        g.spawn(borrower(conn));
        g.spawn(borrower(conn));
        co_await weft::sleep_for(5ms);
        if (!abort_self) throw std::runtime_error("the request failed");
        co_await weft::sleep_for(10s);  // aborted here
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        g.cancel();
        try {
          co_await g.join();
        } catch (...) {
        }
        cleanups_seen = conn.cleanups.load();  // both children are gone, conn is intact
        std::rethrow_exception(failure);
      }
    };
    weft::runtime rt{workers(2)};
    int seen = -1;
    CHECK_THROWS_AS(rt.block_on(handler(false, seen)), std::runtime_error);
    CHECK(seen == 2);
    seen = -1;
    rt.block_on([](int& seen) -> weft::task<void> {
      auto h = weft::spawn(handler(true, seen));
      co_await weft::sleep_for(20ms);
      h.abort();
      CHECK_THROWS_AS(co_await h, weft::cancelled);
    }(seen));
    CHECK(seen == 2);
  }

  // A group destroyed with children running holds its owner task's completion
  // until they end. A combinator's child (or a group's) is such an owner: the
  // combinator must not return, freeing what the work borrowed, before them.
  TEST_CASE("timeout, when_all, when_any and an outer group wait for the children their work orphaned") {
    static constexpr auto slow_to_die = [](std::atomic<int>& alive) -> weft::task<void> {
      alive_counter guard(alive);
      try {
        co_await weft::sleep_for(1h);
      } catch (const weft::cancelled&) {
        std::this_thread::sleep_for(20ms);  // still ending well after the abort
        throw;
      }
    };
    // Aborted (by the deadline, a failed or a winning sibling) with its group's
    // children running: the group dies, orphaning them.
    static constexpr auto orphaning_work = [](std::atomic<int>& alive) -> weft::task<int> {
      weft::task_group g;
      for (int i = 0; i < 4; ++i) g.spawn(slow_to_die(alive));
      co_await weft::sleep_for(1h);
      co_return 1;
    };
    static constexpr auto value_after = [](std::chrono::milliseconds d) -> weft::task<int> {
      co_await weft::sleep_for(d);
      co_return 2;
    };
    weft::runtime rt{workers(2)};
    std::atomic<int> alive{0};
    rt.block_on([](std::atomic<int>& alive) -> weft::task<void> {
      CHECK_THROWS_AS(co_await weft::timeout(20ms, orphaning_work(alive)), weft::timed_out);
      CHECK(alive == 0);

      CHECK_THROWS_AS(co_await weft::when_all(orphaning_work(alive), fail_with("sibling failed")),
                      std::runtime_error);
      CHECK(alive == 0);

      auto winner = co_await weft::when_any(orphaning_work(alive), value_after(20ms));
      CHECK(winner.index() == 1);
      CHECK(alive == 0);

      weft::task_group outer;
      outer.spawn(orphaning_work(alive));
      outer.spawn(fail_with("sibling failed"));
      CHECK_THROWS_AS(co_await outer.join(), std::runtime_error);
      CHECK(alive == 0);
    }(alive));
  }

  TEST_CASE("a runtime destroyed while a group runs leaks nothing") {
    std::atomic<int> alive{0};
    {
      weft::runtime rt{workers(2)};
      rt.spawn([](std::atomic<int>& a) -> weft::task<void> {
        weft::task_group group;
        for (int i = 0; i < 50; ++i) group.spawn(sleep_long(a));
        co_await group.join();
      }(alive));
      auto t0 = std::chrono::steady_clock::now();
      while (alive < 50 && weft_test::ms_since(t0) < 5s) std::this_thread::sleep_for(1ms);
      CHECK(alive == 50);
    }
    CHECK(alive == 0);
  }
}
