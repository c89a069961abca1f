// detail::channel_buffer<T>: the messages of a channel, with a close mark.
// A bounded channel whose slots fit in `ring_bytes_max` uses the lock-free
// mpmc_ring (all slots allocated up front); an unbounded one, or one so large
// that allocating every slot at once would be wasteful, uses a ring_buffer
// that grows on demand under its own spinlock.
//
// Either way try_push/try_pop are linearizable, and a push followed by a
// seq_cst load (of the channel's "receivers wait" flag) cannot both miss a
// receiver that set the flag (seq_cst) and then found the buffer empty: for
// the ring see mpmc_ring.hpp; for the locked ring the spinlock orders the two
// critical sections, and whichever runs second sees the other's write.
#pragma once

#include <cstddef>
#include <optional>

#include <sync/detail/backoff_spinlock.hpp>
#include <sync/detail/mpmc_ring.hpp>
#include <sync/detail/ring_buffer.hpp>

namespace weft::detail {

template <class T>
class channel_buffer {
 public:
  static constexpr std::size_t ring_bytes_max = std::size_t{1} << 20;

  // capacity: SIZE_MAX for unbounded. May throw std::bad_alloc.
  explicit channel_buffer(std::size_t capacity) : capacity_(capacity) {
    if (capacity <= ring_bytes_max / (sizeof(T) + sizeof(std::size_t)))
      ring_.emplace(capacity);
  }

  // Moves from `v` only on ok. The locked ring may throw std::bad_alloc
  // while it grows (then nothing changed); it never grows past a bounded
  // capacity, so a push into a slot just freed cannot throw.
  // `definite_full`: see mpmc_ring::try_push (the locked ring is always definite).
  push_result try_push(T& v, bool definite_full = true) {
    if (ring_) [[likely]]
      return ring_->try_push(v, definite_full);
    spin_guard g(lock_);
    if (closed_) return push_result::closed;
    if (queue_.size() >= capacity_) return push_result::full;
    queue_.push_back(std::move(v));
    return push_result::ok;
  }

  // Emplaces into `out` only on ok.
  pop_result try_pop(std::optional<T>& out) noexcept {
    if (ring_) [[likely]]
      return ring_->try_pop(out);
    spin_guard g(lock_);
    if (queue_.empty()) return closed_ ? pop_result::closed : pop_result::empty;
    out.emplace(queue_.pop_front());
    return pop_result::ok;
  }

  void close() noexcept {
    if (ring_) return ring_->close();
    spin_guard g(lock_);
    closed_ = true;
  }

  // Whether try_push could succeed soon without anybody being woken: true
  // for the lock-free ring when a consumer frees the next slot within
  // `patience` pauses. The locked ring says false (its consumers contend on
  // the lock).
  bool wait_for_consumer(std::size_t patience) const noexcept {
    return ring_ && ring_->wait_for_free_slot(patience);
  }

  std::size_t size() const noexcept {
    if (ring_) return ring_->size();
    spin_guard g(lock_);
    return queue_.size();
  }

 private:
  std::optional<mpmc_ring<T>> ring_;  // empty: the locked ring below
  const std::size_t capacity_;
  mutable backoff_spinlock lock_;
  ring_buffer<T> queue_;
  bool closed_ = false;
};

}  // namespace weft::detail
