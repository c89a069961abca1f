// Stack overflow on a fiber: a clear death instead of silent corruption.
//
// A fiber that runs off its stack touches the guard band below it (see
// fiber_stack.hpp) and the kernel raises SIGSEGV. There is no room left on the
// fiber's stack to run a handler, so every thread that runs fibers gets an
// alternate signal stack (sigaltstack) the first time it resumes one, and a
// process-wide SIGSEGV handler (SA_ONSTACK) checks whether the faulting
// address lies in the guard band of the fiber running on that thread. If so it
// writes "weft: fiber stack overflow (stack size N bytes)" to stderr and
// aborts. Any other fault is passed on to the handler that was installed
// before weft's (or to the default action, which kills the process with
// SIGSEGV as usual), so sanitizers and crash reporters keep working.
//
// The handler is (re)installed the first time each thread resumes a fiber, on
// top of whatever handler a library installed meanwhile. A library that
// replaces it later, while fibers already run on that thread, turns overflows
// back into plain crashes (still on the guard page: memory stays intact).
// A thread that already has an alternate signal stack (the sanitizers install
// one) keeps it.
#pragma once

#include <cstddef>

namespace weft::detail {

struct fiber_stack;

// Makes sure weft's SIGSEGV handler is the one installed (re-installing it on
// top of one installed since, which then gets the faults that are not fiber
// overflows). Thread-safe.
void install_overflow_handler();
// Called by the driver the first time it resumes a fiber on a thread: gives
// the thread an alternate signal stack (unless it has one) and checks the
// handler. Once per thread (the caller keeps the flag).
void prepare_thread_for_fibers() noexcept;

// The stack of the fiber running on this thread, or null; implemented next to
// the thread-local it reads (fiber_core.cpp). Async-signal-safe.
const fiber_stack* running_fiber_stack() noexcept;

}  // namespace weft::detail
