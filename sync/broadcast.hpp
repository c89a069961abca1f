// weft::broadcast<T>: every receiver sees every message, bounded.
//
//   weft::broadcast<std::string> news{64};     // keeps the last 64 messages
//   auto rx = news.subscribe();                // sees what is sent from now on
//   news.send("hello");                        // never waits
//   weft::broadcast_result<std::string> r = co_await rx.recv();
//   if (r.missed) ...;                         // r.missed messages were lost
//   if (r.value) use(*r.value); else /* closed, all seen */;
//
// The broadcast keeps the last `capacity` messages in a ring; each receiver
// has its own position. Sending never waits: a receiver that falls more than
// `capacity` messages behind loses the oldest ones, and its next recv tells
// it how many (`missed`) along with the oldest message still kept. Messages
// stay in the ring until overwritten. T must be copyable (each receiver gets
// a copy, made under the broadcast's lock).
// Thread safety: send, close, subscribe from any task or thread. A receiver
// is used by one task at a time; different receivers are independent. The
// broadcast must outlive its receivers.
// Completion: recv completes when a message past the receiver's position
// exists or the broadcast is closed (then recv gives no value once the
// receiver has seen every kept message). A recv that completes without
// waiting spends cooperative budget.
// Closing: close() wakes every waiting receiver; send afterwards throws
// weft::channel_closed<T> holding the message.
// Cancellation: cancel-safe: the position moves only when recv returns a
// message, so an aborted recv loses nothing.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>
#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/waiter.hpp>
#include <sync/errors.hpp>

namespace weft {

template <class T>
struct broadcast_result {
  std::optional<T> value;   // the next message; empty when closed (or, for try_recv, none yet)
  std::uint64_t missed = 0;  // messages lost (overwritten) before this one
  bool closed = false;       // closed and every kept message seen
  explicit operator bool() const noexcept { return value.has_value(); }
};

template <class T>
class broadcast {
 public:
  class receiver;

  // capacity >= 1, else weft::runtime_misuse.
  explicit broadcast(std::size_t capacity) : ring_(capacity) {
    if (capacity == 0) throw runtime_misuse("weft::broadcast: capacity must be at least 1");
  }
  ~broadcast() { waiters_.detach_all(); }
  broadcast(const broadcast&) = delete;
  broadcast& operator=(const broadcast&) = delete;

  // Never waits. Returns how many receivers are subscribed (0: nobody will
  // see it). Throws weft::channel_closed<T> with the value when closed.
  std::size_t send(T value);
  [[nodiscard]] receiver subscribe();
  void close() noexcept;
  bool is_closed() const noexcept {
    detail::spin_guard g(lock_);
    return closed_;
  }
  std::size_t receiver_count() const noexcept {
    detail::spin_guard g(lock_);
    return receivers_;
  }
  std::size_t capacity() const noexcept { return ring_.size(); }

 private:
  friend struct detail::sync_probe;
  std::size_t waiter_count_() const noexcept {
    detail::spin_guard g(lock_);
    return waiters_.size();
  }
  // Under lock_: the next result for a receiver at `pos`, or nullopt if it
  // has to wait.
  std::optional<broadcast_result<T>> read(std::uint64_t& pos) const {
    const std::uint64_t cap = ring_.size();
    broadcast_result<T> r;
    const std::uint64_t oldest = next_seq_ > cap ? next_seq_ - cap : 0;
    if (pos < oldest) {
      r.missed = oldest - pos;
      pos = oldest;
    }
    if (pos < next_seq_) {
      r.value.emplace(*ring_[pos % cap]);
      ++pos;
      return r;
    }
    if (closed_) {
      r.closed = true;
      return r;
    }
    return std::nullopt;
  }

  mutable detail::backoff_spinlock lock_;
  std::vector<std::optional<T>> ring_;  // message `seq` sits at seq % capacity
  std::uint64_t next_seq_ = 0;          // sequence number of the next send
  std::size_t receivers_ = 0;
  bool closed_ = false;
  detail::waiter_list waiters_;
};

template <class T>
class broadcast<T>::receiver {
 public:
  class recv_awaiter;

