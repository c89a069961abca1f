// Runs weft-trace as a user would (a child process; its path comes from
// WEFT_TRACE_TOOL, set by tests/trace/meson.build) and collects its exit
// status and output. A run that does not end within its time limit is
// killed and reported as timed out, so a hang fails the test.
#pragma once

#include <string>
#include <vector>

#include "scenarios.hpp"

namespace trace_test {

struct run_result {
  int exit_code = -1;   // -1 when it did not exit normally
  int signal = 0;       // the signal that ended it, if any
  bool timed_out = false;
  std::string out, err;
  bool sanitizer_report() const;  // ASan/UBSan wrote a report to stderr
};

// Sanitizer reports get exit codes of their own (not 1, which the tool uses)
// and UBSan stops at the first one, so no report can hide behind an
// expected failure.
run_result run_tool(const std::vector<std::string>& args, int timeout_seconds = 120);

// A fresh directory, removed with its files at the end.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_file(const std::string& path);
// Writes a scenario's file into `dir` and returns its path.
std::string write_scenario(const temp_dir& dir, const std::string& name, const trace_gen::scenario& s);
std::string write_bytes(const temp_dir& dir, const std::string& name, const std::string& bytes);

}  // namespace trace_test
