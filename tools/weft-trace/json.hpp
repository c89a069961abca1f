// Just enough JSON writing for the Chrome export and the HTML report's data:
// strings escaped (and made valid UTF-8: trace strings are raw bytes), and a
// writer that places the commas.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace weft_trace {

// Length of the valid UTF-8 sequence at s[i], or 0 if there is none.
std::size_t utf8_length(std::string_view s, std::size_t i);

// Appends `s` as a JSON string literal (with quotes). Invalid UTF-8 becomes
// U+FFFD. With `for_html`, '<', '>' and '&' are escaped too, so the JSON can sit
// inside a <script> element ("</script>" cannot end it early).
void append_json_string(std::string& out, std::string_view s, bool for_html = false);

// A task id as a JSON value: a number while JavaScript can hold it exactly,
// else a string.
void append_json_id(std::string& out, std::uint64_t id);

class json_writer {
 public:
  explicit json_writer(std::string& out, bool for_html = false) : out_(out), html_(for_html) {}

  json_writer& begin_object();
  json_writer& end_object();
  json_writer& begin_array();
  json_writer& end_array();
  json_writer& key(std::string_view k);
  json_writer& value(std::string_view s);
  json_writer& value(const char* s) { return value(std::string_view(s)); }
  json_writer& value(const std::string& s) { return value(std::string_view(s)); }
  json_writer& value(std::uint64_t v);
  json_writer& value(std::int64_t v);
  json_writer& value(std::uint32_t v) { return value(std::uint64_t(v)); }
  json_writer& value(int v) { return value(std::int64_t(v)); }
  json_writer& value(double v);
  json_writer& value(bool v);
  json_writer& id(std::uint64_t v);
  template <class T>
  json_writer& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }
  // Writes an already formatted JSON value.
  json_writer& raw(std::string_view json);

 private:
  void separate();

  std::string& out_;
  bool html_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace weft_trace
