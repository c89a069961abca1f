#include <runtime/detail/fiber_stack.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace weft::detail {
namespace {

constexpr std::size_t guard_pages = 4;
constexpr std::size_t min_usable = 16 * 1024;
// A thread keeps at most this many free stacks of one size; beyond it, half
// of them move to the shared pool in one go (and half come back the same way).
constexpr std::uint32_t thread_cap = 16;
constexpr std::uint32_t batch = thread_cap / 2;
// The shared pool keeps at most this many stacks; the rest are unmapped.
constexpr std::size_t shared_cap = 256;

std::size_t page_size() noexcept {
  static const std::size_t p = std::size_t(::sysconf(_SC_PAGESIZE));
  return p;
}

// A pooled stack links itself through a node at its top, in the page the next
// fiber touches first anyway.
struct free_node {
  free_node* next;
  std::size_t usable;
};

free_node* node_of(const fiber_stack& s) noexcept {
  return reinterpret_cast<free_node*>(s.top() - 64);
}
fiber_stack stack_of(free_node* n) noexcept {
  fiber_stack s;
  s.usable = n->usable;
  s.base = reinterpret_cast<char*>(n) + 64 - n->usable - fiber_guard_bytes();
  return s;
}

struct size_list {
  std::size_t usable = 0;  // 0: slot unused
  free_node* head = nullptr;
  std::uint32_t count = 0;

