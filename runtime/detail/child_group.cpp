#include <runtime/detail/child_group.hpp>

#include <mutex>

#include <runtime/errors.hpp>

namespace weft::detail {

child_group::~child_group() {
  for (task_header* c : children_) drop_ref(c);
}

void child_group::child_finished(std::size_t index, bool failed) noexcept {
  task_header* w;
  {
    std::lock_guard lock(lock_);
    ++finished_;
    if (first_finished_ == none) first_finished_ = index;
    if (failed && first_failed_ == none) first_failed_ = index;
    w = std::exchange(waiter_, nullptr);
  }
  // After this wake the parent may destroy the group: touch nothing more.
  if (w) wake(w);
}

void child_group::abort_all() noexcept {
  // children_ only changes before the parent first waits, and the parent
  // outlives every wait, so no lock is needed to read it.
  for (task_header* c : children_) abort_task(c);
}

std::size_t child_group::first_finished() noexcept {
  std::lock_guard lock(lock_);
  return first_finished_;
}

std::size_t child_group::first_failed() noexcept {
  std::lock_guard lock(lock_);
  return first_failed_;
}

bool child_group::suspend_for_change(change_awaiter& a, task_header* t,
                                     std::coroutine_handle<> h) noexcept {
  a.task = t;
  std::unique_lock lock(lock_);
  if (finished_ > a.seen) return false;
  t->resume_point = h;
  t->wait_kind = wait_kind::join;
  waiter_ = t;
  lock.unlock();
  if (t->is_cancelled()) {
    abort_all();  // already aborted: pass it on, and keep waiting for the children
  } else {
    a.fire = &on_parent_cancel;
    t->hook = &a;
  }
  return true;
}

void child_group::on_parent_cancel(cancel_hook* hook) noexcept {
  // Do not wake the parent: it resumes when a child ends, as before.
  static_cast<change_awaiter*>(hook)->group->abort_all();
}

std::size_t child_group::change_awaiter::await_resume() noexcept {
  if (task) task->hook = nullptr;
  std::lock_guard lock(group->lock_);
  return group->finished_;
}

task<void> child_group::wait_all() {
  std::size_t seen = 0;
  while (seen < children_.size()) seen = co_await wait_change(seen);
}

task<void> child_group::wait_all_abort_on_failure() {
  std::size_t seen = 0;
  bool aborted = false;
  while (seen < children_.size()) {
    seen = co_await wait_change(seen);
    if (!aborted && first_failed() != none) {
      aborted = true;
      abort_all();
    }
  }
}

void child_group::rethrow_first_failure(const std::exception_ptr* errors) noexcept(false) {
  std::size_t f = first_failed();
  if (f == none) return;
  if (!is_cancellation(errors[f])) std::rethrow_exception(errors[f]);
  throw cancelled{};
}

bool is_cancellation(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  try {
    std::rethrow_exception(e);
  } catch (const cancelled&) {
    return true;
  } catch (...) {
  }
  return false;
}

}  // namespace weft::detail
