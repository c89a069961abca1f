// Buffered reading and writing with framing: weft::net::buffered<Stream>.
//
//   weft::net::buffered<weft::net::tcp_stream> io(stream);   // refers to the stream
//   while (auto line = co_await io.read_line()) {            // nullopt: clean end
//     co_await io.write(*line);
//     co_await io.write("\n");                             // a literal goes without its NUL
//     co_await io.flush();
//   }
//   auto head = co_await io.read_until("\r\n\r\n");           // includes the delimiter
//   auto frame = co_await io.read_frame();                   // 4-byte big-endian length, then bytes
//   co_await io.write_frame(payload); co_await io.flush();
//
// Stream is any weft stream: tcp_stream, unix_stream, tls_stream (anything
// with read_some(span<char>) -> size_t and write_all(span<const char>)).
// Bounded: a line, a delimited head or a frame longer than the limits in
// buffered_options throws frame_too_large before more than that is
// buffered, so a peer cannot make the server buffer without bound. The
// end of the stream in the middle of a line or frame throws unexpected_eof;
// at a boundary read_line/read_until/read_frame return nullopt.
//
// Returned views point into the read buffer and stay valid until the next
// read call on this object. Writes collect in the write buffer and go out at
// flush(), or as soon as the buffer would exceed write_buffer bytes.
// Thread safety: one reading and one writing task at a time (if the stream
// allows that). Cancellation: as the stream's operations; after a cancelled
// read the buffered input is intact (what a cancelled read_exact of up to
// max_frame bytes had read stays buffered), after a cancelled write or flush it is
// unknown what was sent.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <net/detail/bytes.hpp>
#include <net/error.hpp>
#include <runtime/task.hpp>

namespace weft::net {

struct buffered_options {
  buffered_options() noexcept {}  // user-declared: see endpoint.hpp
  std::size_t read_chunk = 16 * 1024;    // bytes asked of each read_some
  // read_line / read_until, delimiter included. A longer line throws
  // frame_too_large, whose message gives its length if all of it came in
  // one read, else how many bytes came without a delimiter; the input
  // buffer never holds more than max_line + read_chunk bytes.
  std::size_t max_line = 64 * 1024;
  std::size_t max_frame = 1024 * 1024;   // read_frame payload
  std::size_t write_buffer = 16 * 1024;  // flush when more would be buffered
};

template <class Stream>
class buffered {
 public:
  explicit buffered(Stream& s, const buffered_options& opts = {}) : s_(&s), opts_(opts) {}

  Stream& next_layer() noexcept { return *s_; }
  // Bytes read from the stream and not yet handed out.
  std::span<const char> pending() const noexcept {
    return {in_.data() + begin_ + consume_, end_ - begin_ - consume_};
  }

  // What is buffered, or else one read_some of the stream.
  task<std::size_t> read_some(std::span<char> out) {
    release_view();
    if (begin_ == end_) {
      if (out.size() >= opts_.read_chunk) co_return co_await s_->read_some(out);
      if (co_await fill() == 0) co_return 0;
    }
    std::size_t n = std::min(out.size(), end_ - begin_);
    std::memcpy(out.data(), in_.data() + begin_, n);
    begin_ += n;
    co_return n;
  }

  // Exactly out.size() bytes. Up to max_frame of them gather in the read
  // buffer first and are copied out once all are there, so a read_exact
  // cancelled midway (a timeout) leaves what it read buffered for the next
  // read; a longer one reads into `out` directly, and after its cancellation
  // the amount read is unknown.
  task<void> read_exact(std::span<char> out) {
    if (out.size() <= opts_.max_frame) {
      release_view();
      while (end_ - begin_ < out.size()) {
        if (co_await fill(out.size()) == 0)
          throw unexpected_eof("weft::net::buffered::read_exact: the peer closed mid-read");
      }
      if (!out.empty()) std::memcpy(out.data(), in_.data() + begin_, out.size());
      begin_ += out.size();
      if (begin_ == end_) begin_ = end_ = 0;
      co_return;
    }
    std::size_t got = 0;
    while (got < out.size()) {
      std::size_t n = co_await read_some(out.subspan(got));
      if (n == 0) throw unexpected_eof("weft::net::buffered::read_exact: the peer closed mid-read");
      got += n;
    }
  }

