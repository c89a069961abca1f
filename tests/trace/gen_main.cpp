// weft-trace-gen: writes one of the synthetic traces of scenarios.hpp, for
// the shell-driven tests (browser_test.sh) and for looking at by hand.
//
//   weft-trace-gen basic|damaged|flight|big[=POLLS]|empty|bad-magic OUT.wtrace
#include <cstdio>
#include <cstdlib>
#include <string>

#include "scenarios.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: weft-trace-gen basic|damaged|flight|big[=POLLS]|empty|bad-magic OUT.wtrace\n");
    return 2;
  }
  std::string which = argv[1];
  std::string bytes;
  if (which == "basic")
    bytes = trace_gen::basic_scenario().file.bytes();
  else if (which == "damaged")
    bytes = trace_gen::damaged_scenario().file.bytes();
  else if (which == "flight")
    bytes = trace_gen::flight_scenario().file.bytes();
  else if (which.rfind("big", 0) == 0)
    bytes = trace_gen::big_scenario(which.size() > 4 ? std::strtoull(which.c_str() + 4, nullptr, 10) : 100000)
                .file.bytes();
  else if (which == "empty") {  // a header and nothing else: 2 workers that recorded nothing
    trace_gen::trace_file f;
    f.workers = 2;
    bytes = f.bytes();
  } else if (which == "bad-magic")
    bytes = "NOTATRACE, just some bytes\n";
  else {
    std::fprintf(stderr, "weft-trace-gen: unknown scenario %s\n", argv[1]);
    return 2;
  }
  if (!trace_gen::write_file(argv[2], bytes)) {
    std::fprintf(stderr, "weft-trace-gen: cannot write %s\n", argv[2]);
    return 1;
  }
  return 0;
}
