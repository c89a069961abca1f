// The machinery under weft::spawn_fiber (see fiber.hpp for the user's view).
//
// A fiber is driven by an ordinary weft task, its *driver*: run_fiber() below,
// awaited inline by the spawned task<R> that owns this fiber_core in its
// frame. A poll of that task resumes the driver, which switches onto the
// fiber's stack (resume). The fiber runs until it calls weft::await(aw).
//
// weft::await runs the awaiter's protocol on the fiber itself, but on the
// driver's behalf: await_suspend gets the driver's coroutine handle, so the
// driver is what the awaitable registers, wakes, cancels and requeues, and
// every weft awaitable -- its cancel hook, its wake-up, its cooperative
// budget -- works unchanged. This is safe while the fiber runs because the
// driver's task is inside a poll: its `running` bit is held, so a wake-up that
// arrives at once (from another worker, say) only marks the task notified,
// and nothing resumes the driver before that poll has ended. If await_suspend
// says "do not suspend", the fiber just carries on: an operation that
// completes at once costs no switch at all. Otherwise the fiber switches back
// (suspend) and the driver suspends at a co_await -- the resume point the
// awaitable recorded -- continuing with the coroutine await_suspend returned,
// if any (awaiting a task inline runs it on the worker's stack, not on the
// fiber's). When the driver is resumed, it switches onto the fiber, which
// calls await_resume itself, on its own stack. So a fiber is a task by
// construction: it sits in the run queues, is stolen, aborted, counted in the
// metrics and destroyed at shutdown like any other. No allocation per await.
//
// A fiber always switches back to the very context that entered it, on the
// same thread, so all thread-bound bookkeeping (the running fiber, the C++
// exception-handling globals, the alternate signal stack) is done on the
// driver side around the switch. The fiber side touches no thread-local
// state after a switch: it may be running on another thread than before.
//
// Boost.Context provides the stacks' context switch (make_fcontext and
// jump_fcontext, the primitives boost::context::fiber is built from). weft
// calls them directly rather than through boost::context::fiber because that
// class switches stacks in places weft cannot annotate for the sanitizers
// (its constructor jumps onto the new stack and back, and a finishing fiber
// leaves through ontop_fcontext); ThreadSanitizer's shadow call stack then
// drifts by a frame per fiber until it runs out of memory. Here
// fiber_core::transfer is the one place where weft switches stacks, with one
// exception: in a library built without sanitizers, the fiber's own switch
// back to its driver (suspend, below) is inlined into weft::await. Every call
// level between a stack switch and the code that runs after it costs a
// mispredicted return (the CPU's return-address predictor still describes the
// other stack), and an out-of-line suspend cost one on the fiber's side and
// one on each return of the driver's -- a fifth of a fiber yield.
#pragma once

#include <coroutine>
#include <cstddef>
#include <utility>

#include <boost/context/detail/fcontext.hpp>

#include <runtime/detail/fiber_stack.hpp>
#include <runtime/task.hpp>

// Switches to the stack context `to`, passing `data`; returns when something
// switches back, with the context it came from (fiber_core.cpp; Boost's
// jump_fcontext without the floating-point control words on x86-64).
extern "C" boost::context::detail::transfer_t weft_detail_jump_fcontext(void* to,
                                                                        void* data) noexcept;

namespace weft::detail {

// A fiber's stack when fiber_options::stack_size is 0 (weft::default_fiber_stack_size).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr std::size_t default_stack_bytes = 1024 * 1024;  // sanitizer frames are larger
#else
inline constexpr std::size_t default_stack_bytes = 256 * 1024;
#endif

// The coroutine that drives fibers: its promise is the one awaiters see.
using fiber_driver_handle = std::coroutine_handle<task_promise<void>>;

// Thrown out of weft::await inside a suspended fiber whose task is being
// destroyed (runtime shutdown), so that its stack unwinds and its destructors
// run. Deliberately not a std::exception: `catch (const std::exception&)`
// lets it pass. A `catch (...)` that swallows it only delays it: every later
// weft::await throws it again.
struct fiber_unwind {};

// True when the library was built with ThreadSanitizer or AddressSanitizer:
// then every switch goes through fiber_core::transfer and its annotations,
// whatever flags the code calling weft::await was compiled with.
extern const bool fiber_switch_annotated;

class fiber_core {
 public:
  // Runs the user's function on the fiber; must not throw.
  using body_fn = void (*)(void* body) noexcept;

