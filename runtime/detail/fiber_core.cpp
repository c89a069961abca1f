// A fiber's life: creation on a pooled stack, the context switch (the one
// place weft switches stacks, annotated for the sanitizers), and unwinding at
// destruction. See fiber_core.hpp for the design.
#include <runtime/detail/fiber_core.hpp>

#include <cxxabi.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include <boost/context/detail/fcontext.hpp>

#include <runtime/detail/fiber_guard.hpp>
#include <runtime/errors.hpp>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#endif

// The stack switch itself. On x86-64 weft uses its own copy of Boost's
// jump_fcontext that leaves out saving and restoring the x87 control word and
// MXCSR (fldcw and ldmxcsr stall the pipeline), and that leaves by `ret`
// rather than an indirect jump, so the return-address predictor stays in step
// with the stacks: the call into the switch is matched by that one return
// (which mispredicts), not by a wrong prediction on every return after it.
// The floating-point environment is thread state to a fiber exactly as it is
// to a coroutine task: neither carries it across a suspension. The frame
// layout is Boost's, so contexts made by make_fcontext work unchanged:
// callee-saved registers at 0x10..0x38, the resume address at 0x40, the
// control words at 0x0 and 0x4 (written by make_fcontext, not read here).
#if defined(__x86_64__) && defined(__ELF__)
asm(R"(
    .text
    .globl weft_detail_jump_fcontext
    .type weft_detail_jump_fcontext, @function
    .p2align 4
weft_detail_jump_fcontext:
    leaq -0x40(%rsp), %rsp
    movq %r12, 0x10(%rsp)
    movq %r13, 0x18(%rsp)
    movq %r14, 0x20(%rsp)
    movq %r15, 0x28(%rsp)
    movq %rbx, 0x30(%rsp)
    movq %rbp, 0x38(%rsp)
    movq %rsp, %rax
    movq %rdi, %rsp
    movq 0x40(%rsp), %r8
    movq 0x10(%rsp), %r12
    movq 0x18(%rsp), %r13
    movq 0x20(%rsp), %r14
    movq 0x28(%rsp), %r15
    movq 0x30(%rsp), %rbx
    movq 0x38(%rsp), %rbp
    leaq 0x48(%rsp), %rsp
    movq %rsi, %rdx
    movq %rax, %rdi
    pushq %r8
    ret
    .size weft_detail_jump_fcontext, .-weft_detail_jump_fcontext
)");
#else
extern "C" ctx::transfer_t weft_detail_jump_fcontext(void* to, void* data) noexcept {
  return ctx::jump_fcontext(to, data);
}
#endif

