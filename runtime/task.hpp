// weft::task<T>: a lazy coroutine. Nothing runs until it is awaited (which
// runs it inline, by symmetric transfer, on the awaiting task's worker) or
// spawned (weft::spawn, runtime::block_on). Move-only; destroying a task that
// never ran destroys its frame. Exceptions cross co_await. A task is awaited
// once: awaiting it again (or a moved-from one) throws weft::runtime_misuse,
// as for a join_handle, rather than yield a moved-from value.
// Stack: a chain of tasks awaiting tasks, however deep (the suite nests
// 100,000), and a loop over awaits that complete at once take constant stack
// at any optimisation level and under the sanitizers (see transfer_inline).
#pragma once

#include <coroutine>
#include <exception>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include <runtime/detail/promise_base.hpp>

namespace weft {

template <class T = void>
class task;

namespace detail {

void report_unobserved_exception(task_header* h, std::exception_ptr e) noexcept;

// A task's outcome, kept at the end of its block (see promise_base): the
// exception it threw, or the value it returned. Neither means the runtime
// tore the task down before it ended.
template <class T>
struct result_slot {
  std::exception_ptr error;
  std::optional<T> value;
  bool returned() const noexcept { return value.has_value(); }
};
template <>
struct result_slot<void> {
  std::exception_ptr error;
  bool returned_ = false;
  bool returned() const noexcept { return returned_; }
};

template <class T>
result_slot<T>& result_slot_of(task_header* h) noexcept {
  return *std::launder(static_cast<result_slot<T>*>(promise_base::slot_of(h, sizeof(result_slot<T>))));
}

// The header's drop_result for a task<T>. A spawned task's exception that no
// join observed is reported here, when its last reference goes, not lost.
template <class T>
void drop_result_slot(task_header* h) noexcept {
  result_slot<T>& slot = result_slot_of<T>(h);
  if (slot.error && h->frame && !h->result_taken) report_unobserved_exception(h, slot.error);
  slot.~result_slot<T>();
}

// Gives the outcome to the one who awaited the task. The exception is moved
// out: the slot keeps no second reference, so the thread that rethrows it is
// its only owner (libstdc++'s exception refcount is invisible to
// ThreadSanitizer, and one owner needs no ordering anyway).
template <class T>
T take_result(task_header* h) {
  result_slot<T>& slot = result_slot_of<T>(h);
  if (slot.error) std::rethrow_exception(std::exchange(slot.error, nullptr));
  if (!slot.returned()) throw cancelled{};  // torn down by the runtime's shutdown
  if constexpr (!std::is_void_v<T>) return std::move(*slot.value);
}

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

template <class Derived, class T>
class task_promise_common : public promise_base {
 public:
  static void* operator new(std::size_t frame_bytes) {
    static_assert(alignof(result_slot<T>) <= 16, "weft::task<T>: T may be aligned to at most 16 bytes");
    void* frame = allocate_block(frame_bytes, sizeof(result_slot<T>), alignof(result_slot<T>));
    task_header* h = header_of_frame(frame);
    new (slot_of(h, sizeof(result_slot<T>))) result_slot<T>();
    h->drop_result = &drop_result_slot<T>;
    return frame;
  }
  static void operator delete(void* frame, std::size_t) noexcept { release_frame(frame); }

  task_promise_common() noexcept = default;
  initial_awaiter initial_suspend() noexcept { return {this}; }
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { slot().error = std::current_exception(); }
  bool failed() noexcept { return slot().error != nullptr; }
  // result_taken, unused by a task that is not spawned, marks the result
  // given away: one byte next to the header it reads anyway.
  T take() {
    task_header* h = header();
    if (h->result_taken) [[unlikely]]
      throw runtime_misuse("weft::task awaited twice");
    h->result_taken = true;
    return take_result<T>(h);
  }

 protected:
  task_header* header() noexcept {
    return header_of_frame(std::coroutine_handle<Derived>::from_promise(static_cast<Derived&>(*this)).address());
  }
  result_slot<T>& slot() noexcept { return result_slot_of<T>(header()); }
};

template <class T>
class task_promise final : public task_promise_common<task_promise<T>, T> {
  static_assert(!std::is_reference_v<T>, "weft::task<T&> is not supported; return a pointer");

 public:
  task<T> get_return_object() noexcept;
  template <class U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& v) {
    this->slot().value.emplace(std::forward<U>(v));
  }
};

template <>
class task_promise<void> final : public task_promise_common<task_promise<void>, void> {
 public:
  task<void> get_return_object() noexcept;
  void return_void() noexcept { slot().returned_ = true; }
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
