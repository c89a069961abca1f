// Every live spawned task, so that shutdown can destroy the ones that are
// suspended on a timer, a socket or a channel and sit in no run queue.
// Sharded intrusive lists behind small spinlocks: insert on spawn, remove on
// completion, each touching one shard chosen by the task id's block. Ids are
// handed to each thread in blocks (task_id_block), so a worker spawns into
// one shard at a time and, as long as its tasks finish where they started,
// the shard's cache line stays on its core. The counts live in the shards
// too: a global counter would bounce between the cores on every spawn.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include <runtime/detail/task_header.hpp>

namespace weft::detail {

// Task ids are handed to each thread this many at a time (current.cpp).
inline constexpr std::uint64_t task_id_block = 1024;

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
    bump(s.inserted, 1);
    s.unlock();
  }

  void remove(task_header* t) noexcept {
    shard& s = shard_of(t);
    s.lock();
    if (t->owned_prev) t->owned_prev->owned_next = t->owned_next;
    else s.head = t->owned_next;
    if (t->owned_next) t->owned_next->owned_prev = t->owned_prev;
    t->owned_prev = t->owned_next = nullptr;
    bump(s.removed, 1);
    s.unlock();
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
        bump(s.removed, 1);
      }
      s.unlock();
      if (t) return t;
    }
    return nullptr;
  }

  // Calls f(task) for every live task, one shard's lock held at a time (a
  // task is not freed while listed: removal comes first).
  template <class F>
  void for_each(F&& f) const noexcept {
    for (std::size_t i = 0; i < shard_count_; ++i) {
      shard& s = shards_[i];
      s.lock();
      for (task_header* t = s.head; t; t = t->owned_next) f(*t);
      s.unlock();
    }
  }

  // Tasks inserted and not yet removed, and inserted ever. Read without the
  // shard locks, so a snapshot taken while tasks come and go is approximate.
  std::size_t alive() const noexcept {
    std::uint64_t out = sum(&shard::removed), in = sum(&shard::inserted);
    return in > out ? std::size_t(in - out) : 0;
  }
  std::uint64_t inserted() const noexcept { return sum(&shard::inserted); }

 private:
  struct alignas(64) shard {
    // acquire/release: the list links are plain fields guarded by this flag.
    std::atomic<bool> busy{false};
    task_header* head = nullptr;
    // Written under the lock (plain load + store, no read-modify-write);
    // atomic only so that metrics can read them without it.
    std::atomic<std::uint64_t> inserted{0};
    std::atomic<std::uint64_t> removed{0};
    void lock() noexcept {
      while (busy.exchange(true, std::memory_order_acquire))
        while (busy.load(std::memory_order_relaxed)) __builtin_ia32_pause();
    }
    void unlock() noexcept { busy.store(false, std::memory_order_release); }
  };
  std::uint64_t sum(std::atomic<std::uint64_t> shard::*count) const noexcept {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) total += (shards_[i].*count).load(std::memory_order_relaxed);
    return total;
  }
  static void bump(std::atomic<std::uint64_t>& c, std::uint64_t by) noexcept {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  shard& shard_of(task_header* t) noexcept {
    return shards_[(t->id / task_id_block) & (shard_count_ - 1)];
  }

  std::size_t shard_count_;
  std::unique_ptr<shard[]> shards_;
};

}  // namespace weft::detail
