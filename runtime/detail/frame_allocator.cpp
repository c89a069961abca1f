#include <runtime/detail/frame_allocator.hpp>

#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>

namespace weft::detail {
namespace {

constexpr std::size_t granule = 16;
constexpr std::size_t max_cached_size = 2048;
constexpr std::size_t class_count = max_cached_size / granule;
constexpr std::size_t max_blocks_per_class = 1024;
// Blocks move between threads in batches of this many; the shared pool keeps
// at most max_shared_batches per class and frees the rest.
constexpr std::size_t batch_size = 256;
constexpr std::size_t max_shared_batches = 64;

struct free_block {
  free_block* next;
};

// batch_size blocks linked through `next`; the first block's second word
// links the batches in the shared pool.
struct batch {
  free_block* next;
  batch* next_batch;
};
static_assert(granule >= sizeof(batch));

// Per size class, the batches that threads freed beyond their own cap. When
// tasks are spawned on one worker and end on another, the spawner takes its
// blocks back from here in one lock per batch, rather than from malloc (whose
// arena lock both threads would share, and whose trimming makes the heap
// shrink and regrow, faulting its pages in again).
struct shared_pool {
  std::mutex mutex;
  batch* head = nullptr;
  std::size_t batches = 0;
};
shared_pool pools[class_count];

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

// Moves the first batch_size blocks of `c` to the shared pool, or frees them
// when the pool is full.
void spill(size_class_cache& c, std::size_t cls) noexcept {
  free_block* first = c.head;
  free_block* last = first;
  for (std::size_t i = 1; i < batch_size; ++i) last = last->next;
  c.head = last->next;
  c.count -= batch_size;
  last->next = nullptr;
  shared_pool& p = pools[cls];
  {
    std::lock_guard lock(p.mutex);
    if (p.batches < max_shared_batches) {
      auto* b = reinterpret_cast<batch*>(first);
      b->next_batch = p.head;
      p.head = b;
      ++p.batches;
      return;
    }
  }
  while (first) std::free(std::exchange(first, first->next));
}

// Fills an empty `c` with one batch from the shared pool, if it has one.
bool refill(size_class_cache& c, std::size_t cls) noexcept {
  shared_pool& p = pools[cls];
  batch* b;
  {
    std::lock_guard lock(p.mutex);
    if (!(b = p.head)) return false;
    p.head = b->next_batch;
    --p.batches;
  }
  c.head = reinterpret_cast<free_block*>(b);
  c.count = batch_size;
  return true;
}

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
    const std::size_t cls = class_of(bytes);
    size_class_cache& c = cache.classes[cls];
    if (c.head || refill(c, cls)) {
      free_block* b = c.head;
      c.head = b->next;
      --c.count;
      return b;
    }
    bytes = (cls + 1) * granule;
  }
  void* p = std::malloc(bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

void frame_free(void* block, std::size_t bytes) noexcept {
  if (use_cache && bytes <= max_cached_size) {
    const std::size_t cls = class_of(bytes);
    size_class_cache& c = cache.classes[cls];
    auto* b = static_cast<free_block*>(block);
    b->next = c.head;
    c.head = b;
    if (++c.count > max_blocks_per_class) spill(c, cls);
    return;
  }
  std::free(block);
}

}  // namespace weft::detail
