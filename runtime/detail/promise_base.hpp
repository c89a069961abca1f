// What every weft coroutine promise shares: frame allocation with the task
// header in front, the continuation for inline awaits, and the root task the
// coroutine runs under (the spawned task whose poll is executing it).
#pragma once

#include <coroutine>
#include <cstddef>
#include <new>

#include <runtime/detail/frame_allocator.hpp>
#include <runtime/detail/task_header.hpp>
#include <runtime/errors.hpp>

namespace weft::detail {

class promise_base {
 public:
  static void* operator new(std::size_t frame_bytes) {
    void* block = frame_alloc(frame_bytes + header_size);
    auto* h = new (block) task_header();
    h->alloc_size = static_cast<std::uint32_t>(frame_bytes + header_size);
    return static_cast<char*>(block) + header_size;
  }

  // A frame destroyed while a join handle still refers to its header (the
  // runtime tore down a pending task) leaves the block to the last drop_ref.
  static void operator delete(void* frame, std::size_t) noexcept {
    auto* h = header_of_frame(frame);
    if (h->refs.load(std::memory_order_acquire) == 0) free_header_block(h);
  }

  static task_header* header_of_frame(void* frame) noexcept {
    return reinterpret_cast<task_header*>(static_cast<char*>(frame) - header_size);
  }
  static void free_header_block(task_header* h) noexcept {
    std::uint32_t bytes = h->alloc_size;
    h->~task_header();
    frame_free(h, bytes);
  }

  task_header* root() const noexcept { return root_; }

  task_header* root_ = nullptr;            // set at spawn, or inherited when awaited
  bool is_root_ = false;                   // this coroutine is the spawned task itself
  bool cancel_at_start_ = true;            // aborted before its first poll: fail at once
  std::coroutine_handle<> continuation_;  // the coroutine awaiting us inline
};

// The header of the task a coroutine handle runs under. Awaitables use it to
// register wake-ups, check cancellation and spend the cooperative budget.
template <class Promise>
task_header* running_task(std::coroutine_handle<Promise> h) noexcept {
  static_assert(std::is_base_of_v<promise_base, Promise>,
                "weft awaitables must be awaited from a weft::task (or inside a fiber via weft::await)");
  return h.promise().root_;
}

}  // namespace weft::detail
