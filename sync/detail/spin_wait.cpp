#include <sync/detail/spin_wait.hpp>

#include <runtime/detail/scheduler.hpp>

namespace weft::detail {

bool parallel_workers() noexcept {
  scheduler* s = current_scheduler();
  return s != nullptr && s->worker_count() > 1;
}

}  // namespace weft::detail
