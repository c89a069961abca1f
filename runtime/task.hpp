// weft::task<T>: a lazy coroutine. Nothing runs until it is awaited (which
// runs it inline, by symmetric transfer, on the awaiting task's worker) or
// spawned (weft::spawn, runtime::block_on). Move-only; destroying a task that
// never ran destroys its frame. Exceptions cross co_await.
// Stack: a chain of tasks awaiting tasks, however deep (the suite nests
// 100,000), and a loop over awaits that complete at once take constant stack
// at any optimisation level and under the sanitizers (see transfer_inline).
#pragma once

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

#include <runtime/detail/promise_base.hpp>

namespace weft {

template <class T = void>
class task;

namespace detail {

void report_unobserved_exception(task_header* h, std::exception_ptr e) noexcept;

// Ends a coroutine: hands control back to an inline awaiter, or, for a
// spawned task, tells the poller that the task finished.
struct final_awaiter {
  bool await_ready() noexcept { return false; }
  template <class P>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
    promise_base& p = h.promise();
    if (p.continuation_) return transfer_inline(p.root_, p.continuation_);
    p.root_->finished = true;
    p.root_->threw = h.promise().failed();
    return std::noop_coroutine();
  }
  void await_resume() noexcept {}
};

// A spawned task that was aborted before its first poll fails right here,
// before its body runs (the exception reaches unhandled_exception).
struct initial_awaiter {
  promise_base* promise;
  bool await_ready() noexcept { return false; }
  void await_suspend(std::coroutine_handle<>) noexcept {}
  void await_resume() const {
    if (promise->is_root_ && promise->cancel_at_start_ && promise->root_->is_cancelled())
      throw cancelled{};
  }
};

template <class Derived>
class task_promise_common : public promise_base {
 public:
  task_promise_common() noexcept = default;
  initial_awaiter initial_suspend() noexcept { return {this}; }
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  bool failed() const noexcept { return error_ != nullptr; }

  ~task_promise_common() {
    // A spawned task's exception that no join observed is reported, not lost.
    if (error_ && is_root_ && !root_->result_taken) report_unobserved_exception(root_, error_);
  }

 protected:
  // Moves the exception out: the frame keeps no second reference, so the
  // thread that rethrows it is its only owner (libstdc++'s exception refcount
  // is invisible to ThreadSanitizer, and one owner needs no ordering anyway).
  void rethrow_if_failed() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }
  std::exception_ptr error_;
};

template <class T>
class task_promise final : public task_promise_common<task_promise<T>> {
  static_assert(!std::is_reference_v<T>, "weft::task<T&> is not supported; return a pointer");

 public:
  task<T> get_return_object() noexcept;
  template <class U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) {
    value_.template emplace<1>(std::forward<U>(v));
  }
  T take() {
    this->rethrow_if_failed();
    return std::move(std::get<1>(value_));
  }

 private:
  std::variant<std::monostate, T> value_;
};

template <>
class task_promise<void> final : public task_promise_common<task_promise<void>> {
 public:
  task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() { rethrow_if_failed(); }
};

}  // namespace detail

template <class T>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using handle_type = std::coroutine_handle<promise_type>;
  using value_type = T;

  task() noexcept = default;
  explicit task(handle_type h) noexcept : handle_(h) {}
  task(task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (handle_) handle_.destroy();
  }

  bool valid() const noexcept { return static_cast<bool>(handle_); }

  // Awaiting runs the task inline: the awaiting coroutine is suspended and the
  // task's body starts right away on the same thread, by symmetric transfer.
  auto operator co_await() && noexcept { return awaiter{handle_}; }
  auto operator co_await() & noexcept { return awaiter{handle_}; }

  // For the runtime: give up ownership of the coroutine.
  handle_type release() noexcept { return std::exchange(handle_, {}); }

 private:
  struct awaiter {
    handle_type callee;
    bool await_ready() const noexcept { return !callee || callee.done(); }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> caller) noexcept {
      callee.promise().continuation_ = caller;
      detail::task_header* root = detail::running_task(caller);
      callee.promise().root_ = root;
      return detail::transfer_inline(root, callee);
    }
    T await_resume() {
      if (!callee) throw runtime_misuse("weft: awaited an empty task");
      return callee.promise().take();
    }
  };

  handle_type handle_;
};

namespace detail {
template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace weft
