// Waiting for the task_group children a task orphaned. A group destroyed while
// its children still run aborts them and holds its owner task's completion
// until they end (task_group.hpp). A wrapper that reports the end of its work
// to a parent from inside its body (a combinator's child, a task_group's
// child) awaits this first, so that the parent cannot resume, and free what
// the work borrowed, while children the work started still run.
#pragma once

#include <coroutine>
#include <cstdint>

#include <runtime/detail/task_header.hpp>

namespace weft::detail {

task_header* current_task() noexcept;

// Set in task_header::completion_holds while the task's own body waits for
// its orphans; the release that leaves only the body's hold wakes it.
inline constexpr std::uint32_t orphan_waiter = 1u << 31;

// Not cancellable: the orphans were aborted already, and the point is to
// outlast them.
struct orphans_ended {
  task_header* task = current_task();
  bool await_ready() const noexcept {
    // acquire: pairs with the orphans' releases, so their writes are seen.
    return task->completion_holds.load(std::memory_order_acquire) == 1;
  }
  bool await_suspend(std::coroutine_handle<> h) noexcept;
  void await_resume() const noexcept {}
};

}  // namespace weft::detail
