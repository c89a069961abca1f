// weft::oneshot<T>(): one value from one sender to one receiver.
//
//   auto [tx, rx] = weft::oneshot<int>();
//   tx.send(42);                               // never waits
//   std::optional<int> v = co_await rx;        // nullopt: sender destroyed unsent
//
// The two ends share one allocation, made by oneshot(). The receiver learns
// that the sender was destroyed without sending (nullopt); the sender learns
// that the receiver is gone (send hands the value back, is_closed()).
// Thread safety: each end is used by one task or thread at a time; the two
// ends may be used concurrently from anywhere. Lock-free: one atomic RMW on
// each side.
// Completion: awaiting the receiver completes when the value arrives or the
// sender is destroyed; completing without waiting spends cooperative budget.
// Cancellation: cancel-safe. Aborted while waiting, the await throws
// weft::cancelled and the value (if it comes later) stays for a later await;
// a value that arrived before the abort took effect is returned.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/waiter.hpp>
#include <sync/try_result.hpp>

namespace weft {

template <class T>
class oneshot_sender;
template <class T>
class oneshot_receiver;

namespace detail {

template <class T>
class oneshot_state {
 public:
  // `bits`: value_set, sender_gone and receiver_gone are set once and never
  // cleared (value_set is cleared only by a sender taking its value back
  // after the receiver left); receiver_waiting is set by the receiver before
  // it suspends and cleared by it (cancel, late completion). Every change is
  // an acq_rel RMW on this word, so whoever sees value_set also sees the
  // value, and whoever sees receiver_waiting also sees `waiter_task`; and of
  // a sender setting value_set and a cancel clearing receiver_waiting,
  // exactly one sees the other's bit and wakes the task.
  static constexpr std::uint32_t value_set = 1;
  static constexpr std::uint32_t sender_gone = 2;
  static constexpr std::uint32_t receiver_gone = 4;
  static constexpr std::uint32_t receiver_waiting = 8;

  std::atomic<std::uint32_t> bits{0};
  std::atomic<std::uint32_t> refs{2};  // the two ends; acq_rel, the last frees
  task_header* waiter_task = nullptr;  // published by setting receiver_waiting
  bool consumed = false;               // the receiver moved the value out
  alignas(T) unsigned char storage[sizeof(T)];

  T& value() noexcept { return *std::launder(reinterpret_cast<T*>(storage)); }

  ~oneshot_state() {
    if ((bits.load(std::memory_order_relaxed) & value_set) && !consumed) value().~T();
  }
  void drop() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

}  // namespace detail

template <class T>
class oneshot_sender {
 public:
  oneshot_sender() noexcept = default;
  oneshot_sender(oneshot_sender&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  oneshot_sender& operator=(oneshot_sender&& o) noexcept {
    if (this != &o) {
      reset();
      st_ = std::exchange(o.st_, nullptr);
    }
    return *this;
  }
  ~oneshot_sender() { reset(); }

  // Sends and gives up the sender (it becomes empty). Returns sent, or
  // closed with the value handed back when the receiver is already gone.
  // Throws weft::runtime_misuse on an empty (moved-from or used) sender.
  try_send_result<T> send(T value);

  // The receiver was destroyed: a send would hand its value back.
  bool is_closed() const noexcept {
    return !st_ ||
           (st_->bits.load(std::memory_order_acquire) & detail::oneshot_state<T>::receiver_gone);
  }
  bool valid() const noexcept { return st_ != nullptr; }

 private:
  template <class U>
  friend std::pair<oneshot_sender<U>, oneshot_receiver<U>> oneshot();
  explicit oneshot_sender(detail::oneshot_state<T>* st) noexcept : st_(st) {}
  void reset() noexcept;

  detail::oneshot_state<T>* st_ = nullptr;
};

template <class T>
class oneshot_receiver {
  using state = detail::oneshot_state<T>;

 public:
  class awaiter;

  oneshot_receiver() noexcept = default;
  oneshot_receiver(oneshot_receiver&& o) noexcept : st_(std::exchange(o.st_, nullptr)) {}
  oneshot_receiver& operator=(oneshot_receiver&& o) noexcept {
    if (this != &o) {
      reset();
      st_ = std::exchange(o.st_, nullptr);
    }
    return *this;
  }
  ~oneshot_receiver() { reset(); }

  // co_await: std::optional<T>, nullopt when the sender was destroyed unsent.
  // The value can be taken once; awaiting again after that throws
  // weft::runtime_misuse.
  [[nodiscard]] awaiter recv() noexcept { return awaiter(st_); }
  awaiter operator co_await() noexcept { return awaiter(st_); }

  // Never waits: received, empty (not yet sent), or closed (sender gone).
  try_recv_result<T> try_recv() {
    check(st_);
    std::uint32_t b = st_->bits.load(std::memory_order_acquire);
    if (b & state::value_set) return try_recv_result<T>(take(st_));
    return try_recv_result<T>((b & state::sender_gone) ? recv_status::closed : recv_status::empty);
  }
  bool valid() const noexcept { return st_ != nullptr; }

