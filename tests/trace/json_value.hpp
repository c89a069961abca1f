// A strict JSON reader for the tests (RFC 8259: no trailing commas, no
// leading zeros, no raw control characters in strings, valid escapes and
// UTF-8, nothing after the value), so "the output parses" means what a
// browser's JSON.parse or Python's json module would accept.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace json {

struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct value {
  enum kind_t { null, boolean, number, string, array, object };
  kind_t kind = null;
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<value> items;                             // array
  std::vector<std::pair<std::string, value>> members;  // object, in order

  const value* find(std::string_view key) const;
  const value& operator[](std::string_view key) const;  // throws if missing
  const value& operator[](std::size_t i) const;         // throws if out of range
  std::size_t size() const { return kind == array ? items.size() : members.size(); }
  bool is_string() const { return kind == string; }
  bool is_number() const { return kind == number; }
  double num() const;
  std::uint64_t u64() const;  // throws unless a non-negative integer
  const std::string& str() const;
};

value parse(std::string_view text);

}  // namespace json
