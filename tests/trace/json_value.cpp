#include "json_value.hpp"

#include <charconv>
#include <cmath>
#include <string>

namespace json {

const value* value::find(std::string_view key) const {
  if (kind != object) return nullptr;
  for (const auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

const value& value::operator[](std::string_view key) const {
  if (const value* v = find(key)) return *v;
  throw error("no member \"" + std::string(key) + "\"");
}

const value& value::operator[](std::size_t i) const {
  if (kind != array || i >= items.size()) throw error("no item " + std::to_string(i));
  return items[i];
}

double value::num() const {
  if (kind != number) throw error("not a number");
  return n;
}

std::uint64_t value::u64() const {
  if (kind != number || n < 0 || n != std::floor(n) || n > 9007199254740992.0) throw error("not a small integer");
  return std::uint64_t(n);
}

const std::string& value::str() const {
  if (kind != string) throw error("not a string");
  return s;
}

namespace {

class parser {
 public:
  explicit parser(std::string_view t) : t_(t) {}

  value document() {
    value v = parse_value(0);
    space();
    if (i_ != t_.size()) fail("text after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) { throw error("JSON: " + why + " at byte " + std::to_string(i_)); }
  void space() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    space();
    if (i_ < t_.size() && t_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  void literal(std::string_view word) {
    if (t_.substr(i_, word.size()) != word) fail("bad literal");
    i_ += word.size();
  }

  value parse_value(int depth) {
    if (depth > 200) fail("nested too deeply");
    space();
    if (i_ >= t_.size()) fail("unexpected end");
    value v;
    char c = t_[i_];
    if (c == '{') {
      ++i_;
      v.kind = value::object;
      if (eat('}')) return v;
      do {
        space();
        if (i_ >= t_.size() || t_[i_] != '"') fail("expected a member name");
        std::string k = parse_string();
        expect(':');
        v.members.emplace_back(std::move(k), parse_value(depth + 1));
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      ++i_;
      v.kind = value::array;
      if (eat(']')) return v;
      do v.items.push_back(parse_value(depth + 1));
      while (eat(','));
      expect(']');
    } else if (c == '"') {
      v.kind = value::string;
      v.s = parse_string();
    } else if (c == 't') {
      literal("true");
      v.kind = value::boolean;
      v.b = true;
    } else if (c == 'f') {
      literal("false");
      v.kind = value::boolean;
    } else if (c == 'n') {
      literal("null");
    } else {
      v.kind = value::number;
      v.n = parse_number();
    }
    return v;
  }

  double parse_number() {
    std::size_t start = i_;
    auto digit = [&] { return i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9'; };
    if (i_ < t_.size() && t_[i_] == '-') ++i_;
    if (!digit()) fail("bad number");
    if (t_[i_] == '0') {
      ++i_;
      if (digit()) fail("leading zero");
    } else {
      while (digit()) ++i_;
    }
    if (i_ < t_.size() && t_[i_] == '.') {
      ++i_;
      if (!digit()) fail("bad fraction");
      while (digit()) ++i_;
    }
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      ++i_;
      if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-')) ++i_;
      if (!digit()) fail("bad exponent");
      while (digit()) ++i_;
    }
    double d = 0;
    auto [p, ec] = std::from_chars(t_.data() + start, t_.data() + i_, d);
    if (ec != std::errc() && ec != std::errc::result_out_of_range) fail("bad number");
    (void)p;
    return d;
  }

  unsigned hex4() {
    if (i_ + 4 > t_.size()) fail("short \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = t_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else fail("bad \\u escape");
    }
    return v;
  }

  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  // Checks one raw UTF-8 sequence starting at i_ and copies it.
  void raw_utf8(std::string& out) {
    auto b = [&](std::size_t k) { return k < t_.size() ? static_cast<unsigned char>(t_[k]) : 0u; };
    unsigned char c = static_cast<unsigned char>(t_[i_]);
    std::size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (n == 0) fail("invalid UTF-8");
    for (std::size_t k = 1; k < n; ++k)
      if ((b(i_ + k) & 0xC0) != 0x80) fail("invalid UTF-8");
    if ((c == 0xE0 && b(i_ + 1) < 0xA0) || (c == 0xED && b(i_ + 1) >= 0xA0) || (c == 0xF0 && b(i_ + 1) < 0x90) ||
        (c == 0xF4 && b(i_ + 1) >= 0x90))
      fail("invalid UTF-8");
    out.append(t_.substr(i_, n));
    i_ += n;
  }

  std::string parse_string() {
    ++i_;  // the opening quote
    std::string out;
    for (;;) {
      if (i_ >= t_.size()) fail("unterminated string");
      char c = t_[i_];
      if (c == '"') {
        ++i_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("raw control character in a string");
      if (c != '\\') {
        raw_utf8(out);
        continue;
      }
      ++i_;
      if (i_ >= t_.size()) fail("unterminated escape");
      char e = t_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (t_.substr(i_, 2) != "\\u") fail("lone surrogate");
            i_ += 2;
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("lone surrogate");
          }
          utf8(out, cp);
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  std::string_view t_;
  std::size_t i_ = 0;
};

}  // namespace

value parse(std::string_view text) { return parser(text).document(); }

}  // namespace json
