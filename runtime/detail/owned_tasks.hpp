// Every live spawned task, so that shutdown can destroy the ones that are
// suspended on a timer, a socket or a channel and sit in no run queue.
// Sharded intrusive lists behind small spinlocks: insert on spawn, remove on
// completion, each touching one shard chosen by task id.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include <runtime/detail/task_header.hpp>

namespace weft::detail {

class owned_tasks {
 public:
  explicit owned_tasks(std::size_t workers) {
    std::size_t n = 8;
    while (n < workers * 4) n *= 2;
    shard_count_ = n;
    shards_ = std::make_unique<shard[]>(n);
  }

  void insert(task_header* t) noexcept {
    shard& s = shard_of(t);
    s.lock();
    t->owned_prev = nullptr;
    t->owned_next = s.head;
    if (s.head) s.head->owned_prev = t;
    s.head = t;
    s.unlock();
    alive_.fetch_add(1, std::memory_order_relaxed);
  }

  void remove(task_header* t) noexcept {
    shard& s = shard_of(t);
    s.lock();
    if (t->owned_prev) t->owned_prev->owned_next = t->owned_next;
    else s.head = t->owned_next;
    if (t->owned_next) t->owned_next->owned_prev = t->owned_prev;
    t->owned_prev = t->owned_next = nullptr;
    s.unlock();
    alive_.fetch_sub(1, std::memory_order_relaxed);
  }

  // Shutdown only: take any one task out of the set, or null when empty.
  task_header* pop_any() noexcept {
    for (std::size_t i = 0; i < shard_count_; ++i) {
      shard& s = shards_[i];
      s.lock();
      task_header* t = s.head;
      if (t) {
        s.head = t->owned_next;
        if (s.head) s.head->owned_prev = nullptr;
        t->owned_prev = t->owned_next = nullptr;
      }
      s.unlock();
      if (t) {
        alive_.fetch_sub(1, std::memory_order_relaxed);
        return t;
      }
    }
    return nullptr;
  }

  std::size_t alive() const noexcept { return alive_.load(std::memory_order_relaxed); }

 private:
  struct alignas(64) shard {
    // acquire/release: the list links are plain fields guarded by this flag.
    std::atomic<bool> busy{false};
    task_header* head = nullptr;
    void lock() noexcept {
      while (busy.exchange(true, std::memory_order_acquire))
        while (busy.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
    void unlock() noexcept { busy.store(false, std::memory_order_release); }
  };
  shard& shard_of(task_header* t) noexcept { return shards_[t->id & (shard_count_ - 1)]; }

  std::size_t shard_count_;
  std::unique_ptr<shard[]> shards_;
  std::atomic<std::size_t> alive_{0};
};

}  // namespace weft::detail
