#include <runtime/fiber.hpp>

#include <runtime/detail/fiber_stack.hpp>

namespace weft {

fiber_stats fiber_statistics() noexcept {
  detail::fiber_stack_counts c = detail::fiber_stack_stats();
  fiber_stats s;
  s.stacks_mapped = c.mapped;
  s.stacks_in_use = c.in_use;
  return s;
}

}  // namespace weft
