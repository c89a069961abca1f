#include <sync/latch.hpp>

namespace weft {

void latch::count_down(std::size_t n) {
  if (n == 0) return;
  std::size_t c = count_.load(std::memory_order_relaxed);
  do {
    if (n > c) throw runtime_misuse("weft::latch::count_down: below zero");
  } while (!count_.compare_exchange_weak(c, c - n, std::memory_order_acq_rel,
                                         std::memory_order_relaxed));
  if (c != n) return;
  // Reached zero. A waiter checks the count under lock_ before it queues, so
  // taking lock_ after the decrement finds every waiter that missed it.
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    woken.take_all(waiters_, detail::wait_status::done);
  }
  woken.wake_all();
}

bool latch::done_or_enqueue(detail::waiter& w) noexcept {
  detail::spin_guard g(lock_);
  if (count_.load(std::memory_order_acquire) == 0) return true;
  waiters_.push_back(&w);
  return false;
}

void latch::on_cancel(detail::cancel_hook* hook) noexcept {
  auto& w = static_cast<wait_awaiter&>(static_cast<detail::waiter&>(*hook));
  detail::cancel_if_queued(w.latch_->lock_, w.latch_->waiters_, w);
}

std::size_t latch::waiter_count_() const noexcept {
  detail::spin_guard g(lock_);
  return waiters_.size();
}

}  // namespace weft
