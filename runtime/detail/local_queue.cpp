#include <runtime/detail/local_queue.hpp>

#include <runtime/detail/inject_queue.hpp>

namespace weft::detail {

void local_queue::push_back(task_header* t, inject_queue& overflow) noexcept {
  for (;;) {
    std::uint64_t head = head_.load(std::memory_order_acquire);
    std::uint32_t steal = unpack_steal(head);
    std::uint32_t real = unpack_real(head);
    std::uint32_t tail = tail_.load(std::memory_order_relaxed);  // we are its only writer
    if (tail - steal < capacity) {
      slots_[tail & mask].store(t, std::memory_order_relaxed);
      tail_.store(tail + 1, std::memory_order_release);
      return;
    }
    if (steal != real) {
      // A thief is copying; it will free room soon. Do not wait for it.
      overflow.push(t);
      return;
    }
    if (push_overflow(t, real, tail, overflow)) return;
    // A thief moved head between our load and the CAS: there is room now.
  }
}

bool local_queue::push_overflow(task_header* t, std::uint32_t head, std::uint32_t tail,
                                inject_queue& overflow) noexcept {
  constexpr std::uint32_t half = capacity / 2;
  (void)tail;
  std::uint64_t expected = pack(head, head);
  // Claim the older half for ourselves, as a thief would.
  if (!head_.compare_exchange_strong(expected, pack(head + half, head + half),
                                     std::memory_order_acq_rel, std::memory_order_acquire))
    return false;
  task_header* first = slots_[head & mask].load(std::memory_order_relaxed);
  task_header* prev = first;
  for (std::uint32_t i = 1; i < half; ++i) {
    task_header* cur = slots_[(head + i) & mask].load(std::memory_order_relaxed);
    prev->next = cur;
    prev = cur;
  }
  prev->next = t;
  overflow.push_batch(first, t, half + 1);
  return true;
}

task_header* local_queue::pop() noexcept {
  std::uint64_t head = head_.load(std::memory_order_acquire);
  for (;;) {
    std::uint32_t steal = unpack_steal(head);
    std::uint32_t real = unpack_real(head);
    std::uint32_t tail = tail_.load(std::memory_order_relaxed);
    if (real == tail) return nullptr;
    std::uint32_t next_real = real + 1;
    std::uint64_t next = steal == real ? pack(next_real, next_real) : pack(steal, next_real);
    if (head_.compare_exchange_weak(head, next, std::memory_order_acq_rel,
                                    std::memory_order_acquire))
      return slots_[real & mask].load(std::memory_order_relaxed);
  }
}

bool local_queue::has_room_for_half() const noexcept {
  std::uint32_t steal = unpack_steal(head_.load(std::memory_order_acquire));
  std::uint32_t tail = tail_.load(std::memory_order_relaxed);
  return capacity - (tail - steal) >= capacity / 2;
}

task_header* local_queue::steal_into(local_queue& dst, std::uint32_t* stolen) noexcept {
  if (!dst.has_room_for_half()) return nullptr;
  std::uint32_t dst_tail = dst.tail_.load(std::memory_order_relaxed);  // dst is ours

  // Claim about half of the victim's tasks.
  std::uint64_t prev = head_.load(std::memory_order_acquire);
  std::uint32_t src_steal, src_real, n;
  std::uint64_t claimed;
  for (;;) {
    src_steal = unpack_steal(prev);
    src_real = unpack_real(prev);
    if (src_steal != src_real) return nullptr;  // another thief is at work
    std::uint32_t src_tail = tail_.load(std::memory_order_acquire);
    n = src_tail - src_real;
    n -= n / 2;
    if (n == 0) return nullptr;
    if (n > capacity / 2) n = capacity / 2;
    claimed = pack(src_steal, src_real + n);
    if (head_.compare_exchange_weak(prev, claimed, std::memory_order_acq_rel,
                                    std::memory_order_acquire))
      break;
  }
  for (std::uint32_t i = 0; i < n; ++i) {
    task_header* t = slots_[(src_real + i) & mask].load(std::memory_order_relaxed);
    dst.slots_[(dst_tail + i) & mask].store(t, std::memory_order_relaxed);
  }
  // Release the claimed slots to the owner: steal catches up with real (which
  // the owner may have advanced meanwhile by popping).
  prev = claimed;
  for (;;) {
    std::uint32_t real = unpack_real(prev);
    if (head_.compare_exchange_weak(prev, pack(real, real), std::memory_order_acq_rel,
                                    std::memory_order_acquire))
      break;
  }
  if (stolen) *stolen = n;
  // Run the last stolen task now; publish the rest in dst.
  task_header* run_now = dst.slots_[(dst_tail + n - 1) & mask].load(std::memory_order_relaxed);
  if (n > 1) dst.tail_.store(dst_tail + n - 1, std::memory_order_release);
  return run_now;
}

}  // namespace weft::detail
