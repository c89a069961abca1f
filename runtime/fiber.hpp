// Fibers: stackful tasks, for code that cannot be made a coroutine (a
// callback-style library, a deep recursive parser, a port of blocking code).
//
//   weft::join_handle<int> h = weft::spawn_fiber([] {
//     weft::await(weft::sleep_for(10ms));           // suspends the fiber, not the worker
//     std::optional<int> v = weft::await(ch.recv()); // any weft awaitable works
//     return v.value_or(0);
//   }, {.stack_size = 128 * 1024, .name = "parser"});
//   int r = co_await h;                               // from a task; or weft::await(h) from a fiber
//
// weft::spawn_fiber(fn, options) runs fn() on its own stack and returns a
// join_handle for its result. Inside, weft::await(aw) suspends the fiber until
// the awaitable completes and returns its value or rethrows its exception:
// sleeps, channel and mutex operations, socket reads, join handles, tasks,
// when_all, timeout, ... everything a coroutine can co_await. Calling
// weft::await anywhere but on a fiber throws weft::runtime_misuse.
// weft::fiber_task(fn, options) gives the same as a lazy weft::task<R>
// (block_on it, co_await it inline, or spawn it yourself).
//
// A fiber is a task. It sits in the same run queues as coroutine tasks, is
// stolen by idle workers, resumes on whichever worker takes it, spends the
// same cooperative budget, and shows in runtime::metrics() and the tracer
// under its name ("fiber" unless named). An await that completes at once (a
// channel with a message waiting, a free mutex) costs no stack switch; one
// that waits costs two (see detail/fiber_core.hpp).
//
// Thread safety: fn runs on one worker at a time, but not always the same one
// (see the thread_local rule below). A join_handle is used as for any task.
// Completion: the handle completes when fn returns or throws; its exception
// is rethrown by the join (and reported on stderr if nobody joins).
// Cancellation: join_handle::abort() cancels the pending weft::await, which
// throws weft::cancelled on the fiber; let it propagate, it unwinds the
// fiber's stack and runs its destructors. As with coroutines, every later
// weft::await of an aborted fiber throws too. Code that never awaits cannot
// be interrupted.
// Shutdown: destroying the runtime destroys pending fibers like pending
// tasks: a fiber suspended in weft::await is resumed with an internal
// exception (detail::fiber_unwind, not a std::exception) that unwinds its
// stack, so destructors on it run; then the stack returns to the pool. A
// `catch (...)` on a fiber must rethrow (as it must for thread cancellation);
// one that swallows the unwind only delays it to the next weft::await.
//
// Stacks: fixed size, mapped with a guard band below (overflow dies with
// "weft: fiber stack overflow (stack size N bytes)" and SIGABRT instead of
// corrupting memory; a frame bigger than the band is caught too when the
// code is built with -fstack-clash-protection, which weft.pc and the meson
// dependency add), pooled and reused, so a spawn normally makes no system
// call. Size per spawn with fiber_options::stack_size, else
// default_fiber_stack_size. Only a fiber that has started and not finished
// holds a stack; each is two kernel memory mappings, so vm.max_map_count
// (65530 by default) allows about 30,000 fibers suspended at once.
//
// No thread_local may be cached across a suspension
// -------------------------------------------------
// A task -- fiber or coroutine -- can resume on another worker thread after
// any weft::await or co_await. Compilers assume that a function never changes
// threads: within one function they may compute the address of a thread_local
// once and reuse it after the suspension, and they may reuse the result of
// calls declared const, such as pthread_self(), std::this_thread::get_id()
// or errno's __errno_location(). The code would then read and write the
// previous thread's variables while another task runs there. So:
//   - read thread-local state through an out-of-line, [[gnu::noinline]]
//     function ([[gnu::noipa]] if it only calls const functions, so that the
//     compiler cannot deduce it is const too), and call it again after every
//     suspension rather than keeping its result or a pointer into it (weft's
//     own per-thread state is read that way: runtime/detail/current.cpp,
//     runtime/detail/fiber_core.cpp);
//   - never hold a std::mutex (or anything else tied to a thread) across a
//     suspension: it would be unlocked on another thread. Use weft::mutex.
// The runtime/fiber tests enforce this on 100,000 forced cross-worker
// resumptions. Fibers carry their own C++ exception state across workers, so
// unlike a coroutine a fiber may suspend inside a catch handler.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>
#include <variant>

#include <runtime/detail/awaitable_traits.hpp>
#include <runtime/detail/fiber_core.hpp>
#include <runtime/join_handle.hpp>
#include <runtime/spawn.hpp>
#include <runtime/task.hpp>

