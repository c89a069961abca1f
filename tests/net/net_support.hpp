// Helpers for the net tests: descriptor counts, external commands, polling
// for a condition with a deadline.
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include <net/udp.hpp>
#include <runtime/runtime.hpp>

namespace weft_net_test {

// Open descriptors of this process.
inline int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    --n;  // the directory stream's own descriptor
  }
  return n;
}

// Makes a socket on every worker's reactor (sockets are homed round robin),
// so the descriptors an io_context creates lazily at its first socket
// (epoll, eventfd, timerfd) exist before a test counts descriptors.
inline void warm_reactors(std::size_t workers) {
  for (std::size_t i = 0; i < 2 * workers; ++i) weft::net::udp_socket::bind({"127.0.0.1", 0});
}

// True if `prog` is on PATH.
inline bool have_program(const std::string& prog) {
  std::string cmd = "command -v " + prog + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

struct command_result {
  int status = -1;  // exit code, or -1 if it did not exit normally
  std::string output;
};

// Runs `cmd` through sh (with coreutils' timeout as a bound), capturing its
// standard output. Blocking: call it through weft::spawn_blocking.
inline command_result run_command(const std::string& cmd, int timeout_seconds = 20) {
  command_result r;
  std::string full = "timeout " + std::to_string(timeout_seconds) + " " + cmd;
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.output.append(buf.data(), n);
  int st = ::pclose(p);
  if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
  return r;
}

// Polls `cond` every millisecond until it holds or `limit` passes.
template <class F>
weft::task<bool> eventually(F cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > until) co_return false;
    co_await weft::sleep_for(std::chrono::milliseconds(1));
  }
  co_return true;
}

// A temporary directory, removed with its contents at the end.
class temp_dir {
 public:
  temp_dir() {
    char tmpl[] = "/tmp/weft-net-test-XXXXXX";
    if (char* p = ::mkdtemp(tmpl)) path_ = p;
  }
  ~temp_dir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace weft_net_test
