// The values of context_vars a task sees: an immutable, reference-counted
// snapshot. A task shares its parent's snapshot at spawn; set() gives the
// setting task (or thread, outside tasks) a fresh copy with one entry changed,
// so siblings and parents never see each other's writes.
#pragma once

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

namespace weft::detail {

struct context_map {
  // Shared between tasks on any thread; acq_rel on the last release so the
  // deleting thread sees the entries.
  std::atomic<std::uint32_t> refs{1};
  std::vector<std::pair<const void*, std::shared_ptr<const void>>> entries;
};

context_map* retain_context(context_map* m) noexcept;
void release_context(context_map* m) noexcept;

// The context of code running outside any task on this thread.
context_map* thread_context() noexcept;

// Lends `m` to this thread as its context for a scope (a spawn_blocking job
// runs with its task's values); a set() inside replaces only the lent copy,
// and the thread's own context comes back at the end.
class thread_context_scope {
 public:
  explicit thread_context_scope(context_map* m) noexcept;
  ~thread_context_scope();
  thread_context_scope(const thread_context_scope&) = delete;
  thread_context_scope& operator=(const thread_context_scope&) = delete;

 private:
  context_map* saved_;
};

// The value bound to `key` in the current task's (or thread's) context.
std::shared_ptr<const void> context_get(const void* key);
void context_set(const void* key, std::shared_ptr<const void> value);

}  // namespace weft::detail
