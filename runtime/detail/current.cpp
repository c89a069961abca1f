// Thread-local runtime state. Everything here is out of line on purpose (see
// frame_allocator.hpp): coroutine code must never cache these addresses.
#include <atomic>

#include <runtime/detail/scheduler.hpp>

namespace weft::detail {
namespace {
thread_local scheduler* tls_scheduler = nullptr;
thread_local worker* tls_worker = nullptr;
thread_local task_header* tls_task = nullptr;
thread_local trace::buffer* tls_blocking_trace = nullptr;
thread_local std::uint64_t tls_next_id = 0;
thread_local std::uint64_t tls_id_limit = 0;
thread_local bool tls_tearing_down = false;
std::atomic<std::uint64_t> id_blocks{1};
}  // namespace

worker* current_worker() noexcept { return tls_worker; }
scheduler* current_scheduler() noexcept { return tls_scheduler; }
worker* current_worker_of(const scheduler* s) noexcept { return tls_scheduler == s ? tls_worker : nullptr; }
void set_current(scheduler* s, worker* w) noexcept {
  tls_scheduler = s;
  tls_worker = w;
}
tearing_down_scope::tearing_down_scope() noexcept { tls_tearing_down = true; }
tearing_down_scope::~tearing_down_scope() { tls_tearing_down = false; }
bool tearing_down() noexcept { return tls_tearing_down; }
task_header* current_task() noexcept { return tls_task; }
void set_current_task(task_header* t) noexcept { tls_task = t; }

trace::buffer* current_blocking_trace() noexcept { return tls_blocking_trace; }
void set_current_blocking_trace(trace::buffer* b) noexcept { tls_blocking_trace = b; }

// Task ids come in per-thread blocks so that spawning never contends on one
// counter; relaxed is enough, only uniqueness matters.
std::uint64_t next_task_id() noexcept {
  if (tls_next_id == tls_id_limit) {
    tls_next_id = id_blocks.fetch_add(1, std::memory_order_relaxed) * task_id_block;
    tls_id_limit = tls_next_id + task_id_block;
  }
  return tls_next_id++;
}

}  // namespace weft::detail
