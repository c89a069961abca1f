// How times and shares are written, in the text summary and (mirrored by
// report.js.inc) in the HTML report. Rounding is done on integers, half up, so
// both print the same digits.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace weft_trace {

// A duration with a unit that keeps 2-4 significant digits: 850ns, 12.3us, 4.56ms, 1.234s.
std::string format_duration(std::uint64_t ns);
// A time since the trace start, in milliseconds with microsecond digits: 12.345ms.
std::string format_ms(std::uint64_t ns);
// part / whole as a percentage with one decimal, without the sign: 45.2 (0.0 when whole is 0).
std::string format_pct(std::uint64_t part, std::uint64_t whole);
double pct(std::uint64_t part, std::uint64_t whole);
// Text for a terminal: trace strings are raw bytes, so control characters
// other than newlines are shown escaped (\t, \x1b) and bytes that are no
// UTF-8 as U+FFFD.
std::string printable(std::string_view text);

// A mean in ns, rounded and kept in range.
std::uint64_t round_ns(double ns);

}  // namespace weft_trace
