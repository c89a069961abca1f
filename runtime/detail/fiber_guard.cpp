#include <runtime/detail/fiber_guard.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <runtime/detail/fiber_stack.hpp>

namespace weft::detail {
namespace {

struct sigaction previous_segv;  // written once before the handler is live

// Only async-signal-safe calls from here on: write(2) and abort().
void write_all(const char* s, std::size_t n) noexcept {
  while (n > 0) {
    ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= std::size_t(w);
  }
}

void report_overflow(std::size_t usable) noexcept {
  char digits[24];
  std::size_t len = 0;
  do {
    digits[len++] = char('0' + usable % 10);
    usable /= 10;
  } while (usable && len < sizeof digits);
  char msg[96];
  std::size_t n = 0;
  auto put = [&](const char* s) {
    while (*s && n < sizeof msg) msg[n++] = *s++;
  };
  put("weft: fiber stack overflow (stack size ");
  while (len && n < sizeof msg) msg[n++] = digits[--len];
  put(" bytes)\n");
  write_all(msg, n);
}

void on_segv(int sig, siginfo_t* info, void* uctx) {
  const fiber_stack* s = running_fiber_stack();
  if (s && info && s->guard_contains(info->si_addr)) {
    report_overflow(s->usable);
    std::abort();
  }
  // Not a fiber overflow: behave as if weft had never installed a handler.
  // A handler that chains back to us (we may have re-installed on top of it)
  // must not loop: the second time round, take the default action.
  thread_local bool passing_on = false;
  if (!passing_on) {
    passing_on = true;
    if (previous_segv.sa_flags & SA_SIGINFO) {
      if (previous_segv.sa_sigaction) {
        previous_segv.sa_sigaction(sig, info, uctx);
        passing_on = false;
        return;
      }
    } else if (previous_segv.sa_handler != SIG_DFL && previous_segv.sa_handler != SIG_IGN) {
      previous_segv.sa_handler(sig);
      passing_on = false;
      return;
    }
    passing_on = false;
  }
  // Default action: restore it. Returning re-executes a faulting instruction,
  // which now kills the process; a SIGSEGV sent with kill() is raised again
  // (it stays pending until this handler returns).
  ::signal(sig, SIG_DFL);
  if (!info || info->si_code <= 0) ::raise(sig);
}

// The alternate signal stack this thread installed, unmapped at thread exit.
struct signal_stack {
  void* mem = nullptr;
  std::size_t size = 0;
  ~signal_stack() {
    if (!mem) return;
    stack_t cur{};
    if (::sigaltstack(nullptr, &cur) == 0 && cur.ss_sp == mem) {
      stack_t off{};
      off.ss_flags = SS_DISABLE;
      ::sigaltstack(&off, nullptr);
    }
    ::munmap(mem, size);
  }
};

}  // namespace

void install_overflow_handler() {
  // Checked once per thread that runs fibers, not once per process: a library
  // (a crash reporter, a test framework) may have put its own handler in
  // place since. Ours goes on top and passes other faults on to it.
  static std::mutex m;
  std::lock_guard lock(m);
  struct sigaction cur {};
  if (::sigaction(SIGSEGV, nullptr, &cur) != 0) return;
  if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == &on_segv) return;
  previous_segv = cur;  // before ours is live, so the handler reads it complete
  struct sigaction sa {};
  sa.sa_sigaction = &on_segv;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  ::sigaction(SIGSEGV, &sa, nullptr);
}

void prepare_thread_for_fibers() noexcept {
  install_overflow_handler();
  stack_t cur{};
  if (::sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;  // keep theirs
  thread_local signal_stack mine;
  std::size_t size = std::max<std::size_t>(64 * 1024, std::size_t(SIGSTKSZ));
  void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;  // no overflow message on this thread; nothing else breaks
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = size;
  if (::sigaltstack(&ss, nullptr) != 0) {
    ::munmap(mem, size);
    return;
  }
  mine.mem = mem;
  mine.size = size;
}

}  // namespace weft::detail
