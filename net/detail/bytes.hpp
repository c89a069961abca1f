// What a write sends when it is given a character array.
//
// A string literal converts to std::span<const char> with its terminating
// NUL inside, so `s.write_all("PING\r\n")` would send seven bytes. The write
// functions therefore also take character arrays: a const array (a literal,
// or a constant table) is text and goes without a trailing NUL; a non-const
// array is a buffer and goes whole, whatever its last byte.
#pragma once

#include <cstddef>
#include <span>

namespace weft::net::detail {

template <std::size_t N>
constexpr std::span<const char> text_bytes(const char (&text)[N]) noexcept {
  return {text, N > 0 && text[N - 1] == '\0' ? N - 1 : N};
}

template <std::size_t N>
constexpr std::span<const char> buffer_bytes(char (&buffer)[N]) noexcept {
  return {buffer, N};
}

}  // namespace weft::net::detail
