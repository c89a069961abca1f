// Runs a piece of a test in a forked child, for outcomes that end the
// process (an abort with a message) or need process-wide limits
// (setrlimit). The child's stderr is captured; its stdout goes to /dev/null
// (doctest's crash report is for the parent's failures).
//
// Fork from a single-threaded process only (no watchdog thread running):
// ThreadSanitizer refuses threads after a multi-threaded fork. The parent's
// wait has its own deadline instead.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

namespace weft_test {

struct child_result {
  bool finished = false;  // false: killed at the deadline
  int status = 0;         // as from waitpid
  std::string err;        // what it wrote to stderr

  bool exited(int code) const { return finished && WIFEXITED(status) && WEXITSTATUS(status) == code; }
  bool killed_by(int sig) const { return finished && WIFSIGNALED(status) && WTERMSIG(status) == sig; }
};

// `body` runs in the child, which then exits with body's return value.
template <class F>
child_result run_in_child(F body, std::chrono::milliseconds deadline_after) {
  child_result res;
  int out[2];
  if (::pipe(out) != 0) return res;
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return res;
  if (pid == 0) {
    ::dup2(out[1], STDERR_FILENO);
    ::close(out[0]);
    if (int null = ::open("/dev/null", O_WRONLY); null >= 0) ::dup2(null, STDOUT_FILENO);
    ::signal(SIGABRT, SIG_DFL);
    int code = body();
    std::fflush(nullptr);
    ::_exit(code);
  }
  ::close(out[1]);
  auto deadline = std::chrono::steady_clock::now() + deadline_after;
  for (;;) {
    pollfd p{out[0], POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (::poll(&p, 1, int(left.count())) <= 0) break;
    char buf[4096];
    ssize_t r = ::read(out[0], buf, sizeof buf);
    if (r <= 0) break;  // EOF: the child is gone
    res.err.append(buf, std::size_t(r));
  }
  ::close(out[0]);
  pid_t w = 0;
  while ((w = ::waitpid(pid, &res.status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (w == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &res.status, 0);
    return res;
  }
  res.finished = w == pid;
  return res;
}

}  // namespace weft_test
