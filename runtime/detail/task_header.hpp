// The scheduling header of a task: what the scheduler, wakers and join
// handles touch. It sits in front of every coroutine frame, in the same
// allocation (see frame_allocator and promise_base), so spawning costs one
// allocation, and the header (with the result slot at the block's end)
// outlives the frame: a spawned task's frame is destroyed when it ends, its
// header when the last join handle lets go.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <source_location>

namespace weft::detail {

class scheduler;
struct context_map;
struct task_header;

// What a suspended task registers so that abort() can make its pending
// operation finish early. Called at most once per suspension, by the thread
// that holds the task's `running` bit, so it never races the task's own
// resumption. It must make the operation complete soon (its normal completion
// path then wakes the task, or the hook calls wake() itself).
struct cancel_hook {
  void (*fire)(cancel_hook* self) noexcept;
};

// The state word. Transitions (all acq_rel RMW on `state`):
//   wake:   set notified; if neither running nor notified nor complete was set,
//           the waker schedules the task (it owns the queue entry).
//   poll:   notified -> running (the poller owns the task and its frame).
//   end:    clear running; if notified was set meanwhile, the poller requeues.
//   abort:  set cancelled; a task that was idle is claimed (running) by the
//           aborter so it can fire the hook, then released like a poll end.
// Exactly one party resumes a suspended coroutine, and a task never runs on
// two threads at once: only the owner of `running` resumes or fires hooks.
namespace state {
inline constexpr std::uint32_t notified = 1u << 0;
inline constexpr std::uint32_t running = 1u << 1;
inline constexpr std::uint32_t complete = 1u << 2;
inline constexpr std::uint32_t cancelled = 1u << 3;
}  // namespace state

// Marks `joiner` once the task completed: no waiter may register after it.
inline task_header* const joined_marker = reinterpret_cast<task_header*>(std::uintptr_t{1});

struct spawn_site {
  const char* name = nullptr;
  std::source_location where{};
};

struct alignas(16) task_header {
  std::atomic<std::uint32_t> state{0};
  // References that keep the header (and a completed frame) alive besides the
  // frame itself: the join handle and, until completion, the scheduler.
  std::atomic<std::uint32_t> refs{0};
  std::int32_t budget = 0;       // cooperative budget left in this poll
  bool finished = false;         // set by final_suspend, read by the poller
  bool frame_gone = false;       // the coroutine frame was destroyed already (the block may stay)
  bool result_taken = false;     // a joiner took the result (or the exception)
  bool threw = false;            // finished with an exception (for the tracer)
  std::uint8_t wait_kind = 0;    // what the task is suspended on (wait_kind), for the tracer
  // The task yielded (see yield_self): its poller requeues it still holding
  // `running`, and its next poller starts it without claiming it again.
  // Only the holder of `running` reads or writes it.
  bool yielded = false;
  std::uint16_t last_worker = 0xffff;  // where it was last polled, for the tracer
  std::uint32_t alloc_size = 0;  // bytes of the block holding header and frame
  task_header* next = nullptr;   // intrusive link: inject queue
  task_header* owned_prev = nullptr;  // intrusive links: the scheduler's list
  task_header* owned_next = nullptr;  //   of live tasks, for shutdown
  std::coroutine_handle<> resume_point;  // what the next poll resumes
  std::coroutine_handle<> frame;         // the spawned coroutine; null if never spawned
  std::atomic<task_header*> joiner{nullptr};  // task awaiting our end, or joined_marker
  // Completion waits until this drops to zero: one for the task's own body,
  // one for each child of a task_group that was destroyed before its
  // children ended (structured concurrency: no task outlives its parent's
  // completion). acq_rel: the last one to leave sees everything the others did.
  std::atomic<std::uint32_t> completion_holds{1};
  // Inline transfers (task awaits and returns) since the last bounce, and
  // whether the poll must resume `resume_point` again (see transfer_inline).
  // Only the holder of `running` touches them. In what was padding.
  std::uint8_t inline_transfers = 0;
  bool bounced = false;
  // The reactor poll count (mod 256) of the worker that requeued the task
  // when it yielded: it runs again only after that worker's next poll.
  std::uint8_t yield_epoch = 0;
  cancel_hook* hook = nullptr;   // owned by whoever holds `running`
  // Destroys the task's result slot (see promise_base), which outlives the
  // frame; set when the block is allocated, called when it is freed.
  void (*drop_result)(task_header*) noexcept = nullptr;
  context_map* context = nullptr;  // context_var values (copy-on-write, shared)
  scheduler* sched = nullptr;
  std::uint64_t id = 0;
  std::uint64_t parent_id = 0;
  spawn_site site{};

  bool is_cancelled() const noexcept {
    return state.load(std::memory_order_relaxed) & state::cancelled;
  }
};

// What a suspended task waits on; awaitables set task_header::wait_kind when
// they suspend, the tracer reports it (see runtime/trace/FORMAT.md).
namespace wait_kind {
inline constexpr std::uint8_t other = 0, timer = 1, channel = 2, sync = 3, net_read = 4,
                              net_write = 5, net_accept = 6, join = 7, blocking = 8, yield = 9;
}

inline constexpr std::size_t header_size = sizeof(task_header);
static_assert(header_size % 16 == 0);

// Implemented in runtime/detail/task_ops.cpp.
void wake(task_header* t) noexcept;          // make a suspended task runnable
void abort_task(task_header* t) noexcept;    // request cancellation
void drop_ref(task_header* t) noexcept;      // release a join handle's or the scheduler's ref
// A join awaiter destroyed while `joiner` waits in target->joiner (its frame
// destroyed at shutdown): takes it out, or leaves it to the completer that
// already did.
void unregister_joiner(task_header* target, task_header* joiner) noexcept;
bool release_after_poll(task_header* t) noexcept;  // end an exclusive claim; true if requeued
void hold_completion(task_header* t, std::uint32_t n) noexcept;  // delay t's completion
void release_completion_hold(task_header* t) noexcept;           // maybe complete t now

// How a task awaiting a task, or one returning to its awaiter, hands over
// the thread: by symmetric transfer, which g++ makes a tail call only at -O2
// and without sanitizers. Otherwise every transfer leaves a stack frame
// behind, and a task that loops over awaits that complete at once (a server
// parsing pipelined requests out of its buffer) would grow its stack without
// bound. So every `bounce_every`-th transfer returns to the poller instead,
// unwinding whatever frames the transfers left, and the poller resumes the
// target at once, in the same poll. At -O2 that costs a counter per transfer.
inline constexpr std::uint8_t bounce_every = 64;
inline std::coroutine_handle<> transfer_inline(task_header* root, std::coroutine_handle<> next) noexcept {
  if (++root->inline_transfers < bounce_every) [[likely]]
    return next;
  root->inline_transfers = 0;
  root->resume_point = next;
  root->bounced = true;
  return std::noop_coroutine();
}

// Called by a running task's awaitable that suspends only to let others run
// (yield_now, a spent budget): the poller puts it at the back of its queue.
// Unlike a wake, no atomic read-modify-write: the task stays claimed
// (`running`) while it waits in the queue, so wakers leave it alone, an
// abort only sets `cancelled` (seen when it resumes), and the next poll
// skips the notified -> running step. Three locked instructions fewer per
// yield.
inline void yield_self(task_header* t, std::coroutine_handle<> h) noexcept {
  t->resume_point = h;
  t->wait_kind = wait_kind::yield;
  t->yielded = true;
}

}  // namespace weft::detail
