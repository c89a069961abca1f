// A worker's bounded run queue: the owner pushes and pops at its ends, idle
// workers steal half of it. Single producer, multiple consumers.
//
// Encoding. `tail_` is written only by the owner. `head_` packs two 32-bit
// indices: `real` (next task to take) in the low half and `steal` in the high
// half. Normally steal == real. A thief claims [real, real+n) by moving only
// `real`, copies the tasks out, then sets steal = real. While a steal is in
// flight (steal != real) no second thief may start, and the owner computes its
// free space from `steal`, so it never overwrites slots a thief is copying.
// Indices wrap; all arithmetic is on unsigned 32-bit values.
//
// Memory orders. The owner's push stores the slot (relaxed) then `tail_` with
// release; a thief loads `tail_` with acquire before reading slots, so it sees
// the tasks it claims. Claims and releases of slots go through acq_rel CAS on
// `head_`; the owner's acquire load of `head_` in push pairs with the thief's
// final release CAS, so a slot is reused only after the thief has read it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <runtime/detail/task_header.hpp>

namespace weft::detail {

#if defined(WEFT_SMALL_QUEUES)
inline constexpr std::uint32_t local_queue_capacity = 4;
#else
inline constexpr std::uint32_t local_queue_capacity = 256;
#endif

class inject_queue;

class local_queue {
 public:
  static constexpr std::uint32_t capacity = local_queue_capacity;
  static constexpr std::uint32_t mask = capacity - 1;
  static_assert((capacity & mask) == 0, "capacity must be a power of two");

  // Owner only. When full, moves half of the queue plus `t` to `overflow`.
  void push_back(task_header* t, inject_queue& overflow) noexcept;

  // Owner only.
  task_header* pop() noexcept;

  // Called by a thief that owns `dst`. Moves about half of this queue into
  // `dst` and returns one of the stolen tasks to run right away (or null).
  task_header* steal_into(local_queue& dst, std::uint32_t* stolen = nullptr) noexcept;

  // Any thread; a hint only.
  std::uint32_t size() const noexcept {
    std::uint32_t tail = tail_.load(std::memory_order_acquire);
    std::uint32_t real = unpack_real(head_.load(std::memory_order_acquire));
    return tail - real;
  }
  bool empty() const noexcept { return size() == 0; }
  bool has_room_for_half() const noexcept;

 private:
  static std::uint32_t unpack_steal(std::uint64_t h) noexcept { return std::uint32_t(h >> 32); }
  static std::uint32_t unpack_real(std::uint64_t h) noexcept { return std::uint32_t(h); }
  static std::uint64_t pack(std::uint32_t steal, std::uint32_t real) noexcept {
    return (std::uint64_t(steal) << 32) | real;
  }
  bool push_overflow(task_header* t, std::uint32_t head, std::uint32_t tail,
                     inject_queue& overflow) noexcept;

  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint32_t> tail_{0};
  std::atomic<task_header*> slots_[capacity] = {};
};

}  // namespace weft::detail
