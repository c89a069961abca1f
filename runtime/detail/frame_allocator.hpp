// Coroutine frames come from per-thread free lists of size classes. A frame
// freed on another thread than the one that allocated it simply joins the
// freeing thread's list: blocks are plain malloc blocks, so any thread may
// keep, reuse or free() any of them. Each list is capped; beyond the cap a
// batch of blocks moves to a shared per-class pool (itself capped, beyond
// which blocks go back to malloc), from which a thread whose list ran dry
// takes a whole batch: a producer whose tasks end on another worker gets its
// blocks back without a malloc each, and nothing hoards memory without bound.
//
// Both functions are out of line on purpose: they read thread-local state and
// are reached from coroutine bodies, where g++ may otherwise keep a
// thread-local address across a suspension (and a task may resume elsewhere).
#pragma once

#include <cstddef>

namespace weft::detail {

void* frame_alloc(std::size_t bytes);
void frame_free(void* block, std::size_t bytes) noexcept;

}  // namespace weft::detail