namespace weft {

struct fiber_options {
  // Usable stack bytes, rounded up to whole pages (at least 16 KiB).
  // 0: default_fiber_stack_size.
  std::size_t stack_size = 0;
  // Shown by error reports and the tracer. Must outlive the fiber (a literal).
  const char* name = nullptr;
};

// 256 KiB (1 MiB in sanitizer builds, whose frames are several times larger).
// Untouched stack pages cost address space only, not memory.
inline constexpr std::size_t default_fiber_stack_size = detail::default_stack_bytes;

template <class F>
using fiber_result_t = std::invoke_result_t<std::decay_t<F>&>;

namespace detail {

// The user's function and what it produced, in the driver's frame.
template <class R, class F>
struct fiber_body {
  explicit fiber_body(F&& f) : fn(std::move(f)) {}

  static void run(void* self) noexcept {
    auto* b = static_cast<fiber_body*>(self);
    try {
      if constexpr (std::is_void_v<R>) std::invoke(b->fn);
      else b->value.emplace(std::invoke(b->fn));
    } catch (...) {
      b->error = std::current_exception();
    }
  }

  F fn;
  std::exception_ptr error;
  std::conditional_t<std::is_void_v<R>, std::monostate, std::optional<R>> value;
};

template <class R, class F>
task<R> drive_fiber(F fn, fiber_options opts) {
  fiber_body<R, F> body(std::move(fn));
  fiber_core core(opts.stack_size, &fiber_body<R, F>::run, &body, opts.name);
  co_await run_fiber(core);
  // Moved out: the frame keeps no second reference to the exception.
  if (body.error) std::rethrow_exception(std::exchange(body.error, nullptr));
  if constexpr (!std::is_void_v<R>) co_return std::move(*body.value);
}

}  // namespace detail

// A lazy task that runs fn() on a fiber when awaited or spawned.
template <class F>
[[nodiscard]] task<fiber_result_t<F>> fiber_task(F&& fn, fiber_options opts = {}) {
  using R = fiber_result_t<F>;
  static_assert(!std::is_reference_v<R>, "a fiber cannot return a reference; return a pointer");
  return detail::drive_fiber<R>(std::decay_t<F>(std::forward<F>(fn)), opts);
}

// Runs fn() on a new fiber on the current runtime's workers. Callable where
// weft::spawn is (throws weft::runtime_misuse with no runtime around).
template <class F>
join_handle<fiber_result_t<F>> spawn_fiber(
    F&& fn, fiber_options opts = {}, std::source_location where = std::source_location::current()) {
  spawn_options so;
  so.name = opts.name ? opts.name : "fiber";
  return spawn(fiber_task(std::forward<F>(fn), opts), so, where);
}

// Awaits `aw` on the current fiber: suspends the fiber (its worker runs other
// tasks meanwhile) until the awaitable completes, then returns its result or
// rethrows its exception. The fiber may continue on another worker thread.
// Throws weft::runtime_misuse when not called on a fiber.
//
// Always inlined: a call level between a stack switch and the code it returns
// to costs a mispredicted return (see detail/fiber_core.cpp, transfer).
template <class Aw>
[[gnu::always_inline]] inline decltype(auto) await(Aw&& aw) {
  detail::fiber_core* f = detail::current_fiber();
  if (!f) detail::throw_await_outside_fiber();
  auto&& a = detail::get_awaiter(std::forward<Aw>(aw));
  if (!a.await_ready()) {
    // The awaiter registers the fiber's driver (see detail/fiber_core.hpp);
    // an exception from await_suspend simply propagates from here.
    f->check_unwinding();
    detail::fiber_driver_handle driver = f->driver();
    using suspend_result = decltype(a.await_suspend(driver));
    if constexpr (std::is_void_v<suspend_result>) {
      a.await_suspend(driver);
      f->suspend(nullptr);
    } else if constexpr (std::is_same_v<suspend_result, bool>) {
      if (a.await_suspend(driver)) f->suspend(nullptr);
    } else {
      std::coroutine_handle<> next = a.await_suspend(driver);
      if (next != driver) f->suspend(next);  // the driver itself: go on at once
    }
  }
  return a.await_resume();
}

// True when called on a fiber (where weft::await may be used).
inline bool in_fiber() noexcept { return detail::current_fiber() != nullptr; }

// Process-wide, across runtimes.
struct fiber_stats {
  std::size_t stacks_mapped = 0;  // fiber stacks mapped (in use or pooled)
  std::size_t stacks_in_use = 0;  // stacks of fibers that started and have not finished
};
fiber_stats fiber_statistics() noexcept;

}  // namespace weft
