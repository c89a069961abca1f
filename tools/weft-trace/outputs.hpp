// The outputs of weft-trace, one file each: the text summary, its JSON form
// (also the data of the HTML report), the Chrome Trace Event export and the
// HTML report. Each appends to a string; main writes it out.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "json.hpp"
#include "summary.hpp"
#include "timeline.hpp"

namespace weft_trace {

void write_summary_text(std::string& out, const timeline& tl, const summary& s);
void write_summary_json(json_writer& w, const timeline& tl, const summary& s);

struct time_window {  // ns since the trace start (start_ns), both ends inclusive
  std::uint64_t from = 0;
  std::uint64_t to = std::numeric_limits<std::uint64_t>::max();
  bool contains(std::uint64_t t) const { return t >= from && t <= to; }
  bool overlaps(std::uint64_t b, std::uint64_t e) const { return e >= from && b <= to; }
};
void write_chrome_json(std::string& out, const timeline& tl, const summary& s, const time_window& window);

void write_html_report(std::string& out, const timeline& tl, const summary& s);

}  // namespace weft_trace
