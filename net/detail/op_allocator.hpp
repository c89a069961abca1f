// Handler memory for Asio operations started by weft (no Asio needed here).
#pragma once

#include <cstddef>

#include <runtime/detail/frame_allocator.hpp>

namespace weft::net::detail {

// Handler memory for Asio operations: weft's per-thread size-class free
// lists, so an operation started by a task (outside io_context::run, where
// Asio's own recycling allocator falls back to operator new) costs no malloc
// in the steady state. A block freed on the home reactor's thread joins that
// thread's list.
template <class T>
struct op_allocator {
  using value_type = T;
  op_allocator() noexcept = default;
  template <class U>
  op_allocator(const op_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(weft::detail::frame_alloc(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept { weft::detail::frame_free(p, n * sizeof(T)); }
  friend bool operator==(const op_allocator&, const op_allocator&) noexcept { return true; }
  friend bool operator!=(const op_allocator&, const op_allocator&) noexcept { return false; }
};

}  // namespace weft::net::detail
