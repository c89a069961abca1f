#include <runtime/task_group.hpp>

#include <algorithm>
#include <mutex>

#include <runtime/detail/child_group.hpp>
#include <runtime/detail/scheduler.hpp>
#include <runtime/errors.hpp>

namespace weft {
namespace detail {

void retain(group_state* s) noexcept { s->refs.fetch_add(1, std::memory_order_relaxed); }

void release(group_state* s) noexcept {
  if (s->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  for (task_header* c : s->children) drop_ref(c);  // only left after a runtime teardown
  if (s->failed_child) {
    // No join took the failure: say so, as for a detached task.
    if (s->first_error) report_unobserved_exception(s->failed_child, s->first_error);
    drop_ref(s->failed_child);
  }
  delete s;
}

void group_state::abort_children_locked() noexcept {
  for (task_header* c : children) abort_task(c);
}

void group_state::child_done(task_header* self, std::exception_ptr error) noexcept {
  task_header* wake_waiter = nullptr;
  task_header* orphan = nullptr;
  {
    std::lock_guard guard(lock);
    auto it = std::find(children.begin(), children.end(), self);
    bool joined = it != children.end();  // we hold its join reference
    if (joined) {
      *it = children.back();
      children.pop_back();
    }
    --running;
    if (error && !failed && !is_cancellation(error)) {
      failed = true;
      first_error = std::move(error);
      if (joined) failed_child = std::exchange(self, nullptr);  // kept for the report
      abort_children_locked();
    }
    if (joined && self) drop_ref(self);  // the group's join reference; our own keeps us alive
    if (running == 0) wake_waiter = std::exchange(waiter, nullptr);
    orphan = orphan_parent;
  }
  // The state stays alive through this child's group_ref; the waiter may
  // destroy the task_group as soon as it is woken.
  if (wake_waiter) wake(wake_waiter);
  if (orphan) release_completion_hold(orphan);
}

bool group_join_awaiter::suspend(task_header* t, std::coroutine_handle<> h) noexcept {
  task = t;
  std::lock_guard guard(state->lock);
  if (state->running == 0) return false;
  if (state->waiter) [[unlikely]] {
    // One waiter slot: a second joiner would never be woken.
    other_joiner = true;
    return false;
  }
  t->resume_point = h;
  t->wait_kind = wait_kind::join;
  state->waiter = t;
  if (t->is_cancelled()) {
    parent_cancelled = true;
    state->abort_children_locked();
  } else {
    fire = &on_cancel;
    t->hook = this;
  }
  return true;
}

void group_join_awaiter::on_cancel(cancel_hook* hook) noexcept {
  auto* self = static_cast<group_join_awaiter*>(hook);
  self->parent_cancelled = true;
  std::lock_guard guard(self->state->lock);
  self->state->abort_children_locked();  // keep waiting: the last child wakes us
}

void spawn_group_child(group_state* s, task<void> child, const spawn_options& opts,
                       const std::source_location& where) {
  auto h = child.release();
  // Hold the lock across the spawn: the child may run (and end) on another
  // worker at once, and must find itself in `children`.
  std::lock_guard guard(s->lock);
  task_header* hdr = spawn_frame(nullptr, h, h.promise(), opts, where);
  s->children.push_back(hdr);
  ++s->running;
  if (s->failed) abort_task(hdr);
}

}  // namespace detail

task_group::task_group() : state_(new detail::group_state) {}

task_group::~task_group() {
  {
    std::lock_guard guard(state_->lock);
    if (state_->running > 0) {
      state_->abort_children_locked();
      detail::task_header* parent = detail::current_task();
      if (parent && !parent->sched->shutting_down()) {
        // The owner may not complete before these children end.
        state_->orphan_parent = parent;
        detail::hold_completion(parent, std::uint32_t(state_->running));
      }
    }
  }
  detail::release(state_);
}

task<void> task_group::join() {
  detail::group_join_awaiter waiting{{}, state_};
  co_await waiting;
  std::exception_ptr error;
  detail::task_header* failed_child;
  {
    std::lock_guard guard(state_->lock);
    error = std::exchange(state_->first_error, nullptr);
    failed_child = std::exchange(state_->failed_child, nullptr);
    state_->failed = false;
  }
  if (failed_child) detail::drop_ref(failed_child);
  if (error) std::rethrow_exception(error);
  if (waiting.parent_cancelled) throw cancelled{};
}

void task_group::cancel() noexcept {
  std::lock_guard guard(state_->lock);
  state_->abort_children_locked();
}

std::size_t task_group::running() const noexcept {
  std::lock_guard guard(state_->lock);
  return state_->running;
}

}  // namespace weft
