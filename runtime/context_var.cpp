#include <runtime/context_var.hpp>

#include <algorithm>

#include <runtime/detail/scheduler.hpp>

namespace weft::detail {
namespace {

// Owns the reference it holds; released when the thread exits.
struct thread_context_slot {
  context_map* map = nullptr;
  ~thread_context_slot() { release_context(map); }
};
thread_local thread_context_slot tls_context;

context_map*& current_slot() noexcept {
  if (task_header* t = current_task()) return t->context;
  return tls_context.map;
}

}  // namespace

context_map* retain_context(context_map* m) noexcept {
  if (m) m->refs.fetch_add(1, std::memory_order_relaxed);
  return m;
}

void release_context(context_map* m) noexcept {
  if (m && m->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete m;
}

context_map* thread_context() noexcept { return tls_context.map; }

thread_context_scope::thread_context_scope(context_map* m) noexcept
    : saved_(std::exchange(tls_context.map, retain_context(m))) {}

thread_context_scope::~thread_context_scope() {
  release_context(std::exchange(tls_context.map, saved_));
}

std::shared_ptr<const void> context_get(const void* key) {
  context_map* m = current_slot();
  if (!m) return nullptr;
  for (auto& [k, v] : m->entries)
    if (k == key) return v;
  return nullptr;
}

void context_set(const void* key, std::shared_ptr<const void> value) {
  context_map*& slot = current_slot();
  auto* fresh = new context_map();
  if (slot) fresh->entries = slot->entries;
  auto it = std::find_if(fresh->entries.begin(), fresh->entries.end(),
                         [&](auto& e) { return e.first == key; });
  if (value) {
    if (it != fresh->entries.end()) it->second = std::move(value);
    else fresh->entries.emplace_back(key, std::move(value));
  } else if (it != fresh->entries.end()) {
    fresh->entries.erase(it);
  }
  release_context(std::exchange(slot, fresh));
}

}  // namespace weft::detail
