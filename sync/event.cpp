#include <sync/event.hpp>

namespace weft {

bool event::set_or_enqueue(detail::waiter& w) noexcept {
  detail::spin_guard g(lock_);
  if (set_.load(std::memory_order_acquire)) return true;
  waiters_.push_back(&w);
  return false;
}

void event::set() noexcept {
  // Already set means nobody waits (see the invariant): nothing to do.
  if (set_.load(std::memory_order_acquire)) return;
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    // release: a waiter that sees true sees what we wrote before set().
    set_.store(true, std::memory_order_release);
    woken.take_all(waiters_, detail::wait_status::done);
  }
  woken.wake_all();
}

void event::notify_one() noexcept {
  detail::task_header* t;
  {
    detail::spin_guard g(lock_);
    detail::waiter* w = waiters_.pop_front();
    if (!w) return;
    w->status = detail::wait_status::done;
    t = w->task;
  }
  detail::wake(t);
}

void event::notify_all() noexcept {
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    woken.take_all(waiters_, detail::wait_status::done);
  }
  woken.wake_all();
}

void event::on_cancel(detail::cancel_hook* hook) noexcept {
  auto& w = static_cast<wait_awaiter&>(static_cast<detail::waiter&>(*hook));
  detail::cancel_if_queued(w.ev_->lock_, w.ev_->waiters_, w);
}

std::size_t event::waiter_count_() const noexcept {
  detail::spin_guard g(lock_);
  return waiters_.size();
}

}  // namespace weft
