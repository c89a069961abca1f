// What every waiting sync operation shares.
//
// A waiter is a node that lives inside the awaiter, i.e. in the awaiting
// coroutine's frame: queueing costs no allocation. A primitive keeps its
// waiters in an intrusive FIFO list (waiter_list) guarded by its spinlock.
//
// The protocol (see notes/ORIENTATION.md and runtime/detail/task_header.hpp):
//  - await_suspend registers the waiter, the task's resume point and its
//    cancel hook, all while the poller holds the task's `running` bit, so a
//    completer on another thread may pop and wake it at once: the wake is
//    deferred to the end of the poll by the state word.
//  - A completer takes a waiter out of the list under the primitive's lock,
//    writes its outcome (`status`, and a result where there is one), and
//    wakes its task once, after dropping the lock. Waiters unlinked under the
//    lock are reachable by nobody else, so the waker may still read `next`
//    and `task` after unlocking, but never touches a waiter after waking it:
//    the task may already be running elsewhere and destroy it.
//  - The cancel hook takes the lock; a waiter still queued is unlinked and
//    woken with status `cancelled`; one that is no longer queued was already
//    completed and resumes with its result (no data is lost).
//  - Waking only schedules: releasing 100,000 waiters never resumes one of
//    them on the releaser's stack.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>

#include <runtime/detail/promise_base.hpp>
#include <runtime/detail/task_header.hpp>
#include <runtime/errors.hpp>
#include <runtime/yield.hpp>
#include <sync/detail/backoff_spinlock.hpp>

namespace weft::detail {

enum class wait_status : std::uint8_t {
  pending,    // not completed yet
  done,       // completed: the result (if any) is in the awaiter
  cancelled,  // the task was aborted before the operation completed
  closed,     // the primitive was closed under the waiter
};

struct waiter : cancel_hook {
  waiter() noexcept : cancel_hook{nullptr} {}
  // An awaiter may be moved (e.g. into a combinator) before it is awaited,
  // never while it waits: a copy or move is a fresh, unlinked node.
  waiter(const waiter&) noexcept : waiter() {}
  waiter& operator=(const waiter&) = delete;

  // Set by waiter_list::push_back (and wake_list::push), read only while
  // queued: not initialised here, so an operation that completes at once
  // (nearly every lock of a mutex) does not pay two stores for them.
  waiter* prev;
  waiter* next;
  task_header* task = nullptr;
  // Both read and written under the owning primitive's lock while the waiter
  // waits; after the task resumes (the wake orders them) only the task reads.
  bool queued = false;
  wait_status status = wait_status::pending;
};

// FIFO of waiters. Not thread-safe: the owner's lock guards it.
class waiter_list {
 public:
  constexpr waiter_list() noexcept = default;
  waiter_list(const waiter_list&) = delete;
  waiter_list& operator=(const waiter_list&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  waiter* front() const noexcept { return head_; }

  void push_back(waiter* w) noexcept {
    w->queued = true;
    w->next = nullptr;
    w->prev = tail_;
    if (tail_) tail_->next = w;
    else head_ = w;
    tail_ = w;
  }

  void remove(waiter* w) noexcept {
    if (w->prev) w->prev->next = w->next;
    else head_ = w->next;
    if (w->next) w->next->prev = w->prev;
    else tail_ = w->prev;
    w->prev = w->next = nullptr;
    w->queued = false;
  }

  waiter* pop_front() noexcept {
    waiter* w = head_;
    if (w) remove(w);
    return w;
  }

  // Primitive destruction (runtime shutdown destroys suspended tasks in any
  // order): forget every waiter, so none of them touches us later.
  void detach_all() noexcept {
    while (pop_front()) {
    }
  }

  // O(n); for the test probe.
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (waiter* w = head_; w; w = w->next) ++n;
    return n;
  }

 private:
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

// Waiters taken out of a list under the lock, woken after it is dropped.
// Chained through `next`, which is free once a waiter is unlinked.
class wake_list {
 public:
  wake_list() noexcept = default;
  wake_list(const wake_list&) = delete;
  wake_list& operator=(const wake_list&) = delete;
  ~wake_list() { wake_all(); }

  void push(waiter* w) noexcept {
    w->next = nullptr;
    if (tail_) tail_->next = w;
    else head_ = w;
    tail_ = w;
  }
  // Moves every waiter of `from` here with the given outcome.
  void take_all(waiter_list& from, wait_status s) noexcept {
    while (waiter* w = from.pop_front()) {
      w->status = s;
      push(w);
    }
  }
  bool empty() const noexcept { return head_ == nullptr; }

  // Call with the primitive's lock released.
  void wake_all() noexcept {
    waiter* w = head_;
    head_ = tail_ = nullptr;
    while (w) {
      waiter* next = w->next;  // read before the wake: after it, w may be gone
      wake(w->task);
      w = next;
    }
  }

 private:
  waiter* head_ = nullptr;
  waiter* tail_ = nullptr;
};

// The operation completed without waiting: spend cooperative budget. Returns
// what await_suspend returns: false to go on at once, true when the budget is
// spent and the task yields (its result stays in the awaiter).
inline bool yield_if_budget_spent(task_header* t, std::coroutine_handle<> h) noexcept {
  if (!spend_sync_budget(t)) return false;
  yield_self(t, h);
  return true;
}

// Registers the resume point and the cancel hook before the waiter is queued.
// `kind` tells the tracer what the task waits on (wait_kind::channel for
// message passing, wait_kind::sync for locks and signals).
inline void prepare_wait(waiter& w, std::coroutine_handle<> h, void (*fire)(cancel_hook*) noexcept,
                         std::uint8_t kind) noexcept {
  w.task->resume_point = h;
  w.task->wait_kind = kind;
  w.fire = fire;
  w.task->hook = &w;
}

// The common cancel hook body: unlink `w` from `list` if it still waits.
// Returns true when it did (and woke the task with status `cancelled`).
inline bool cancel_if_queued(backoff_spinlock& lock, waiter_list& list, waiter& w) noexcept {
  task_header* t;
  {
    spin_guard g(lock);
    if (!w.queued) return false;  // completed already: it resumes with its result
    list.remove(&w);
    w.status = wait_status::cancelled;
    t = w.task;
  }
  wake(t);
  return true;
}

// An awaiter destroyed while queued (its task was destroyed by runtime
// shutdown) leaves the list so the primitive never reaches a dead frame.
inline void abandon_if_queued(backoff_spinlock& lock, waiter_list& list, waiter& w) noexcept {
  spin_guard g(lock);
  if (w.queued) list.remove(&w);
}

// Test seam: how many tasks wait on a primitive (each primitive befriends
// this and has a `waiter_count_()`). O(n) under the primitive's lock.
struct sync_probe {
  template <class Primitive>
  static std::size_t waiters(const Primitive& p) noexcept {
    return p.waiter_count_();
  }
};

}  // namespace weft::detail
