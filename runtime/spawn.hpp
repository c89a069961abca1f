// weft::spawn: run a task concurrently on the current runtime's workers.
//
// Callable from a worker (inside a task), from a spawn_blocking thread, or
// with runtime::spawn from any thread. Throws weft::runtime_misuse when there
// is no runtime around. Discarding the returned handle detaches the task; if
// a detached task throws, the error is reported on stderr with its name and
// spawn site, and the runtime carries on.
//
// Order: no start order is promised. Spawned from a worker, the newest task
// is the next to run there once the spawner suspends (a LIFO slot, as in
// Tokio: a spawn and its join, or a message and its reader, stay hot in
// cache), and the one it displaced queues behind the others, where peers
// may steal it. So spawn(a), spawn(b), spawn(c), then an await, start c, a,
// b on one worker. Code that needs an order makes it with a channel, an
// event or a join. A spawner that goes on computing without suspending does
// not keep the newest task to itself: once its poll has run for
// runtime_config::reactor_rescue_after, an idle worker takes that task (and
// serves the spawner's reactor) as it does for any worker stuck in a poll.
#pragma once

#include <source_location>
#include <string>

#include <runtime/join_handle.hpp>
#include <runtime/task.hpp>

namespace weft {

struct spawn_options {
  // Shown by error reports and the tracer. Must outlive the task (a literal).
  const char* name = nullptr;
};

namespace detail {
// Fills in the header of `frame` and queues it on `s` (null: the current
// runtime; throws runtime_misuse if none, naming `who`).
task_header* spawn_frame(scheduler* s, std::coroutine_handle<> frame, promise_base& p,
                         const spawn_options& opts, const std::source_location& where,
                         const char* who = "weft::spawn");

// weft::spawn, for the public functions built on it (their name in errors).
template <class T>
join_handle<T> spawn_on_current(task<T> t, const spawn_options& opts, const std::source_location& where,
                                const char* who) {
  auto h = t.release();
  if (!h) throw runtime_misuse(std::string(who) + ": empty task");
  try {
    return join_handle<T>(spawn_frame(nullptr, h, h.promise(), opts, where, who));
  } catch (...) {
    h.destroy();
    throw;
  }
}
}  // namespace detail

template <class T>
join_handle<T> spawn(task<T> t, spawn_options opts = {},
                     std::source_location where = std::source_location::current()) {
  return detail::spawn_on_current(std::move(t), opts, where, "weft::spawn");
}

}  // namespace weft
