#include <sync/condition_variable.hpp>

namespace weft {

void condition_variable::enqueue(wait_awaiter& w) noexcept {
  detail::spin_guard g(lock_);
  waiters_.push_back(&w);
  w.in_cv_ = true;
}

bool condition_variable::hand_to_mutex(wait_awaiter& w) noexcept {
  w.in_cv_ = false;
  if (!w.mtx->lock_or_enqueue(w)) return false;  // queued on the mutex, FIFO
  w.status = detail::wait_status::done;
  return true;
}

void condition_variable::notify_one() noexcept {
  detail::task_header* t = nullptr;
  {
    detail::spin_guard g(lock_);
    detail::waiter* w = waiters_.pop_front();
    if (!w) return;
    // The transfer happens under lock_, so a cancel (which takes lock_ first)
    // sees the waiter either here or settled in the mutex's queue.
    if (hand_to_mutex(static_cast<wait_awaiter&>(*w))) t = w->task;
  }
  if (t) detail::wake(t);
}

void condition_variable::notify_all() noexcept {
  detail::wake_list woken;
  {
    detail::spin_guard g(lock_);
    while (detail::waiter* w = waiters_.pop_front())
      if (hand_to_mutex(static_cast<wait_awaiter&>(*w))) woken.push(w);
  }
  woken.wake_all();
}

void condition_variable::on_cancel(detail::cancel_hook* hook) noexcept {
  auto& w = static_cast<wait_awaiter&>(static_cast<detail::waiter&>(*hook));
  condition_variable& cv = *w.cv_;
  bool was_in_cv = false;
  {
    detail::spin_guard g(cv.lock_);
    if (w.in_cv_) {
      cv.waiters_.remove(&w);
      w.in_cv_ = false;
      was_in_cv = true;
    }
  }
  // Notified already: it waits for the mutex, or owns it (then it resumes
  // normally, the guard owning the mutex). The transfer was complete when we
  // held cv.lock_, so the mutex's queue tells which.
  bool notified = false;
  if (!was_in_cv) {
    if (!w.mtx->remove_waiter(w)) return;
    notified = true;
  }
  w.status = detail::wait_status::cancelled;
  detail::wake(w.task);
  // A notification must not die with a waiter cancelled on its way back to
  // the mutex: a producer's one notify_one for one item would leave the
  // other waiters asleep beside the item. Pass it on to the next waiter.
  if (notified) cv.notify_one();
}

void condition_variable::abandon(wait_awaiter& w) noexcept {
  {
    detail::spin_guard g(lock_);
    if (w.in_cv_) {
      waiters_.remove(&w);
      w.in_cv_ = false;
      w.guard_->release();
      return;
    }
  }
  if (w.status == detail::wait_status::done) return;  // owns the mutex: the guard unlocks it
  w.mtx->remove_waiter(w);
  w.guard_->release();
}

std::size_t condition_variable::waiter_count_() const noexcept {
  detail::spin_guard g(lock_);
  return waiters_.size();
}

}  // namespace weft
