// Coroutine frames (and the net layer's operation blocks) up to 2 KiB come
// from per-thread free lists of size classes. A block freed on another thread
// than the one that allocated it simply joins the freeing thread's list. Each
// list is capped; beyond the cap a batch of blocks moves to a shared per-class
// pool, from which a thread whose list ran dry takes a whole batch: a
// producer whose tasks end on another worker gets its blocks back without a
// lock per block.
//
// Fresh blocks are carved from 2 MiB chunks mapped for the purpose, 256 at a
// time, rather than taken from malloc one by one: no per-block malloc header,
// and no heap that grows by mprotect and shrinks by trimming (which made
// every bulk spawn fault its pages in again). Measured at one worker, this
// took spawn_many from 2.9M to 4.8M tasks/s and spawn_join from 3.0M to
// 4.2M. The price is Go's, not malloc's: blocks are reused but never
// returned to the system, so the memory kept is the most frames ever alive
// at once. Larger frames, and every frame under AddressSanitizer (so that a
// use after free is caught), go to malloc.
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
