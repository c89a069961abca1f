#include "tool_runner.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace trace_test {

bool run_result::sanitizer_report() const {
  return err.find("ERROR: AddressSanitizer") != std::string::npos ||
         err.find("runtime error:") != std::string::npos ||
         err.find("ERROR: LeakSanitizer") != std::string::npos ||
         err.find("ThreadSanitizer") != std::string::npos;
}

namespace {

std::string tool_path() {
  const char* p = std::getenv("WEFT_TRACE_TOOL");
  if (!p || !*p) throw std::runtime_error("WEFT_TRACE_TOOL is not set (run through meson test)");
  return p;
}

std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  std::string asan = "ASAN_OPTIONS=exitcode=86", ubsan = "UBSAN_OPTIONS=halt_on_error=1:exitcode=87:print_stacktrace=1";
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("ASAN_OPTIONS=", 0) == 0)
      asan = kv + ":exitcode=86";
    else if (kv.rfind("UBSAN_OPTIONS=", 0) == 0)
      ubsan = kv + ":halt_on_error=1:exitcode=87";
    else
      env.push_back(kv);
  }
  env.push_back(asan);
  env.push_back(ubsan);
  return env;
}

}  // namespace

run_result run_tool(const std::vector<std::string>& args, int timeout_seconds) {
  static int counter = 0;
  std::string base = std::filesystem::temp_directory_path() /
                     ("weft-trace-run-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::string out_path = base + ".out", err_path = base + ".err";

  std::vector<std::string> argv_s{tool_path()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = child_environment();
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error(std::string("cannot start weft-trace: ") + std::strerror(rc));

  run_result r;
  // The watchdog: a tool that hangs is killed at the deadline, and the run
  // is reported as timed out.
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock lock(m);
    if (!cv.wait_for(lock, std::chrono::seconds(timeout_seconds), [&] { return done; })) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
    }
  });
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard lock(m);
    done = true;
  }
  cv.notify_one();
  watchdog.join();
  if (!r.timed_out) {
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  }
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  std::filesystem::remove(out_path);
  std::filesystem::remove(err_path);
  return r;
}

temp_dir::temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "weft-trace-test.XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string write_bytes(const temp_dir& dir, const std::string& name, const std::string& bytes) {
  std::string path = dir.file(name);
  if (!trace_gen::write_file(path, bytes)) throw std::runtime_error("cannot write " + path);
  return path;
}

std::string write_scenario(const temp_dir& dir, const std::string& name, const trace_gen::scenario& s) {
  return write_bytes(dir, name, s.file.bytes());
}

}  // namespace trace_test
