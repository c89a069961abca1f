// detail::mpmc_ring<T>: a lock-free bounded multi-producer multi-consumer
// FIFO with a close mark; the buffer of a bounded channel. Sending and
// receiving take no lock, and producers and consumers write different cache
// lines (tail_ and head_), so a producer on one core and a consumer on
// another do not fight over one line for every message.
//
// Encoding. A position (head_ or tail_) is `lap | mark | index`: `index` in
// [0, capacity) is the slot, bit `mark_` (above every index) is the close
// mark (only ever set in tail_), and the bits above it count laps, one lap
// being `lap_ = 2 * mark_`. Each slot has a stamp telling whose turn it is:
//   stamp == pos      the slot is free for the producer at tail position pos;
//   stamp == pos + 1  it holds the message for the consumer at head pos;
// after a pop the stamp becomes pos + lap_: free for the producer one lap on.
//
// Memory orders. A producer claims a slot with a CAS on tail_, writes the
// message, then publishes it with a release store of the stamp; a consumer's
// acquire load of the stamp sees the message (and the reverse for a pop
// handing the slot back). The CASes on head_/tail_ and the loads of the other
// index that decide "empty" or "full" are seq_cst: the channel pairs them
// with its seq_cst "somebody waits" flags (see channel.hpp) so that a push
// racing a receiver's registration is seen by one side or the other.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace weft::detail {

enum class push_result : unsigned char { ok, full, closed };
enum class pop_result : unsigned char { ok, empty, closed };

inline void cpu_pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#endif
}

inline constexpr std::size_t cache_line = 64;

