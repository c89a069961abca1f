// Errors that weft throws. All derive from std::exception.
#pragma once

#include <stdexcept>

namespace weft {

// Thrown at a task's next suspension point once the task was aborted (by
// join_handle::abort, a timeout, a when_any sibling, a failing task_group).
// Let it propagate: it unwinds the task and runs its destructors.
class cancelled : public std::exception {
 public:
  const char* what() const noexcept override { return "weft: task cancelled"; }
};

// Thrown by weft::timeout when the deadline passed before the work finished.
class timed_out : public std::exception {
 public:
  const char* what() const noexcept override { return "weft: operation timed out"; }
};

// Misuse of the runtime: weft::spawn with no runtime around, block_on from a
// worker thread, awaiting a join_handle twice, and the like.
class runtime_misuse : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace weft
