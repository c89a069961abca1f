// weft::promise<T> / weft::shared_future<T>: a value (or an exception) set
// once and awaited by any number of tasks, like asyncio.Future.
//
//   weft::promise<int> p;
//   weft::shared_future<int> fut = p.get_future();   // copyable, any number
//   ... p.set_value(7);                               // from any thread
//   int v = co_await fut;                             // in any task, any worker
//
// T may be void. Every awaiter gets the value: `co_await fut` on a named
// future gives `const T&` into the shared state (valid while a future or the
// promise lives); `co_await p.get_future()` (an rvalue future) gives a copy.
// An exception set with set_exception is rethrown to every awaiter; a promise
// destroyed unset makes every await throw weft::broken_promise.
// Thread safety: set_* and get_future may be called from any thread; setting
// twice throws weft::runtime_misuse (only the first set counts). Futures are
// independent copies, each used by one task at a time.
// Completion: an await completes when the promise is set; if it is already
// set the await spends cooperative budget and completes without waiting.
// Setting only schedules the waiters (no waiter runs on the setter's stack).
// Cancellation: cancel-safe; an aborted waiter leaves the queue and throws
// weft::cancelled; the value stays for every other (and later) awaiter.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/waiter.hpp>
#include <sync/errors.hpp>

namespace weft {

template <class T>
class promise;
template <class T>
class shared_future;

namespace detail {

template <class T>
class future_state {
 public:
  using stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
  enum : std::uint8_t { pending, has_value, has_error, broken };

  ~future_state() { waiters.detach_all(); }

  // acquire load pairs with the release store in finish(): a reader that sees
  // a final status sees the value or the exception.
  std::uint8_t current() const noexcept { return status.load(std::memory_order_acquire); }

  // Precondition: current() != pending.
  const stored& get() const {
    switch (status.load(std::memory_order_acquire)) {
      case has_value:
        return *value;
      case has_error:
        std::rethrow_exception(error);
      default:
        throw broken_promise{};
    }
  }

  // Claims the right to set; the winner writes the value, then finish().
  bool claim() noexcept { return !claimed.exchange(true, std::memory_order_acq_rel); }
  void finish(std::uint8_t s) noexcept {
    wake_list woken;
    {
      spin_guard g(lock);
      status.store(s, std::memory_order_release);
      woken.take_all(waiters, wait_status::done);
    }
    woken.wake_all();
  }

  std::atomic<bool> claimed{false};
  std::atomic<std::uint8_t> status{pending};
  mutable backoff_spinlock lock;
  waiter_list waiters;
  std::optional<stored> value;
  std::exception_ptr error;
};

template <class T, bool Copy>
class future_awaiter : public waiter {
  using state = future_state<T>;

 public:
  explicit future_awaiter(std::shared_ptr<state> st) noexcept : st_(std::move(st)) {}
  future_awaiter(future_awaiter&&) = default;
  ~future_awaiter() {
    if (queued) abandon_if_queued(st_->lock, st_->waiters, *this);
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task = running_task(h);
    if (!st_) throw runtime_misuse("weft::shared_future: awaited an empty future");
    if (task->is_cancelled()) {
      status = wait_status::cancelled;
      return false;
    }
    if (st_->current() != state::pending) return yield_if_budget_spent(task, h);
    {
      spin_guard g(st_->lock);
      if (st_->status.load(std::memory_order_relaxed) == state::pending) {
        prepare_wait(*this, h, &on_cancel, wait_kind::sync);
        st_->waiters.push_back(this);
        return true;
      }
    }
    return yield_if_budget_spent(task, h);
  }

  decltype(auto) await_resume() {
    task->hook = nullptr;
    if (status == wait_status::cancelled) throw cancelled{};
    if constexpr (std::is_void_v<T>) {
      st_->get();
    } else if constexpr (Copy) {
      return T(st_->get());
    } else {
      return static_cast<const T&>(st_->get());
    }
  }

 private:
  static void on_cancel(cancel_hook* hook) noexcept {
    auto& w = static_cast<future_awaiter&>(static_cast<waiter&>(*hook));
    cancel_if_queued(w.st_->lock, w.st_->waiters, w);
  }

  // Shared ownership: the state lives while anyone waits on it.
  std::shared_ptr<state> st_;
};

}  // namespace detail

template <class T>
class shared_future {
  using state = detail::future_state<T>;

 public:
  shared_future() noexcept = default;

  bool valid() const noexcept { return st_ != nullptr; }
  // Set (value, exception, or broken promise): an await would not wait.
  bool is_ready() const noexcept { return st_ && st_->current() != state::pending; }

  // Without waiting, once ready: the value, or rethrows. Throws
  // weft::runtime_misuse when not ready.
  decltype(auto) get() const {
    if (!is_ready()) throw runtime_misuse("weft::shared_future::get: not ready");
    if constexpr (std::is_void_v<T>) st_->get();
    else return static_cast<const T&>(st_->get());
  }

  detail::future_awaiter<T, false> operator co_await() const& noexcept {
    return detail::future_awaiter<T, false>(st_);
  }
  detail::future_awaiter<T, true> operator co_await() && noexcept {
    return detail::future_awaiter<T, true>(std::move(st_));
  }

 private:
  friend class promise<T>;
  friend struct detail::sync_probe;
  explicit shared_future(std::shared_ptr<state> st) noexcept : st_(std::move(st)) {}
  std::size_t waiter_count_() const noexcept {
    detail::spin_guard g(st_->lock);
    return st_->waiters.size();
  }
  std::shared_ptr<state> st_;
};

template <class T>
class promise {
  using state = detail::future_state<T>;

 public:
  promise() : st_(std::make_shared<state>()) {}
  promise(promise&&) noexcept = default;
  promise& operator=(promise&& o) noexcept {
    if (this != &o) {
      abandon();
      st_ = std::move(o.st_);
    }
    return *this;
  }
  ~promise() { abandon(); }

  shared_future<T> get_future() const {
    if (!st_) throw runtime_misuse("weft::promise: used after move");
    return shared_future<T>(st_);
  }

  template <class... Args>
  void set_value(Args&&... args) {
    claim_or_throw();
    try {
      st_->value.emplace(std::forward<Args>(args)...);
    } catch (...) {
      st_->error = std::current_exception();
      st_->finish(state::has_error);
      throw;
    }
    st_->finish(state::has_value);
  }
  void set_exception(std::exception_ptr e) {
    if (!e) throw runtime_misuse("weft::promise::set_exception: null exception_ptr");
    claim_or_throw();
    st_->error = std::move(e);
    st_->finish(state::has_error);
  }
  bool is_set() const noexcept { return st_ && st_->claimed.load(std::memory_order_acquire); }

 private:
  void claim_or_throw() {
    if (!st_) throw runtime_misuse("weft::promise: used after move");
    if (!st_->claim()) throw runtime_misuse("weft::promise: already set");
  }
  void abandon() noexcept {
    if (st_ && st_->claim()) st_->finish(state::broken);
    st_.reset();
  }

  std::shared_ptr<state> st_;
};

}  // namespace weft