namespace weft::detail {
namespace ctx = boost::context::detail;

namespace {

// The Itanium C++ ABI's per-thread exception state (__cxa_eh_globals): the
// stack of caught exceptions and the uncaught count. A fiber that suspends
// inside a catch handler must find its own exception there on whatever
// thread it resumes, and must not leave it behind on this one.
struct eh_globals {
  void* caught;
  unsigned int uncaught;
};

// Per-thread state, one thread_local so that a resume reads TLS once. Written
// only on the driver side, around the switch (so always by the thread it
// belongs to); `running` is read by weft::await through current_fiber() and
// by the SIGSEGV handler.
struct thread_state {
  fiber_core* running = nullptr;  // the fiber running on this thread
  eh_globals* eh = nullptr;       // this thread's __cxa_eh_globals; null until prepared
};
thread_local thread_state tls;

// Stack colouring: each fiber's frames start at a different offset within a
// page. Stacks are page aligned, so without it the hot top frames of every
// fiber fall into the same few cache sets, and a thousand fibers taking turns
// evict each other. At most 4 KiB, and at most 1/16 of the stack.
std::size_t colour_of(const fiber_stack& s) noexcept {
  std::size_t slots = std::min<std::size_t>(64, s.usable / 1024);
  std::uintptr_t page = reinterpret_cast<std::uintptr_t>(s.base) >> 12;
  return std::size_t((page * 0x9E3779B1u) >> 11) % slots * 64;
}

}  // namespace

// The one place where weft switches stacks. Every transfer between a fiber
// and its driver, both ways, passes here (the fiber's very first instant
// finishes its half in fiber_entry through landed()), so this is where
// ThreadSanitizer and AddressSanitizer are told about it. Inlined into its
// three callers: each call level between a switch and the code it returns to
// costs a mispredicted return (the switch leaves the return-stack predictor
// describing the other stack), so the fewer the better.
[[gnu::always_inline]] inline void fiber_core::transfer(hop h) noexcept {
  const bool enter = h == hop::enter;
#if defined(__SANITIZE_THREAD__)
  // Synchronising switch: everything the switching side did happens before
  // what the other side does next, even when the fiber moved to another
  // worker in between (the runtime's own hand-off orders the threads).
  if (enter) tsan_caller_ = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(enter ? tsan_fiber_ : tsan_caller_, 0);
#endif
#if defined(__SANITIZE_ADDRESS__)
  if (enter)
    __sanitizer_start_switch_fiber(&asan_fake_caller_, stack_.bottom(), stack_.usable);
  else  // a finishing fiber passes null: its fake stack may be freed
    __sanitizer_start_switch_fiber(h == hop::finish ? nullptr : &asan_fake_fiber_,
                                   caller_stack_bottom_, caller_stack_size_);
#endif
  ctx::transfer_t t = weft_detail_jump_fcontext(enter ? fiber_ctx_ : caller_ctx_, this);
  landed(h, t.fctx);
}

[[gnu::always_inline]] inline void fiber_core::landed(hop h, void* from) noexcept {
  if (h == hop::enter) {
    // Back on the driver side: the fiber left (or finished) and `from` is
    // where it would continue.
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_finish_switch_fiber(asan_fake_caller_, nullptr, nullptr);
#endif
    fiber_ctx_ = from;
    return;
  }
  // On the fiber, possibly on another thread than before: `from` is the
  // driver side that resumed us, and its stack is the one to return to.
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_finish_switch_fiber(h == hop::start ? nullptr : asan_fake_fiber_,
                                  &caller_stack_bottom_, &caller_stack_size_);
#endif
  caller_ctx_ = from;
}

// The first instant of a fiber, on its fresh stack.
struct fiber_entry {
  static void run(ctx::transfer_t t) noexcept {
    auto* f = static_cast<fiber_core*>(t.data);
    f->landed(fiber_core::hop::start, t.fctx);
    f->run_(f->body_);
    f->done_ = true;
    f->transfer(fiber_core::hop::finish);
    std::abort();  // unreachable: a finished fiber is never resumed
  }
};

fiber_core::fiber_core(std::size_t stack_size, body_fn run, void* body, const char* name)
    : run_(run), body_(body) {
  stack_ = acquire_fiber_stack(
      round_fiber_stack_size(stack_size ? stack_size : default_stack_bytes));
  const std::size_t colour = colour_of(stack_);
  fiber_ctx_ = ctx::make_fcontext(stack_.top() - colour, stack_.usable - colour, &fiber_entry::run);
#if defined(__SANITIZE_THREAD__)
  tsan_fiber_ = __tsan_create_fiber(0);
  if (name) __tsan_set_fiber_name(tsan_fiber_, name);
#else
  (void)name;
#endif
}

[[gnu::always_inline]] inline bool fiber_core::resume() {
  thread_state& ts = tls;  // same thread all through: the fiber comes back here
  if (!ts.eh) [[unlikely]] {
    ts.eh = reinterpret_cast<eh_globals*>(abi::__cxa_get_globals());
    prepare_thread_for_fibers();
  }
  started_ = true;
  fiber_core* outer_fiber = std::exchange(ts.running, this);  // a fiber may unwind another
  eh_globals* eh = ts.eh;
  const eh_globals outer_eh = *eh;
  *eh = eh_globals{eh_caught_, eh_uncaught_};
  transfer(hop::enter);
  // Same thread as before the switch: the fiber always comes back here.
  eh_caught_ = eh->caught;
  eh_uncaught_ = eh->uncaught;
  *eh = outer_eh;
  ts.running = outer_fiber;
  if (!done_) return true;
  finished();
  return false;
}

fiber_core::~fiber_core() {
  if (started_ && !done_) {
    // Suspended in weft::await: make that await throw fiber_unwind, and run
    // the fiber until the exception has unwound it and it has finished.
    // While unwinding_ is set, weft::await throws before it registers or
    // switches anything, so the fiber can only come back here finished.
    unwinding_ = true;
    resume();
  }
  if (!done_) finished();  // never started
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
const bool fiber_switch_annotated = true;
#else
const bool fiber_switch_annotated = false;
#endif

void fiber_core::suspend_annotated() noexcept { transfer(hop::leave); }

void fiber_core::throw_unwind() { throw fiber_unwind{}; }

namespace {

// Learns the driver's own handle, without suspending.
struct capture_handle {
  explicit capture_handle(fiber_core* core) noexcept : f(core) {}
  fiber_core* f;
  bool await_ready() const noexcept { return false; }
  bool await_suspend(fiber_driver_handle h) const noexcept {
    f->set_driver(h);
    return false;
  }
  void await_resume() const noexcept {}
};

// The fiber suspended in weft::await, having registered the driver with the
// awaitable: suspend the driver there, and run whatever the awaiter's
// await_suspend returned (a task awaited inline) on this stack.
struct leave_for {
  explicit leave_for(std::coroutine_handle<> n) noexcept : next(n) {}
  std::coroutine_handle<> next;
  bool await_ready() const noexcept { return false; }
  std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept {
    return next ? next : std::noop_coroutine();
  }
  void await_resume() const noexcept {}
};

}  // namespace

// Next to resume(), which is inlined into it (see transfer).
task<void> run_fiber(fiber_core& f) {
  co_await capture_handle(&f);
  while (f.resume()) co_await leave_for(f.take_next());
}

void fiber_core::finished() noexcept {
  done_ = true;
#if defined(__SANITIZE_THREAD__)
  __tsan_destroy_fiber(tsan_fiber_);
  tsan_fiber_ = nullptr;
#endif
  release_fiber_stack(std::exchange(stack_, fiber_stack{}));
}

fiber_core* current_fiber() noexcept { return tls.running; }

const fiber_stack* running_fiber_stack() noexcept {
  fiber_core* f = tls.running;
  return f ? &f->stack() : nullptr;
}

void throw_await_outside_fiber() {
  throw runtime_misuse(
      "weft::await called outside a fiber (in a coroutine task, use co_await; "
      "to block a plain thread, use runtime::block_on)");
}

}  // namespace weft::detail
