// State transitions of a task. The encoding is documented in task_header.hpp.
#include <exception>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include <runtime/detail/orphans.hpp>
#include <runtime/detail/promise_base.hpp>
#include <runtime/detail/scheduler.hpp>
#include <runtime/task.hpp>

namespace weft::detail {

void wake(task_header* t) noexcept {
  // acq_rel: publish what the waker wrote (a result, a message) to the poller.
  std::uint32_t prev = t->state.fetch_or(state::notified, std::memory_order_acq_rel);
  if (prev & (state::notified | state::running | state::complete)) return;
#if WEFT_TRACING
  if (t->sched->tracer()) [[unlikely]]
    t->sched->trace_wake(t);
#endif
  t->sched->schedule(t, false);
}

bool release_after_poll(task_header* t) noexcept {
  std::uint32_t s = t->state.load(std::memory_order_acquire);
  for (;;) {
    if ((s & state::cancelled) && t->hook) {
      // We own the task: ask its pending operation to finish early.
      cancel_hook* h = std::exchange(t->hook, nullptr);
      h->fire(h);
      s = t->state.load(std::memory_order_acquire);
      continue;
    }
    if (t->state.compare_exchange_weak(s, s & ~state::running, std::memory_order_acq_rel,
                                       std::memory_order_acquire))
      break;
  }
  if (!(s & state::notified)) return false;
  t->sched->schedule(t, true);
  return true;
}

void abort_task(task_header* t) noexcept {
  std::uint32_t s = t->state.load(std::memory_order_acquire);
  for (;;) {
    if (s & state::complete) return;
    if (s & (state::running | state::notified)) {
      // Whoever polls it next sees the flag (and fires the hook at poll end).
      if ((s & state::cancelled) ||
          t->state.compare_exchange_weak(s, s | state::cancelled, std::memory_order_acq_rel,
                                         std::memory_order_acquire))
        return;
      continue;
    }
    // Suspended and idle: claim it like a poller would, to fire its hook.
    if (t->state.compare_exchange_weak(s, s | state::cancelled | state::running,
                                       std::memory_order_acq_rel, std::memory_order_acquire))
      break;
  }
  release_after_poll(t);
}

void hold_completion(task_header* t, std::uint32_t n) noexcept {
  t->completion_holds.fetch_add(n, std::memory_order_relaxed);  // the holder runs inside t's poll
}

void release_completion_hold(task_header* t) noexcept {
  // The release that leaves only the body's hold while the body waits for its
  // orphans (orphans_ended) clears the waiter bit and wakes it. acq_rel: the
  // last one to leave sees what the others wrote, and publishes it.
  std::uint32_t s = t->completion_holds.load(std::memory_order_relaxed);
  std::uint32_t next;
  do {
    next = s == (orphan_waiter | 2) ? 1 : s - 1;
  } while (!t->completion_holds.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                                      std::memory_order_relaxed));
  if (s == 1) t->sched->finish_completion(t);
  else if (s == (orphan_waiter | 2)) wake(t);
}

bool orphans_ended::await_suspend(std::coroutine_handle<> h) noexcept {
  task->resume_point = h;
  task->wait_kind = wait_kind::join;
  // Only this task (inside its poll) sets or clears the bit before it waits.
  std::uint32_t before = task->completion_holds.fetch_or(orphan_waiter, std::memory_order_acq_rel);
  if (before != 1) return true;  // the last orphan's release wakes us
  // They ended meanwhile; nobody can be releasing now.
  task->completion_holds.fetch_and(~orphan_waiter, std::memory_order_relaxed);
  return false;
}

void drop_ref(task_header* t) noexcept {
  if (t->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (t->frame_gone) {
    promise_base::free_header_block(t);
    return;
  }
  t->frame_gone = true;
  t->frame.destroy();  // operator delete sees refs == 0 and frees the block
}

void unregister_joiner(task_header* target, task_header* joiner) noexcept {
  task_header* expected = joiner;
  if (target->joiner.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel))
    drop_ref(joiner);  // not the last: the scheduler holds one until the frame is gone
  // else: the completer took it and drops the reference after its wake.
}

namespace {
// g++ names a spawn site inside a coroutine's body after the coroutine's
// actor: "void f(f(int)::_Z1fi.Frame*)". The user wrote "f(int)".
std::string_view readable_function(std::string_view name) noexcept {
  constexpr std::string_view actor_end = ".Frame*)";
  if (!name.ends_with(actor_end)) return name;
  // The actor's parameter list is the parenthesis closing the name; the
  // user's function inside it may have parentheses of its own (a lambda's
  // "main()::<lambda()>").
  std::size_t open = std::string_view::npos;
  int depth = 0;
  for (std::size_t i = name.size(); i-- > 0;) {
    if (name[i] == ')') ++depth;
    else if (name[i] == '(' && --depth == 0) {
      open = i;
      break;
    }
  }
  std::size_t mangled = name.rfind("::_Z");
  if (open == std::string_view::npos || mangled == std::string_view::npos || mangled <= open) return name;
  return name.substr(open + 1, mangled - open - 1);
}
}  // namespace

void report_unobserved_exception(task_header* h, std::exception_ptr e) noexcept {
  std::string what;
  try {
    std::rethrow_exception(e);
  } catch (const cancelled&) {
    return;  // an aborted task that nobody joined: nothing went wrong
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
    what = "a non-standard exception";
  }
  const auto& w = h->site.where;
  fmt::print(stderr, "weft: task {} ({}) spawned at {}:{} in {} failed and nobody joined it: {}\n",
             h->id, h->site.name ? h->site.name : "unnamed", w.file_name(), w.line(),
             readable_function(w.function_name()), what);
  std::fflush(stderr);
}

}  // namespace weft::detail