 private:
  template <class U>
  friend std::pair<oneshot_sender<U>, oneshot_receiver<U>> oneshot();
  explicit oneshot_receiver(state* st) noexcept : st_(st) {}
  void reset() noexcept {
    if (!st_) return;
    st_->bits.fetch_or(state::receiver_gone, std::memory_order_acq_rel);
    std::exchange(st_, nullptr)->drop();
  }
  static void check(state* st) {
    if (!st) throw runtime_misuse("weft::oneshot_receiver: used after move");
  }
  // Precondition: value_set was seen (acquire).
  static T take(state* st) {
    if (st->consumed) throw runtime_misuse("weft::oneshot_receiver: the value was already received");
    st->consumed = true;
    T v(std::move(st->value()));
    st->value().~T();
    return v;
  }

  state* st_ = nullptr;
};

template <class T>
class oneshot_receiver<T>::awaiter : detail::cancel_hook {
 public:
  explicit awaiter(state* st) noexcept : cancel_hook{nullptr}, st_(st) {}
  awaiter(awaiter&& o) noexcept : cancel_hook{nullptr}, st_(o.st_) {}
  ~awaiter() {
    // Destroyed while waiting (runtime shutdown): withdraw, so a later send
    // does not wake a task that is gone. A waiting awaiter holds a reference
    // on the state of its own: at shutdown the receiver, if another task's
    // frame owned it, may have been destroyed first.
    if (waiting_) {
      st_->bits.fetch_and(~state::receiver_waiting, std::memory_order_acq_rel);
      st_->drop();
    }
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task_ = detail::running_task(h);
    check(st_);
    if (task_->is_cancelled()) {
      cancelled_ = true;
      return false;
    }
    constexpr std::uint32_t final_bits = state::value_set | state::sender_gone;
    if (st_->bits.load(std::memory_order_acquire) & final_bits)
      return detail::yield_if_budget_spent(task_, h);
    st_->waiter_task = task_;
    task_->resume_point = h;
    task_->wait_kind = detail::wait_kind::channel;
    fire = &on_cancel;
    task_->hook = this;
    // Relaxed: the receiver's reference keeps the state alive meanwhile.
    st_->refs.fetch_add(1, std::memory_order_relaxed);
    waiting_ = true;
    std::uint32_t prev = st_->bits.fetch_or(state::receiver_waiting, std::memory_order_acq_rel);
    if (prev & final_bits) {
      // Completed in between: the sender did not see us waiting, will not wake us.
      st_->bits.fetch_and(~state::receiver_waiting, std::memory_order_relaxed);
      task_->hook = nullptr;
      end_wait();
      return detail::yield_if_budget_spent(task_, h);
    }
    return true;
  }
  std::optional<T> await_resume() {
    task_->hook = nullptr;
    std::optional<T> v;
    // acquire: pairs with the sender's release of the value.
    if (!cancelled_ && (st_->bits.load(std::memory_order_acquire) & state::value_set)) v.emplace(take(st_));
    end_wait();  // after take: the receiver may be gone, and then ours is the last reference
    if (cancelled_) throw cancelled{};
    return v;
  }

 private:
  static void on_cancel(detail::cancel_hook* hook) noexcept {
    auto* self = static_cast<awaiter*>(hook);
    std::uint32_t prev =
        self->st_->bits.fetch_and(~state::receiver_waiting, std::memory_order_acq_rel);
    if (prev & (state::value_set | state::sender_gone)) return;  // the sender wakes us
    self->cancelled_ = true;
    detail::wake(self->task_);
  }

  void end_wait() noexcept {
    if (std::exchange(waiting_, false)) st_->drop();
  }

  state* st_;
  detail::task_header* task_ = nullptr;
  bool cancelled_ = false;
  bool waiting_ = false;  // suspended, holding a reference on the state
};

template <class T>
try_send_result<T> oneshot_sender<T>::send(T value) {
  using state = detail::oneshot_state<T>;
  if (!st_) throw runtime_misuse("weft::oneshot_sender: send on an empty or used sender");
  state* st = std::exchange(st_, nullptr);
  if (st->bits.load(std::memory_order_acquire) & state::receiver_gone) {
    st->drop();
    return {send_status::closed, std::move(value)};
  }
  ::new (static_cast<void*>(st->storage)) T(std::move(value));
  // release: the value is published with the bit.
  std::uint32_t prev = st->bits.fetch_or(state::value_set, std::memory_order_acq_rel);
  if (prev & state::receiver_gone) {
    // The receiver left meanwhile: nobody will read it, take it back.
    T back(std::move(st->value()));
    st->value().~T();
    st->bits.fetch_and(~state::value_set, std::memory_order_relaxed);
    st->drop();
    return {send_status::closed, std::move(back)};
  }
  if (prev & state::receiver_waiting) detail::wake(st->waiter_task);
  st->drop();
  return {};
}

template <class T>
void oneshot_sender<T>::reset() noexcept {
  using state = detail::oneshot_state<T>;
  if (!st_) return;
  state* st = std::exchange(st_, nullptr);
  std::uint32_t prev = st->bits.fetch_or(state::sender_gone, std::memory_order_acq_rel);
  if (prev & state::receiver_waiting) detail::wake(st->waiter_task);
  st->drop();
}

template <class T>
std::pair<oneshot_sender<T>, oneshot_receiver<T>> oneshot() {
  static_assert(!std::is_void_v<T> && !std::is_reference_v<T>,
                "weft::oneshot<T>: T must be an object type (use std::monostate for a signal)");
  auto* st = new detail::oneshot_state<T>();
  return {oneshot_sender<T>(st), oneshot_receiver<T>(st)};
}

}  // namespace weft
