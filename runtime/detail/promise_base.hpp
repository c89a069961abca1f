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

// A coroutine's block: [task_header][frame][result slot]. The result (the
// value or the exception, see task.hpp) lives past the frame so that a spawned
// task's frame, and everything its parameters own (a socket, say), can be
// destroyed the moment the task ends, on the thread that ran it, while a join
// handle may take the result later. The header and the slot go when the last
// reference does.
class promise_base {
 public:
  // A block with room for a result slot of `slot_bytes` (aligned to
  // `slot_align`, at most 16) at its end; returns the frame's address.
  static void* allocate_block(std::size_t frame_bytes, std::size_t slot_bytes, std::size_t slot_align) {
    std::size_t slot_at = header_size + (frame_bytes + slot_align - 1) / slot_align * slot_align;
    std::size_t bytes = slot_at + slot_bytes;
    void* block = frame_alloc(bytes);
    auto* h = new (block) task_header();
    h->alloc_size = static_cast<std::uint32_t>(bytes);
    return static_cast<char*>(block) + header_size;
  }

  // The frame's operator delete. A frame destroyed while a reference to its
  // header remains (a spawned task's, at its end or at teardown) leaves the
  // block to the last drop_ref.
  static void release_frame(void* frame) noexcept {
    auto* h = header_of_frame(frame);
    if (h->refs.load(std::memory_order_acquire) == 0) free_header_block(h);
  }

  static task_header* header_of_frame(void* frame) noexcept {
    return reinterpret_cast<task_header*>(static_cast<char*>(frame) - header_size);
  }
  // The slot sits at the block's end; only its type's size is needed to find it.
  static void* slot_of(task_header* h, std::size_t slot_bytes) noexcept {
    return reinterpret_cast<char*>(h) + h->alloc_size - slot_bytes;
  }
  static void free_header_block(task_header* h) noexcept {
    if (h->drop_result) h->drop_result(h);
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
