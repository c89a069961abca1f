// weft::join_handle<T>: the owner's view of a spawned task.
//
// co_await gives the task's value or rethrows its exception (weft::cancelled
// if it was aborted). A handle can be awaited once, as a named variable or as
// a temporary. Destroying it detaches the task, which keeps running.
// Lifetime: the task's frame, and whatever its parameters own, is destroyed
// when the task ends, before the join sees it end; the handle keeps the
// result and the task's memory block (frame included) until it goes.
// Thread safety: one handle is used by one task or thread at a time; abort()
// and is_finished() may be called from any thread.
// Cancellation: if the *awaiting* task is aborted while it waits, the wait
// ends with weft::cancelled and the joined task keeps running.
#pragma once

#include <coroutine>
#include <cstdint>
#include <utility>

#include <runtime/detail/promise_base.hpp>
#include <runtime/task.hpp>

namespace weft {

template <class T = void>
class join_handle {
 public:
  join_handle() noexcept = default;
  explicit join_handle(detail::task_header* h) noexcept : h_(h) {}
  join_handle(join_handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  join_handle& operator=(join_handle&& o) noexcept {
    if (this != &o) {
      detach();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  join_handle(const join_handle&) = delete;
  join_handle& operator=(const join_handle&) = delete;
  ~join_handle() { detach(); }

  // Cancels the task: its next suspension throws weft::cancelled, a pending
  // weft operation is cancelled, and so does every later await in it (the
  // cancellation sticks; see the README). No effect on a finished task.
  void abort() const noexcept {
    if (h_) detail::abort_task(h_);
  }
  bool is_finished() const noexcept {
    return h_ && (h_->state.load(std::memory_order_acquire) & detail::state::complete);
  }
  void detach() noexcept {
    if (h_) detail::drop_ref(std::exchange(h_, nullptr));
  }
  bool valid() const noexcept { return h_ != nullptr; }
  std::uint64_t id() const noexcept { return h_ ? h_->id : 0; }

  auto operator co_await() & noexcept { return awaiter{{}, checked()}; }
  auto operator co_await() && noexcept { return awaiter{{}, checked()}; }

  // For the runtime's combinators: the header, and taking over its reference.
  detail::task_header* header() const noexcept { return h_; }
  detail::task_header* release_header() noexcept { return std::exchange(h_, nullptr); }

 private:
  detail::task_header* checked() const noexcept { return h_; }

  // While registered in target->joiner, the awaiting task holds a reference
  // on itself, dropped by whoever takes it out again (the completer, which
  // wakes it; on_cancel; or the destructor). A waiting task whose frame is
  // destroyed (its runtime went) leaves no dangling joiner behind, and one
  // the completer took stays in memory until the completer is done with it.
  struct awaiter : detail::cancel_hook {
    detail::task_header* target;
    detail::task_header* me = nullptr;
    bool cancelled_wait = false;
    bool registered = false;

    ~awaiter() {
      if (registered) [[unlikely]]
        detail::unregister_joiner(target, me);
    }
    bool await_ready() const noexcept {
      return !target || (target->state.load(std::memory_order_acquire) & detail::state::complete);
    }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
      me = detail::running_task(h);
      if (me->is_cancelled()) {
        cancelled_wait = true;
        return false;
      }
      me->resume_point = h;
      me->wait_kind = detail::wait_kind::join;
      fire = &on_cancel;
      me->hook = this;
      detail::task_header* expected = nullptr;
      // Before the exchange: once it is made we may run elsewhere at once.
      me->refs.fetch_add(1, std::memory_order_relaxed);
      registered = true;
      // acq_rel: on failure we read the completed result; on success the
      // completer's exchange sees our registration.
      if (target->joiner.compare_exchange_strong(expected, me, std::memory_order_acq_rel,
                                                 std::memory_order_acquire))
        return true;
      registered = false;
      me->refs.fetch_sub(1, std::memory_order_relaxed);  // not the last: the scheduler holds one
      me->hook = nullptr;
      return false;
    }
    static void on_cancel(detail::cancel_hook* hook) noexcept {
      auto* self = static_cast<awaiter*>(hook);
      detail::task_header* expected = self->me;
      if (self->target->joiner.compare_exchange_strong(expected, nullptr,
                                                       std::memory_order_acq_rel)) {
        self->cancelled_wait = true;
        self->registered = false;
        detail::drop_ref(self->me);  // not the last: the scheduler holds one
        detail::wake(self->me);
      }
      // else: the task completed and its completion wakes us.
    }
    T await_resume() {
      registered = false;  // taken out by whoever woke us
      if (me) me->hook = nullptr;
      if (cancelled_wait) throw cancelled{};
      if (!target) throw runtime_misuse("weft: awaited an empty join_handle");
      if (target->result_taken) throw runtime_misuse("weft: join_handle awaited twice");
      target->result_taken = true;
      return detail::take_result<T>(target);
    }
  };

  detail::task_header* h_ = nullptr;
};

}  // namespace weft
