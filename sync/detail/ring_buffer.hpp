// detail::ring_buffer<T>: the FIFO inside a channel. Grows by doubling (a
// power-of-two size, so indexing is a mask); a bounded channel therefore
// allocates only while it first fills up, never per message. Not
// thread-safe: the channel's lock guards it.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace weft::detail {

template <class T>
class ring_buffer {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "weft channels need a message type that is nothrow move constructible");

 public:
  ring_buffer() noexcept = default;
  ring_buffer(const ring_buffer&) = delete;
  ring_buffer& operator=(const ring_buffer&) = delete;
  ~ring_buffer() {
    clear();
    if (slots_) std::allocator<T>().deallocate(slots_, mask_ + 1);
  }

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }

  // May throw std::bad_alloc (then nothing changed).
  void push_back(T&& v) {
    if (slots_ == nullptr || count_ == mask_ + 1) grow();
    ::new (static_cast<void*>(slots_ + ((head_ + count_) & mask_))) T(std::move(v));
    ++count_;
  }

  // Precondition: !empty().
  T pop_front() noexcept {
    T* slot = slots_ + head_;
    T v(std::move(*slot));
    slot->~T();
    head_ = (head_ + 1) & mask_;
    --count_;
    return v;
  }

  void clear() noexcept {
    while (count_ > 0) {
      slots_[head_].~T();
      head_ = (head_ + 1) & mask_;
      --count_;
    }
    head_ = 0;
  }

 private:
  void grow() {
    std::size_t old_size = slots_ ? mask_ + 1 : 0;
    std::size_t new_size = old_size ? old_size * 2 : 8;
    T* fresh = std::allocator<T>().allocate(new_size);
    for (std::size_t i = 0; i < count_; ++i) {
      T* from = slots_ + ((head_ + i) & mask_);
      ::new (static_cast<void*>(fresh + i)) T(std::move(*from));
      from->~T();
    }
    if (slots_) std::allocator<T>().deallocate(slots_, old_size);
    slots_ = fresh;
    mask_ = new_size - 1;
    head_ = 0;
  }

  T* slots_ = nullptr;
  std::size_t mask_ = 0;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace weft::detail
