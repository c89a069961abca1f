#include "units.hpp"

#include <iterator>

#include <fmt/format.h>

#include "json.hpp"

namespace weft_trace {

std::string format_duration(std::uint64_t ns) {
  if (ns < 1000) return fmt::format("{}ns", ns);
  if (ns < 1'000'000) {
    std::uint64_t t = (ns + 50) / 100;
    return fmt::format("{}.{}us", t / 10, t % 10);
  }
  if (ns < 1'000'000'000) {
    std::uint64_t t = (ns + 5'000) / 10'000;
    return fmt::format("{}.{:02}ms", t / 100, t % 100);
  }
  std::uint64_t t = (ns + 500'000) / 1'000'000;
  return fmt::format("{}.{:03}s", t / 1000, t % 1000);
}

std::string format_ms(std::uint64_t ns) {
  std::uint64_t t = (ns + 500) / 1000;
  return fmt::format("{}.{:03}ms", t / 1000, t % 1000);
}

std::string format_pct(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "0.0";
  // Tenths of a percent, rounded half up; in 128 bits so that long traces
  // cannot overflow.
  __extension__ using u128 = unsigned __int128;
  u128 scaled = u128(part) * 1000;
  auto tenths = std::uint64_t(scaled / whole + (scaled % whole * 2 >= whole ? 1 : 0));
  return fmt::format("{}.{}", tenths / 10, tenths % 10);
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = utf8_length(text, i);
    auto c = static_cast<unsigned char>(text[i]);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else if (n == 1 && (c < 0x20 || c == 0x7f) && c != '\n') {
      if (c == '\t')
        out += "\\t";
      else
        fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::uint64_t round_ns(double ns) {
  if (!(ns > 0)) return 0;
  if (ns >= 18446744073709549568.0) return ~std::uint64_t(0);  // the largest double below 2^64
  return std::uint64_t(ns + 0.5 < 18446744073709549568.0 ? ns + 0.5 : ns);
}

double pct(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * double(part) / double(whole);
}

}  // namespace weft_trace