template <class T>
class mpmc_ring {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "weft channels need a message type that is nothrow move constructible");

 public:
  // Allocates every slot at once (may throw std::bad_alloc).
  explicit mpmc_ring(std::size_t capacity)
      : cap_(capacity), mark_(std::bit_ceil(capacity + 1)), lap_(2 * mark_) {
    slots_ = std::allocator<slot>().allocate(cap_);
    for (std::size_t i = 0; i < cap_; ++i) ::new (static_cast<void*>(slots_ + i)) slot(i);
  }
  ~mpmc_ring() {
    std::optional<T> v;
    while (try_pop(v) == pop_result::ok) v.reset();
    for (std::size_t i = 0; i < cap_; ++i) slots_[i].~slot();
    std::allocator<slot>().deallocate(slots_, cap_);
  }
  mpmc_ring(const mpmc_ring&) = delete;
  mpmc_ring& operator=(const mpmc_ring&) = delete;

  // Moves from `v` only when it returns ok. With `definite_full` false, a
  // slot still holding last lap's message means full at once, without
  // reading head_ to see whether a consumer is just taking it: that read
  // pulls head_'s line away from the consumers, whose next CAS then misses.
  // Such a `full` may be stale; a caller that waits on it must retry with
  // `definite_full` true after it registered (see channel.hpp).
  push_result try_push(T& v, bool definite_full = true) noexcept {
    std::size_t tail = tail_.load(std::memory_order_relaxed);
    for (;;) {
      if (tail & mark_) return push_result::closed;
      slot& s = slots_[tail & (mark_ - 1)];
      const std::size_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == tail) {
        // Our turn: claim the position. A CAS that fails (another producer,
        // or the close mark) reloads tail.
        if (tail_.compare_exchange_weak(tail, next(tail), std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
          ::new (static_cast<void*>(s.storage)) T(std::move(v));
          s.stamp.store(tail + 1, std::memory_order_release);
          return push_result::ok;
        }
      } else if (stamp + lap_ == tail + 1) {
        // The slot still holds last lap's message: full, unless a consumer
        // is just taking it (then head_ moved on and we try again).
        if (!definite_full) return push_result::full;
        const std::size_t head = head_.load(std::memory_order_seq_cst);
        if (head + lap_ == tail) return push_result::full;
        cpu_pause();
        tail = tail_.load(std::memory_order_relaxed);
      } else {
        tail = tail_.load(std::memory_order_relaxed);  // another producer moved on
      }
    }
  }

  // Emplaces into `out` only when it returns ok.
  pop_result try_pop(std::optional<T>& out) noexcept {
    std::size_t head = head_.load(std::memory_order_relaxed);
    for (;;) {
      slot& s = slots_[head & (mark_ - 1)];
      const std::size_t stamp = s.stamp.load(std::memory_order_acquire);
      if (stamp == head + 1) {
        if (head_.compare_exchange_weak(head, next(head), std::memory_order_seq_cst,
                                        std::memory_order_relaxed)) {
          T* p = std::launder(reinterpret_cast<T*>(s.storage));
          out.emplace(std::move(*p));
          p->~T();
          s.stamp.store(head + lap_, std::memory_order_release);
          return pop_result::ok;
        }
      } else if (stamp == head) {
        // Nothing published here: empty, unless a producer claimed the slot
        // and is writing it (tail_ moved on: wait for its stamp).
        const std::size_t tail = tail_.load(std::memory_order_seq_cst);
        if ((tail & ~mark_) == head) return (tail & mark_) ? pop_result::closed : pop_result::empty;
        cpu_pause();
        head = head_.load(std::memory_order_relaxed);
      } else {
        head = head_.load(std::memory_order_relaxed);  // another consumer moved on
      }
    }
  }

  // Every later try_push gives closed; messages already in stay poppable.
  // seq_cst: a push that lost the race to the mark fails its CAS.
  void close() noexcept { tail_.fetch_or(mark_, std::memory_order_seq_cst); }

  // Waits up to `pauses` pauses for the slot the next push needs to be
  // freed by a consumer; true once it was (or another producer took it).
  // It watches that slot's stamp, not head_: the consumer writes the slot's
  // line anyway when it pops it, while every pop CASes head_, and each read
  // of head_ from here would make that CAS miss. relaxed: a hint only, the
  // push that follows reads the stamp with acquire.
  bool wait_for_free_slot(std::size_t pauses) const noexcept {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    const std::atomic<std::size_t>& stamp = slots_[tail & (mark_ - 1)].stamp;
    const std::size_t still_full = tail + 1 - lap_;
    for (std::size_t i = 0; i < pauses; ++i) {
      cpu_pause();
      if (stamp.load(std::memory_order_relaxed) != still_full) return true;
    }
    return false;
  }

  // A snapshot; exact when nothing runs concurrently.
  std::size_t size() const noexcept {
    std::size_t tail, head;
    do {  // a consistent pair: tail unchanged while we read head
      tail = tail_.load(std::memory_order_seq_cst);
      head = head_.load(std::memory_order_seq_cst);
    } while (tail_.load(std::memory_order_seq_cst) != tail);
    tail &= ~mark_;
    const std::size_t hi = head & (mark_ - 1), ti = tail & (mark_ - 1);
    if (hi < ti) return ti - hi;
    if (hi > ti) return cap_ - hi + ti;
    return tail == head ? 0 : cap_;
  }

 private:
  struct slot {
    explicit slot(std::size_t i) noexcept : stamp(i) {}
    std::atomic<std::size_t> stamp;
    alignas(T) unsigned char storage[sizeof(T)];
  };

  // The position after `pos`: the next index, or index 0 of the next lap.
  std::size_t next(std::size_t pos) const noexcept {
    const std::size_t index = pos & (mark_ - 1);
    return index + 1 < cap_ ? pos + 1 : (pos & ~(lap_ - 1)) + lap_;
  }

  // Consumers write head_, producers tail_: padding keeps them on different
  // cache lines (padding, not alignas: a channel may live in a coroutine
  // frame, and g++ 12 does not over-align those).
  std::atomic<std::size_t> head_{0};
  char pad_head_[cache_line - sizeof(std::atomic<std::size_t>)];
  std::atomic<std::size_t> tail_{0};
  char pad_tail_[cache_line - sizeof(std::atomic<std::size_t>)];
  slot* slots_;
  const std::size_t cap_;
  const std::size_t mark_;
  const std::size_t lap_;
};

}  // namespace weft::detail