  receiver(receiver&& o) noexcept : b_(std::exchange(o.b_, nullptr)), pos_(o.pos_) {}
  receiver& operator=(receiver&& o) noexcept {
    if (this != &o) {
      reset();
      b_ = std::exchange(o.b_, nullptr);
      pos_ = o.pos_;
    }
    return *this;
  }
  ~receiver() { reset(); }

  // co_await: broadcast_result<T>.
  [[nodiscard]] recv_awaiter recv() noexcept { return recv_awaiter(*this); }
  // Never waits; neither value nor closed means nothing new yet.
  broadcast_result<T> try_recv() {
    detail::spin_guard g(b_->lock_);
    if (auto r = b_->read(pos_)) return std::move(*r);
    return {};
  }

 private:
  friend class broadcast;
  receiver(broadcast* b, std::uint64_t pos) noexcept : b_(b), pos_(pos) {}
  void reset() noexcept {
    if (!b_) return;
    detail::spin_guard g(b_->lock_);
    --b_->receivers_;
    b_ = nullptr;
  }

  broadcast* b_;
  std::uint64_t pos_;  // sequence number of the next message to read
};

template <class T>
class broadcast<T>::receiver::recv_awaiter : public detail::waiter {
 public:
  explicit recv_awaiter(receiver& r) noexcept : rx_(&r), b_(r.b_) {}
  recv_awaiter(recv_awaiter&&) = default;
  ~recv_awaiter() {
    // Through the broadcast, not the receiver: at runtime shutdown a receiver
    // that another task's frame owned may be gone before this frame is.
    if (queued) detail::abandon_if_queued(b_->lock_, b_->waiters_, *this);
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task = detail::running_task(h);
    if (task->is_cancelled()) {
      status = detail::wait_status::cancelled;
      return false;
    }
    broadcast& b = *b_;
    {
      detail::spin_guard g(b.lock_);
      result_ = b.read(rx_->pos_);
      if (!result_) {
        detail::prepare_wait(*this, h, &on_cancel, detail::wait_kind::channel);
        b.waiters_.push_back(this);
        return true;
      }
    }
    status = detail::wait_status::done;
    return detail::yield_if_budget_spent(task, h);
  }
  broadcast_result<T> await_resume() {
    task->hook = nullptr;
    if (status == detail::wait_status::cancelled) throw cancelled{};
    if (!result_) {
      // Woken by a send or a close: there is something to read now.
      broadcast& b = *b_;
      detail::spin_guard g(b.lock_);
      result_ = b.read(rx_->pos_);
    }
    return std::move(*result_);
  }

 private:
  static void on_cancel(detail::cancel_hook* hook) noexcept {
    auto& w = static_cast<recv_awaiter&>(static_cast<detail::waiter&>(*hook));
    detail::cancel_if_queued(w.b_->lock_, w.b_->waiters_, w);
  }

  receiver* rx_;
  broadcast* b_;
  std::optional<broadcast_result<T>> result_;
};

template <class T>
std::size_t broadcast<T>::send(T value) {
  detail::wake_list woken;
  std::size_t n;
  {
    detail::spin_guard g(lock_);
    if (closed_) throw channel_closed<T>(std::move(value));
    ring_[next_seq_ % ring_.size()] = std::move(value);
    ++next_seq_;
    n = receivers_;
    woken.take_all(waiters_, detail::wait_status::done);
  }
  woken.wake_all();
  return n;
}

template <class T>
typename broadcast<T>::receiver broadcast<T>::subscribe() {
  detail::spin_guard g(lock_);
  ++receivers_;
  return receiver(this, next_seq_);
}

template <class T>
void broadcast<T>::close() noexcept {
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    if (closed_) return;
    closed_ = true;
    woken.take_all(waiters_, detail::wait_status::done);
  }
  woken.wake_all();
}

}  // namespace weft
