#include "json.hpp"

#include <cmath>

#include <fmt/format.h>

namespace weft_trace {
std::size_t utf8_length(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](std::size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  unsigned char c = b(i);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;  // beyond U+10FFFF
    return 4;
  }
  return 0;
}

void append_json_string(std::string& out, std::string_view s, bool for_html) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (n > 1) {
      // U+2028/2029 end lines in older JavaScript parsers.
      std::string_view seq = s.substr(i, n);
      if (seq == "\xE2\x80\xA8" || seq == "\xE2\x80\xA9")
        out += seq[2] == '\xA8' ? "\\u2028" : "\\u2029";
      else
        out += seq;
      i += n;
      continue;
    }
    char c = s[i++];
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || (for_html && (c == '<' || c == '>' || c == '&')))
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned char>(c));
        else
          out += c;
    }
  }
  out += '"';
}

void append_json_id(std::string& out, std::uint64_t id) {
  if (id <= (std::uint64_t(1) << 53))
    fmt::format_to(std::back_inserter(out), "{}", id);
  else
    fmt::format_to(std::back_inserter(out), "\"{}\"", id);
}

void json_writer::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (first_.empty()) return;
  if (!first_.back()) out_ += ',';
  first_.back() = false;
}

json_writer& json_writer::begin_object() {
  separate();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
json_writer& json_writer::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}
json_writer& json_writer::begin_array() {
  separate();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
json_writer& json_writer::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}
json_writer& json_writer::key(std::string_view k) {
  separate();
  append_json_string(out_, k, html_);
  out_ += ':';
  after_key_ = true;
  return *this;
}
json_writer& json_writer::value(std::string_view s) {
  separate();
  append_json_string(out_, s, html_);
  return *this;
}
json_writer& json_writer::value(std::uint64_t v) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", v);
  return *this;
}
json_writer& json_writer::value(std::int64_t v) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", v);
  return *this;
}
json_writer& json_writer::value(double v) {
  separate();
  if (std::isfinite(v))
    fmt::format_to(std::back_inserter(out_), "{}", v);
  else
    out_ += "null";
  return *this;
}
json_writer& json_writer::value(bool v) {
  separate();
  out_ += v ? "true" : "false";
  return *this;
}
json_writer& json_writer::id(std::uint64_t v) {
  separate();
  append_json_id(out_, v);
  return *this;
}
json_writer& json_writer::raw(std::string_view json) {
  separate();
  out_ += json;
  return *this;
}

}  // namespace weft_trace
