// weft::task_group: asyncio.TaskGroup, a nursery. Children spawned through
// the group run concurrently (on any worker); join() waits for all of them.
//
//   weft::task_group group;
//   group.spawn(fetch(a));
//   group.spawn(fetch(b));
//   co_await group.join();     // rethrows the first failure
//
// Failure: the first child to throw (other than with weft::cancelled) aborts
// the others; join() waits for them all and rethrows that exception.
// Children's results are not collected: write them where the caller wants
// them (their join_handles are the group's). spawn() after a failure starts
// the child already aborted (its body never runs), until join() has rethrown
// that failure.
// Rounds: join() ends one. Once it has returned or rethrown, the group is
// empty and its failure consumed (each failure is thrown once): spawn()
// starts a new round and a later join() waits for that one alone. (asyncio's
// TaskGroup refuses use after its block; a C++ object outlives its join.)
// Cancellation: aborting the task that awaits join() aborts every child and
// waits for them; join() then throws weft::cancelled.
// Destruction: destroying a group whose children still run (an exception
// unwound past it, or join() was never awaited) aborts them, and the task
// that owned the group does not complete until they have ended: no child
// outlives its parent's completion, and nobody joining the parent sees it
// finish early (nor does a timeout, when_all, when_any or outer group whose
// work it was: they wait for those children too). The destructor cannot
// wait, though: the frame it unwinds (locals declared before the group; all
// of a coroutine awaited inline) is gone while aborted children still run,
// so children that borrow from it need join() on every path: catch,
// cancel(), co_await join(), rethrow (the README shows it; join() waits for
// the children even in an aborted task).
// A failure that no join() rethrew is reported on stderr, as for a detached
// task ("... failed and nobody joined it"), once the group and its children
// are gone.
// Thread safety: use a group from one task at a time. A join() while another
// task's join() waits on the same group throws weft::runtime_misuse (it
// would never be woken).
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <source_location>
#include <vector>

#include <runtime/detail/orphans.hpp>
#include <runtime/detail/promise_base.hpp>
#include <runtime/detail/spinlock.hpp>
#include <runtime/errors.hpp>
#include <runtime/spawn.hpp>

namespace weft {

namespace detail {

struct group_state {
  std::atomic<std::uint32_t> refs{1};  // the group and every child's frame
  spinlock lock;
  std::vector<task_header*> children;  // join references to the running children
  std::size_t running = 0;
  std::exception_ptr first_error;
  // The child that threw first_error: the group keeps its join reference, to
  // name it in the report if the group goes without a join to rethrow it.
  task_header* failed_child = nullptr;
  bool failed = false;
  task_header* waiter = nullptr;         // the task in join()
  task_header* orphan_parent = nullptr;  // set when the group died with children running

  void child_done(task_header* self, std::exception_ptr error) noexcept;
  void abort_children_locked() noexcept;
};

void retain(group_state* s) noexcept;
void release(group_state* s) noexcept;

// Keeps the state alive from a child's frame, however that frame ends.
class group_ref {
 public:
  explicit group_ref(group_state* s) noexcept : s_(s) { retain(s); }
  group_ref(group_ref&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  group_ref(const group_ref&) = delete;
  ~group_ref() {
    if (s_) release(s_);
  }
  group_state* operator->() const noexcept { return s_; }

 private:
  group_state* s_;
};

template <class T>
task<void> group_child_body(task<T> work, group_ref state) {
  std::exception_ptr error;
  try {
    // Aborted before its first poll (spawned after a failure, or the group
    // was cancelled): the work never starts, as a spawned task's would not.
    if (current_task()->is_cancelled()) throw cancelled{};
    (void)co_await std::move(work);
  } catch (...) {
    error = std::current_exception();
  }
  co_await orphans_ended{};
  state->child_done(current_task(), std::move(error));
}

struct group_join_awaiter : cancel_hook {
  group_state* state;
  task_header* task = nullptr;
  bool parent_cancelled = false;
  bool other_joiner = false;  // another task waits in join() already
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    return suspend(running_task(h), h);
  }
  void await_resume() {
    if (other_joiner) [[unlikely]]
      throw runtime_misuse("weft::task_group::join: another task is joining this group already");
    if (task) task->hook = nullptr;
  }
  bool suspend(task_header* t, std::coroutine_handle<> h) noexcept;
  static void on_cancel(cancel_hook* hook) noexcept;
};

void spawn_group_child(group_state* s, task<void> child, const spawn_options& opts,
                       const std::source_location& where);

}  // namespace detail

class task_group {
 public:
  task_group();
  ~task_group();
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;

  template <class T>
  void spawn(task<T> t, spawn_options opts = {},
             std::source_location where = std::source_location::current()) {
    auto child = detail::group_child_body(std::move(t), detail::group_ref(state_)).release();
    child.promise().cancel_at_start_ = false;  // its end must always be reported
    detail::spawn_group_child(state_, task<void>(child), opts, where);
  }

  // Waits for every child; rethrows the first failure (see above). Throws
  // weft::runtime_misuse if another task is in join().
  task<void> join();
  // Aborts every running child. A join() then waits for them and returns
  // normally: a child ending with weft::cancelled is no failure. It rethrows
  // a failure that came first, or one a child threw while it unwound.
  // Children spawned after cancel() run as usual.
  void cancel() noexcept;
  std::size_t running() const noexcept;

 private:
  detail::group_state* state_;
};

}  // namespace weft
