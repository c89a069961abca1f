#include <runtime/detail/frame_allocator.hpp>

#include <cstdlib>
#include <new>

namespace weft::detail {
namespace {

constexpr std::size_t granule = 16;
constexpr std::size_t max_cached_size = 2048;
constexpr std::size_t class_count = max_cached_size / granule;
constexpr std::size_t max_blocks_per_class = 1024;

struct free_block {
  free_block* next;
};

struct size_class_cache {
  free_block* head = nullptr;
  std::size_t count = 0;
};

// Releases what it holds when its thread exits.
struct thread_cache {
  size_class_cache classes[class_count];
  ~thread_cache() {
    for (auto& c : classes) {
      while (c.head) {
        free_block* b = c.head;
        c.head = b->next;
        std::free(b);
      }
    }
  }
};

thread_local thread_cache cache;

std::size_t class_of(std::size_t bytes) { return (bytes + granule - 1) / granule - 1; }

}  // namespace

// Under AddressSanitizer every frame goes straight to malloc so that a use of a
// freed frame is caught rather than hidden by the cache.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool use_cache = false;
#else
constexpr bool use_cache = true;
#endif

void* frame_alloc(std::size_t bytes) {
  if (use_cache && bytes <= max_cached_size) {
    size_class_cache& c = cache.classes[class_of(bytes)];
    if (free_block* b = c.head) {
      c.head = b->next;
      --c.count;
      return b;
    }
    bytes = (class_of(bytes) + 1) * granule;
  }
  void* p = std::malloc(bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

void frame_free(void* block, std::size_t bytes) noexcept {
  if (use_cache && bytes <= max_cached_size) {
    size_class_cache& c = cache.classes[class_of(bytes)];
    if (c.count < max_blocks_per_class) {
      auto* b = static_cast<free_block*>(block);
      b->next = c.head;
      c.head = b;
      ++c.count;
      return;
    }
  }
  std::free(block);
}

}  // namespace weft::detail