  // Up to and including the first `delim`.
  task<std::optional<std::string_view>> read_until(std::string_view delim) {
    release_view();
    std::size_t scanned = begin_;  // no match starts before this
    for (;;) {
      std::string_view have(in_.data() + begin_, end_ - begin_);
      std::size_t from = scanned - begin_;
      std::size_t at = have.find(delim, from);
      if (at != std::string_view::npos) {
        std::size_t len = at + delim.size();
        if (len > opts_.max_line) throw_too_large("line", len, opts_.max_line);
        consume_ = len;
        co_return have.substr(0, len);
      }
      if (have.size() >= opts_.max_line)
        throw frame_too_large("weft::net::buffered: no delimiter in the first " + std::to_string(have.size()) +
                              " bytes of a line; the limit is " + std::to_string(opts_.max_line));
      scanned = end_ - std::min(end_ - begin_, delim.size() > 0 ? delim.size() - 1 : 0);
      std::size_t before = begin_;
      if (co_await fill(opts_.max_line) == 0) {
        if (begin_ == end_) co_return std::nullopt;
        throw unexpected_eof("weft::net::buffered::read_until: the peer closed mid-line");
      }
      scanned -= before - begin_;  // fill() may have moved the data to the front
    }
  }

  // A line without its "\n" or "\r\n".
  task<std::optional<std::string_view>> read_line() {
    auto line = co_await read_until("\n");
    if (!line) co_return std::nullopt;
    std::string_view l = line->substr(0, line->size() - 1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    co_return l;
  }

  // A frame: 4-byte big-endian payload length, then the payload.
  task<std::optional<std::span<const char>>> read_frame() {
    release_view();
    while (end_ - begin_ < 4) {
      if (co_await fill(4) == 0) {
        if (begin_ == end_) co_return std::nullopt;
        throw unexpected_eof("weft::net::buffered::read_frame: the peer closed mid-header");
      }
    }
    const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + begin_);
    std::uint32_t len = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) |
                        (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
    if (len > opts_.max_frame) throw_too_large("frame", len, opts_.max_frame);
    while (end_ - begin_ < 4 + std::size_t(len)) {
      if (co_await fill(4 + std::size_t(len)) == 0)
        throw unexpected_eof("weft::net::buffered::read_frame: the peer closed mid-frame");
    }
    consume_ = 4 + std::size_t(len);
    co_return std::span<const char>(in_.data() + begin_ + 4, len);
  }

  task<void> write(std::span<const char> data) {
    if (out_.size() + data.size() > opts_.write_buffer) {
      co_await flush();
      if (data.size() >= opts_.write_buffer) {
        co_await s_->write_all(data);
        co_return;
      }
    }
    out_.insert(out_.end(), data.begin(), data.end());
  }
  task<void> write(std::string_view text) { return write(std::span<const char>(text.data(), text.size())); }
  task<void> write(const std::string& text) { return write(std::span<const char>(text.data(), text.size())); }
  // A literal without its NUL, a char buffer whole (see detail/bytes.hpp).
  template <std::size_t N>
  task<void> write(const char (&text)[N]) {
    return write(detail::text_bytes(text));
  }
  template <std::size_t N>
  task<void> write(char (&buffer)[N]) {
    return write(detail::buffer_bytes(buffer));
  }

  task<void> write_frame(std::span<const char> payload) {
    if (payload.size() > 0xffffffffu) throw_too_large("frame", payload.size(), 0xffffffffu);
    auto n = std::uint32_t(payload.size());
    const char header[4] = {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
    co_await write(std::span<const char>(header, 4));
    co_await write(payload);
  }

  task<void> flush() {
    if (out_.empty()) co_return;
    co_await s_->write_all(std::span<const char>(out_.data(), out_.size()));
    out_.clear();
  }

 private:
  [[noreturn]] static void throw_too_large(const char* what, std::size_t len, std::size_t max) {
    throw frame_too_large("weft::net::buffered: " + std::string(what) + " of " + std::to_string(len) +
                          " bytes exceeds the limit of " + std::to_string(max));
  }

  // The view handed out last is consumed when the next read starts.
  void release_view() noexcept {
    begin_ += consume_;
    consume_ = 0;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Reads more into the buffer, making room for at least `want` buffered
  // bytes in all; returns what was read (0 at the end of the stream).
  task<std::size_t> fill(std::size_t want = 0) {
    std::size_t have = end_ - begin_;
    std::size_t need = std::max(have + opts_.read_chunk, want);
    if (in_.size() - begin_ < need) {
      if (begin_ > 0) {  // slide to the front first
        std::memmove(in_.data(), in_.data() + begin_, have);
        begin_ = 0;
        end_ = have;
      }
      if (in_.size() < need) in_.resize(std::max(need, std::min(in_.size() * 2, need + opts_.read_chunk)));
    }
    // Never read past what a limit allows: max(want, have + read_chunk)
    // bounds the buffer, however much room the vector has (it grows by
    // doubling, and a big frame may have grown it before).
    std::size_t n = co_await s_->read_some(std::span<char>(in_.data() + end_, need - have));
    end_ += n;
    co_return n;
  }

  Stream* s_;
  buffered_options opts_;
  std::vector<char> in_;
  std::size_t begin_ = 0, end_ = 0;
  std::size_t consume_ = 0;  // bytes of the last returned view
  std::vector<char> out_;
};

}  // namespace weft::net
