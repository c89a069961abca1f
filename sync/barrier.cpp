#include <sync/barrier.hpp>

namespace weft {

barrier::wait_awaiter barrier::arrive_and_wait() noexcept { return wait_awaiter(*this); }

bool barrier::arrive(detail::waiter& w, detail::wake_list& woken) noexcept {
  detail::spin_guard g(lock_);
  if (++arrived_ < parties_) {
    waiters_.push_back(&w);
    return false;
  }
  arrived_ = 0;
  ++generation_;
  woken.take_all(waiters_, detail::wait_status::done);
  return true;
}

bool barrier::withdraw(detail::waiter& w) noexcept {
  detail::spin_guard g(lock_);
  if (!w.queued) return false;  // its round completed: it resumes normally
  waiters_.remove(&w);
  --arrived_;
  return true;
}

void barrier::on_cancel(detail::cancel_hook* hook) noexcept {
  auto& w = static_cast<wait_awaiter&>(static_cast<detail::waiter&>(*hook));
  if (!w.b_->withdraw(w)) return;
  w.status = detail::wait_status::cancelled;
  detail::wake(w.task);
}

std::size_t barrier::waiter_count_() const noexcept {
  detail::spin_guard g(lock_);
  return waiters_.size();
}

}  // namespace weft
