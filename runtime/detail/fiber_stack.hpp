// Fiber stacks: one private anonymous mapping each, the usable stack on top of
// a PROT_NONE guard band, so that running off the end faults on the guard (see
// fiber_guard.hpp) instead of scribbling over a neighbour.
//
//   base            base + guard_bytes()                     top
//   | guard (none)  | usable stack (read/write), grows down <- |
//
// Stacks are pooled: a finished fiber's stack goes to a small cache of the
// thread it finished on, overflowing into a shared pool, and only beyond both
// caps back to the kernel. A stack freed on another thread than the one that
// mapped it just joins the freeing thread's cache (as frames do, see
// frame_allocator.hpp). A reused stack is already paged in, so spawning a
// fiber normally costs no system call at all.
//
// Each live stack is two memory mappings (the guard and the stack), so the
// kernel's vm.max_map_count (65530 by default) bounds the fibers that can be
// suspended at once to roughly 30,000 per process. Finished fibers and fibers
// that have not started yet hold no stack.
//
// All functions are out of line: they touch thread-local caches and are
// reached from code that may run on a fiber (see fiber.hpp on thread_locals).
#pragma once

#include <cstddef>

namespace weft::detail {

struct fiber_stack {
  char* base = nullptr;     // start of the mapping (the guard band)
  std::size_t usable = 0;   // bytes above the guard; a multiple of the page size

  char* bottom() const noexcept;  // lowest usable byte (just above the guard)
  char* top() const noexcept { return bottom() + usable; }
  bool guard_contains(const void* p) const noexcept;
};

// Bytes of the guard band below every stack: a few pages, so that a frame
// bigger than one page (sanitizer builds make frames large) still lands in it.
std::size_t fiber_guard_bytes() noexcept;
// A requested stack size rounded up to whole pages, with a floor.
std::size_t round_fiber_stack_size(std::size_t requested) noexcept;

// Throws std::bad_alloc when the kernel refuses the mapping (for instance when
// vm.max_map_count is reached).
fiber_stack acquire_fiber_stack(std::size_t usable);
void release_fiber_stack(fiber_stack s) noexcept;

struct fiber_stack_counts {
  std::size_t mapped = 0;  // stacks currently mapped (in use or pooled)
  std::size_t in_use = 0;  // stacks acquired and not yet released
};
fiber_stack_counts fiber_stack_stats() noexcept;

}  // namespace weft::detail
