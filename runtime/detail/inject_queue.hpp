// A mutex-protected intrusive FIFO of tasks (task_header::next); `len_` lets
// workers skip the lock when it is empty. The scheduler's inject queue (tasks
// scheduled from outside the workers) and each worker's overflow (what its
// local queue had no room for) are one each.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>

#include <runtime/detail/task_header.hpp>

namespace weft::detail {

class inject_queue {
 public:
  void push(task_header* t) noexcept { push_batch(t, t, 1); }

  // `first` .. `last` already linked through `next`.
  void push_batch(task_header* first, task_header* last, std::size_t n) noexcept {
    last->next = nullptr;
    std::lock_guard lock(mutex_);
    if (tail_) tail_->next = first;
    else head_ = first;
    tail_ = last;
    // seq_cst: a parking worker's final emptiness check must not miss this.
    len_.fetch_add(n, std::memory_order_seq_cst);
  }

  task_header* pop() noexcept {
    if (len_.load(std::memory_order_acquire) == 0) return nullptr;
    std::lock_guard lock(mutex_);
    task_header* t = head_;
    if (!t) return nullptr;
    head_ = t->next;
    if (!head_) tail_ = nullptr;
    t->next = nullptr;
    len_.fetch_sub(1, std::memory_order_relaxed);
    return t;
  }

  // Up to `max` (>= 1) of the oldest tasks, linked through `next` (the last
  // one's null), or null; `n` gets how many.
  task_header* pop_batch(std::size_t max, std::size_t& n) noexcept {
    n = 0;
    if (len_.load(std::memory_order_acquire) == 0) return nullptr;
    std::lock_guard lock(mutex_);
    task_header* first = head_;
    task_header* last = nullptr;
    for (task_header* t = first; t && n < max; t = t->next) {
      last = t;
      ++n;
    }
    if (!last) return nullptr;
    head_ = last->next;
    if (!head_) tail_ = nullptr;
    last->next = nullptr;
    len_.fetch_sub(n, std::memory_order_relaxed);
    return first;
  }

  bool empty() const noexcept { return len_.load(std::memory_order_seq_cst) == 0; }
  std::size_t size() const noexcept { return len_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  task_header* head_ = nullptr;
  task_header* tail_ = nullptr;
  std::atomic<std::size_t> len_{0};
};

}  // namespace weft::detail