  // Takes a stack from the pool (throws std::bad_alloc if none can be mapped).
  // stack_size 0 means default_stack_bytes.
  fiber_core(std::size_t stack_size, body_fn run, void* body, const char* name);
  // A fiber suspended in weft::await is resumed with fiber_unwind and runs
  // until it finishes; then its stack goes back to the pool.
  ~fiber_core();
  fiber_core(const fiber_core&) = delete;
  fiber_core& operator=(const fiber_core&) = delete;

  // Driver side: runs the fiber until it suspends in weft::await (true) or
  // finishes (false). After true, take_next() says what to continue with.
  bool resume();
  std::coroutine_handle<> take_next() noexcept { return std::exchange(next_, {}); }
  void set_driver(fiber_driver_handle h) noexcept { driver_ = h; }

  // Fiber side. The handle awaiters must see.
  fiber_driver_handle driver() const noexcept { return driver_; }
  // Throws fiber_unwind if the fiber's task is being destroyed: weft::await
  // calls it before it registers anything with an awaitable.
  void check_unwinding() const {
    if (unwinding_) throw_unwind();
  }
  // Switches back to the driver, which suspends and then continues with
  // `next` (null: nothing); returns once the driver resumed the fiber,
  // possibly on another thread. Throws fiber_unwind at shutdown.
  [[gnu::always_inline]] void suspend(std::coroutine_handle<> next) {
    next_ = next;
    if (fiber_switch_annotated) [[unlikely]]
      suspend_annotated();
    else  // resumed, maybe on another thread: no thread-local state from here on
      caller_ctx_ = weft_detail_jump_fcontext(caller_ctx_, this).fctx;
    if (unwinding_) throw_unwind();
  }

  const fiber_stack& stack() const noexcept { return stack_; }

 private:
  friend struct fiber_entry;
  enum class hop : unsigned char {
    enter,   // driver -> fiber
    leave,   // fiber -> driver, to be resumed later
    finish,  // fiber -> driver, for good
    start,   // the fiber's first instant (the landing half of its first enter)
  };
  void transfer(hop h) noexcept;
  void landed(hop h, void* from) noexcept;
  void finished() noexcept;
  void suspend_annotated() noexcept;
  [[noreturn]] static void throw_unwind();

  void* fiber_ctx_ = nullptr;   // where the fiber continues (while switched out)
  void* caller_ctx_ = nullptr;  // where its driver continues (while it runs)
  fiber_stack stack_{};
  body_fn run_;
  void* body_;
  fiber_driver_handle driver_;         // run_fiber's own handle
  std::coroutine_handle<> next_;       // what the driver continues with after a suspend
  bool started_ = false;
  bool done_ = false;
  bool unwinding_ = false;
  // The fiber's C++ exception-handling globals (caught exceptions, uncaught
  // count) while it is switched out, so that a fiber may await inside a
  // catch handler or a destructor and resume on another thread.
  void* eh_caught_ = nullptr;
  unsigned eh_uncaught_ = 0;
  // Sanitizer bookkeeping; unused in plain builds (kept so the layout is one).
  void* tsan_fiber_ = nullptr;
  void* tsan_caller_ = nullptr;
  void* asan_fake_fiber_ = nullptr;
  void* asan_fake_caller_ = nullptr;
  const void* caller_stack_bottom_ = nullptr;
  std::size_t caller_stack_size_ = 0;
};

// The driver loop (fiber_core.cpp): resume the fiber; when it suspends,
// suspend too (continuing with what it passed on); repeat until it finished.
task<void> run_fiber(fiber_core& f);

// The fiber running on this thread, or null. Out of line and never inlined:
// it reads a thread_local, and code on a fiber must never keep that address
// across a suspension.
[[gnu::noinline]] fiber_core* current_fiber() noexcept;
[[noreturn]] void throw_await_outside_fiber();

}  // namespace weft::detail