  void push(free_node* n) noexcept {
    n->next = head;
    head = n;
    ++count;
  }
  free_node* pop() noexcept {
    free_node* n = head;
    if (n) {
      head = n->next;
      --count;
    }
    return n;
  }
};

// Stacks mapped right now. Changes only on mmap/munmap, which are rare (the
// pool exists to avoid them); relaxed: a statistic.
std::atomic<std::size_t> mapped_count{0};

fiber_stack map_stack(std::size_t usable) {
  const std::size_t guard = fiber_guard_bytes();
  void* p = ::mmap(nullptr, guard + usable, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (::mprotect(p, guard, PROT_NONE) != 0) {
    ::munmap(p, guard + usable);
    throw std::bad_alloc();
  }
  mapped_count.fetch_add(1, std::memory_order_relaxed);
  return fiber_stack{static_cast<char*>(p), usable};
}

void unmap_stack(const fiber_stack& s) noexcept {
  ::munmap(s.base, fiber_guard_bytes() + s.usable);
  mapped_count.fetch_sub(1, std::memory_order_relaxed);
}

struct thread_cache;

struct shared_pool {
  std::mutex mutex;
  std::vector<size_list> lists;
  std::size_t count = 0;
  std::vector<thread_cache*> threads;  // for the in_use statistic
  std::int64_t retired_in_use = 0;     // in_use of threads that have exited

  size_list& list_for(std::size_t usable) {
    for (auto& l : lists)
      if (l.usable == usable) return l;
    lists.push_back(size_list{usable, nullptr, 0});
    return lists.back();
  }
  // Takes `n` in. Called with the lock held. When full, a stack of the most
  // pooled other size makes room: the pool follows the sizes in use now.
  // (Dropping `n` instead, a pool once filled by 16 KiB fibers unmapped every
  // later default-size stack, and each spawn of one mapped it again: two
  // system calls under the process's mmap lock, which page faults on other
  // workers wait behind for milliseconds.)
  void put_locked(free_node* n) noexcept {
    if (count >= shared_cap) {
      size_list* victim = nullptr;
      for (auto& l : lists)
        if (l.usable != n->usable && l.count > 0 && (!victim || l.count > victim->count)) victim = &l;
      if (!victim) {
        unmap_stack(stack_of(n));
        return;
      }
      unmap_stack(stack_of(victim->pop()));
      --count;
    }
    list_for(n->usable).push(n);
    ++count;
  }
};

// Never destroyed: threads may hand back stacks during process exit.
shared_pool& shared() {
  static shared_pool* pool = new shared_pool;
  return *pool;
}

thread_local bool cache_gone = false;  // trivially destructible: valid after the cache died

struct thread_cache {
  std::array<size_list, 4> lists{};
  // acquires minus releases on this thread (may go negative: a stack is often
  // released on another thread than the one that took it). Single writer,
  // read by fiber_stack_stats: relaxed is enough for a statistic.
  std::atomic<std::int64_t> in_use{0};

  thread_cache() {
    shared_pool& p = shared();
    std::lock_guard lock(p.mutex);
    p.threads.push_back(this);
  }
  ~thread_cache() {
    shared_pool& p = shared();
    std::lock_guard lock(p.mutex);
    for (auto& l : lists)
      while (free_node* n = l.pop()) p.put_locked(n);
    p.retired_in_use += in_use.load(std::memory_order_relaxed);
    std::erase(p.threads, this);
    cache_gone = true;
  }

  void count(std::int64_t d) noexcept {
    in_use.store(in_use.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  size_list* list_for(std::size_t usable) noexcept {
    size_list* free_slot = nullptr;
    for (auto& l : lists) {
      if (l.usable == usable) return &l;
      if (l.usable == 0 && !free_slot) free_slot = &l;
    }
    if (free_slot) free_slot->usable = usable;
    return free_slot;  // null: this thread already caches four other sizes
  }
};

thread_cache& cache() {
  thread_local thread_cache c;
  return c;
}

}  // namespace

char* fiber_stack::bottom() const noexcept { return base + fiber_guard_bytes(); }

bool fiber_stack::guard_contains(const void* p) const noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  auto b = reinterpret_cast<std::uintptr_t>(base);
  return a >= b && a < b + fiber_guard_bytes();
}

std::size_t fiber_guard_bytes() noexcept { return guard_pages * page_size(); }

std::size_t round_fiber_stack_size(std::size_t requested) noexcept {
  const std::size_t page = page_size();
  std::size_t n = std::max(requested, min_usable);
  return (n + page - 1) / page * page;
}

fiber_stack acquire_fiber_stack(std::size_t usable) {
  if (!cache_gone) {
    thread_cache& c = cache();
    if (size_list* l = c.list_for(usable)) {
      if (free_node* n = l->pop()) {
        c.count(1);
        return stack_of(n);
      }
      // Empty here: refill a batch from the shared pool.
      shared_pool& p = shared();
      free_node* got = nullptr;
      {
        std::lock_guard lock(p.mutex);
        size_list& sl = p.list_for(usable);
        for (std::uint32_t i = 0; i < batch && sl.head; ++i) {
          free_node* n = sl.pop();
          --p.count;
          if (!got) got = n;
          else l->push(n);
        }
      }
      if (got) {
        c.count(1);
        return stack_of(got);
      }
    }
    fiber_stack s = map_stack(usable);
    c.count(1);
    return s;
  }
  // This thread is exiting: go straight to the shared pool.
  shared_pool& p = shared();
  {
    std::lock_guard lock(p.mutex);
    if (free_node* n = p.list_for(usable).pop()) {
      --p.count;
      ++p.retired_in_use;
      return stack_of(n);
    }
  }
  fiber_stack s = map_stack(usable);
  std::lock_guard lock(p.mutex);
  ++p.retired_in_use;
  return s;
}

void release_fiber_stack(fiber_stack s) noexcept {
#if defined(__SANITIZE_ADDRESS__)
  // Frames that never returned (the fiber left for good from deep inside its
  // entry function) leave poisoned redzones behind; the next fiber starts clean.
  __asan_unpoison_memory_region(s.bottom(), s.usable);
#endif
  free_node* n = node_of(s);
  n->usable = s.usable;
  if (!cache_gone) {
    thread_cache& c = cache();
    c.count(-1);
    if (size_list* l = c.list_for(s.usable)) {
      if (l->count < thread_cap) {
        l->push(n);
        return;
      }
      // Full: move a batch to the shared pool along with this one.
      shared_pool& p = shared();
      std::lock_guard lock(p.mutex);
      for (std::uint32_t i = 0; i < batch; ++i) p.put_locked(l->pop());
      p.put_locked(n);
      return;
    }
    shared_pool& p = shared();
    std::lock_guard lock(p.mutex);
    p.put_locked(n);
    return;
  }
  shared_pool& p = shared();
  std::lock_guard lock(p.mutex);
  --p.retired_in_use;
  p.put_locked(n);
}

fiber_stack_counts fiber_stack_stats() noexcept {
  shared_pool& p = shared();
  std::lock_guard lock(p.mutex);
  std::int64_t in_use = p.retired_in_use;
  for (thread_cache* t : p.threads) in_use += t->in_use.load(std::memory_order_relaxed);
  return fiber_stack_counts{mapped_count.load(std::memory_order_relaxed),
                            std::size_t(std::max<std::int64_t>(in_use, 0))};
}

}  // namespace weft::detail
