// The children of a combinator (when_all, when_any, timeout): tasks spawned
// to run the awaitables concurrently, each reporting its end here as its last
// act (after any task_group children its work orphaned have ended). The
// parent waits for changes with wait_change(). That wait is structured: if the parent is aborted meanwhile, the wait aborts every child
// and keeps waiting until they have ended, so the parent never leaves while a
// child still uses its buffers. The group lives in the parent's frame and
// holds a join reference to every child.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <vector>

#include <runtime/detail/awaitable_traits.hpp>
#include <runtime/detail/orphans.hpp>
#include <runtime/detail/promise_base.hpp>
#include <runtime/detail/spinlock.hpp>
#include <runtime/spawn.hpp>

namespace weft::detail {

class child_group {
 public:
  static constexpr std::size_t none = ~std::size_t{0};

  child_group() = default;
  child_group(const child_group&) = delete;
  child_group& operator=(const child_group&) = delete;
  ~child_group();

  // Takes over the join reference of a freshly spawned child.
  template <class T>
  void adopt(join_handle<T>&& h) {
    children_.push_back(h.release_header());
  }
  void reserve(std::size_t n) { children_.reserve(n); }

  // Called by a child's wrapper as its very last use of the group.
  void child_finished(std::size_t index, bool failed) noexcept;
  void abort_all() noexcept;

  std::size_t size() const noexcept { return children_.size(); }
  std::size_t first_finished() noexcept;
  std::size_t first_failed() noexcept;

  struct change_awaiter : cancel_hook {
    child_group* group;
    std::size_t seen;
    task_header* task = nullptr;
    std::size_t result = 0;
    bool await_ready() const noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
      return group->suspend_for_change(*this, running_task(h), h);
    }
    std::size_t await_resume() noexcept;
  };
  // Resumes once more than `seen` children have finished; returns how many have.
  change_awaiter wait_change(std::size_t seen) noexcept { return change_awaiter{{}, this, seen}; }

  // Waits for every child, then returns.
  task<void> wait_all();
  // Waits for every child; the first failure aborts the others.
  task<void> wait_all_abort_on_failure();
  // After every child ended: rethrows the first real failure among `errors`
  // (indexed like the children), else weft::cancelled if a child was
  // cancelled; returns if nothing failed.
  void rethrow_first_failure(const std::exception_ptr* errors) noexcept(false);

 private:
  bool suspend_for_change(change_awaiter& a, task_header* t, std::coroutine_handle<> h) noexcept;
  static void on_parent_cancel(cancel_hook* hook) noexcept;

  spinlock lock_;
  std::vector<task_header*> children_;
  std::size_t finished_ = 0;
  std::size_t first_finished_ = none;
  std::size_t first_failed_ = none;
  task_header* waiter_ = nullptr;
};

// The outcome of one child, written by the child before it reports its end.
template <class T>
struct child_slot {
  std::size_t index = 0;
  std::optional<non_void_t<T>> value;
  std::exception_ptr error;
};

template <class Aw>
task<void> run_child_body(Aw aw, child_slot<await_result_t<Aw>>* slot, child_group* group) {
  try {
    // Aborted before its first poll (a sibling failed, the deadline passed):
    // the work never starts, as a spawned task aborted then never runs.
    if (current_task()->is_cancelled()) throw cancelled{};
    if constexpr (std::is_void_v<await_result_t<Aw>>) {
      co_await std::move(aw);
      slot->value.emplace();
    } else {
      slot->value.emplace(co_await std::move(aw));
    }
  } catch (...) {
    slot->error = std::current_exception();
  }
  co_await orphans_ended{};
  group->child_finished(slot->index, slot->error != nullptr);
}

// A child must report its end even when aborted before its first poll, so
// its body always starts (and then leaves the work unstarted).
template <class Aw>
task<void> run_child(Aw aw, child_slot<await_result_t<Aw>>* slot, child_group* group) {
  auto h = run_child_body(std::move(aw), slot, group).release();
  h.promise().cancel_at_start_ = false;
  return task<void>(h);
}

// True if `e` holds weft::cancelled.
bool is_cancellation(const std::exception_ptr& e) noexcept;

}  // namespace weft::detail
