// weft::context_var<T>: asyncio's contextvars for tasks.
//
// A value bound to the running task. A spawned task starts with a snapshot of
// its spawner's values (copied at spawn, cheaply: snapshots are shared and
// copy-on-write); set() changes the value for the current task and the tasks
// it spawns afterwards, never for its parent or siblings. Works whichever
// worker the task resumes on. Outside any task the value belongs to the
// calling thread, and tasks that thread spawns inherit it.
//
// Declare context_vars with static storage duration (globals or statics):
// the variable's address is its key.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include <runtime/detail/context.hpp>
#include <runtime/errors.hpp>

namespace weft {

template <class T>
class context_var {
 public:
  context_var() = default;
  explicit context_var(T default_value) : default_(std::move(default_value)) {}
  context_var(const context_var&) = delete;
  context_var& operator=(const context_var&) = delete;

  void set(T value) { detail::context_set(this, std::make_shared<const T>(std::move(value))); }

  // The current value, or the default; throws runtime_misuse if neither.
  T get() const {
    if (auto v = try_get()) return std::move(*v);
    throw runtime_misuse("weft::context_var::get: no value set and no default");
  }

  std::optional<T> try_get() const {
    if (auto p = detail::context_get(this)) return *static_cast<const T*>(p.get());
    return default_;
  }

  // Removes the binding for the current task (the default shows again).
  void reset() { detail::context_set(this, nullptr); }

 private:
  std::optional<T> default_;
};

}  // namespace weft
