#include <runtime/detail/frame_allocator.hpp>

#include <sys/mman.h>

#include <algorithm>
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
// Blocks move between threads, and are carved from chunks, this many at a time.
constexpr std::size_t batch_size = 256;
constexpr std::size_t chunk_bytes = std::size_t(2) << 20;

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

// Per size class, the batches that threads freed beyond their own cap, and
// the odd blocks of threads that exited (`loose`).
struct shared_pool {
  std::mutex mutex;
  batch* head = nullptr;
  free_block* loose = nullptr;
};
shared_pool pools[class_count];

struct size_class_cache {
  free_block* head = nullptr;
  std::size_t count = 0;
};

std::size_t class_of(std::size_t bytes) { return (bytes + granule - 1) / granule - 1; }
std::size_t block_bytes(std::size_t cls) { return (cls + 1) * granule; }

void give_back(size_class_cache& c, std::size_t cls) noexcept;

// What a thread holds: its lists, and the rest of the chunk it carves from.
struct thread_cache {
  size_class_cache classes[class_count];
  char* carve_next = nullptr;
  char* carve_end = nullptr;
  // An exiting thread's blocks go to the shared pools (its chunk's uncarved
  // tail is left unused).
  ~thread_cache() {
    for (std::size_t cls = 0; cls < class_count; ++cls) give_back(classes[cls], cls);
  }
};

thread_local thread_cache cache;

// Moves the first batch_size blocks of `c` to the shared pool.
void spill(size_class_cache& c, std::size_t cls) noexcept {
  free_block* first = c.head;
  free_block* last = first;
  for (std::size_t i = 1; i < batch_size; ++i) last = last->next;
  c.head = last->next;
  c.count -= batch_size;
  last->next = nullptr;
  auto* b = reinterpret_cast<batch*>(first);
  shared_pool& p = pools[cls];
  std::lock_guard lock(p.mutex);
  b->next_batch = p.head;
  p.head = b;
}

void give_back(size_class_cache& c, std::size_t cls) noexcept {
  while (c.count >= batch_size) spill(c, cls);
  if (!c.head) return;
  free_block* last = c.head;
  while (last->next) last = last->next;
  shared_pool& p = pools[cls];
  std::lock_guard lock(p.mutex);
  last->next = p.loose;
  p.loose = std::exchange(c.head, nullptr);
  c.count = 0;
}

// Fills an empty `c` from the shared pool: a batch, or else the loose blocks.
bool refill(size_class_cache& c, std::size_t cls) noexcept {
  shared_pool& p = pools[cls];
  std::lock_guard lock(p.mutex);
  if (batch* b = p.head) {
    p.head = b->next_batch;
    c.head = reinterpret_cast<free_block*>(b);
    c.count = batch_size;
    return true;
  }
  if (!p.loose) return false;
  c.head = std::exchange(p.loose, nullptr);
  c.count = 0;
  for (free_block* b = c.head; b; b = b->next) ++c.count;
  return true;
}

// A fresh chunk, straight from the kernel, its pages populated by the mmap
// itself: one call instead of 512 page faults, each a kernel entry that a
// bulk spawn paid one block in sixteen (a third of spawn_many's time).
// (Advising it as a transparent huge page cut page faults 200-fold but made
// bulk spawns slower on the virtual machines weft is benchmarked on: a fresh
// huge page there costs the host more than 512 small ones.)
char* map_chunk() {
  void* p = ::mmap(nullptr, chunk_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<char*>(p);
}

// Fills an empty `c` with up to batch_size fresh blocks from this thread's chunk.
void carve(thread_cache& tc, size_class_cache& c, std::size_t cls) {
  const std::size_t size = block_bytes(cls);
  if (std::size_t(tc.carve_end - tc.carve_next) < size) {
    tc.carve_next = map_chunk();
    tc.carve_end = tc.carve_next + chunk_bytes;
  }
  std::size_t n = std::min(batch_size, std::size_t(tc.carve_end - tc.carve_next) / size);
  free_block* head = nullptr;
  char* end = tc.carve_next + n * size;
  for (char* p = end; p != tc.carve_next;) {  // linked in address order
    p -= size;
    auto* b = reinterpret_cast<free_block*>(p);
    b->next = head;
    head = b;
  }
  tc.carve_next = end;
  c.head = head;
  c.count = n;
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
    thread_cache& tc = cache;
    const std::size_t cls = class_of(bytes);
    size_class_cache& c = tc.classes[cls];
    if (!c.head && !refill(c, cls)) carve(tc, c, cls);
    free_block* b = c.head;
    c.head = b->next;
    --c.count;
    return b;
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
