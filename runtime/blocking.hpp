// weft::spawn_blocking(fn): run blocking code (file I/O, a C library call, a
// long computation) on the runtime's blocking pool, off the workers, and get
// its result as a join_handle. The pool grows on demand up to
// runtime_config::max_blocking_threads and shrinks when idle.
// Cancellation: aborting the handle before a thread picked the job up drops
// it (the join sees weft::cancelled); a job already running runs to the end.
// When the system refuses a new thread (RLIMIT_NPROC, address space) the
// job waits for a busy pool thread; with none, the join throws
// std::system_error ("weft::spawn_blocking: could not start a thread: ...").
#pragma once

#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include <runtime/detail/blocking_pool.hpp>
#include <runtime/detail/context.hpp>
#include <runtime/detail/promise_base.hpp>
#include <runtime/spawn.hpp>

namespace weft {

namespace detail {

bool submit_blocking(blocking_job* job);
bool cancel_blocking(task_header* t, blocking_job* job) noexcept;

template <class F, class R>
class blocking_awaitable : blocking_job, cancel_hook {
 public:
  explicit blocking_awaitable(F& f) : fn_(f) {}

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task_ = running_task(h);
    if (task_->is_cancelled()) {
      cancelled_ = true;
      return false;
    }
    task_->resume_point = h;
    task_->wait_kind = wait_kind::blocking;
    task_id = task_->id;
    run = &run_job;
    cancel_hook::fire = &on_cancel;
    task_->hook = static_cast<cancel_hook*>(this);
    bool queued;
    try {
      queued = submit_blocking(this);
    } catch (...) {
      task_->hook = nullptr;  // no thread could be started for it
      throw;
    }
    if (!queued) {
      task_->hook = nullptr;
      throw runtime_misuse("weft::spawn_blocking: runtime is shutting down");
    }
    return true;
  }
  R await_resume() {
    task_->hook = nullptr;
    if (cancelled_) throw cancelled{};
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<R>) return std::move(*value_);
  }

 private:
  static void run_job(blocking_job* job) noexcept {
    auto* self = static_cast<blocking_awaitable*>(job);
    // The job sees its task's context_vars, and its own set() ends with it
    // (the pool thread serves every task). The task is suspended meanwhile.
    {
      thread_context_scope values(self->task_->context);  // ends before the wake: the task may run at once
      try {
        if constexpr (std::is_void_v<R>) self->fn_();
        else self->value_.emplace(self->fn_());
      } catch (...) {
        self->error_ = std::current_exception();
      }
    }
    wake(self->task_);
  }
  static void on_cancel(cancel_hook* hook) noexcept {
    auto* self = static_cast<blocking_awaitable*>(hook);
    if (cancel_blocking(self->task_, static_cast<blocking_job*>(self))) {
      self->cancelled_ = true;
      wake(self->task_);
    }
  }

  F& fn_;
  task_header* task_ = nullptr;
  bool cancelled_ = false;
  std::exception_ptr error_;
  std::conditional_t<std::is_void_v<R>, int, std::optional<R>> value_{};
};

template <class R, class F>
task<R> run_blocking(F fn) {
  co_return co_await blocking_awaitable<F, R>(fn);
}

}  // namespace detail

template <class F>
auto spawn_blocking(F&& fn, spawn_options opts = {},
                    std::source_location where = std::source_location::current())
    -> join_handle<std::invoke_result_t<std::decay_t<F>&>> {
  using R = std::invoke_result_t<std::decay_t<F>&>;
  return detail::spawn_on_current(detail::run_blocking<R>(std::decay_t<F>(std::forward<F>(fn))), opts, where,
                                  "weft::spawn_blocking");
}

}  // namespace weft
