// The protocol's HTTP server, shared by bench's http_server and tools/demo's
// http scene: its one response, and a connection's read buffer that counts
// complete request heads (up to "\r\n\r\n"; no bodies) as bytes arrive and
// drops them, keeping a partial head for the next read.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace weft::bench {

inline constexpr std::string_view http_response =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
// Responses written at once when requests arrive pipelined.
inline constexpr std::size_t http_response_batch = 16;

// http_response_batch copies of the response, so a batch costs one write.
inline const std::string& http_response_block() {
  static const std::string block = [] {
    std::string b;
    for (std::size_t i = 0; i < http_response_batch; ++i) b += http_response;
    return b;
  }();
  return block;
}

class http_heads {
 public:
  // Where the next read goes; empty when a head is too long for the buffer
  // (the caller then closes the connection).
  std::span<char> free_space() noexcept { return {buf_ + have_, sizeof buf_ - have_}; }

  // Takes `n` bytes just read into free_space(); returns how many heads they
  // completed.
  std::size_t add(std::size_t n) noexcept {
    have_ += n;
    std::string_view v(buf_, have_);
    std::size_t start = 0, count = 0;
    for (;;) {
      std::size_t end = v.find("\r\n\r\n", std::max(scan_, start));
      if (end == std::string_view::npos) break;
      ++count;
      start = end + 4;
    }
    if (start > 0) {
      std::memmove(buf_, buf_ + start, have_ - start);
      have_ -= start;
    }
    scan_ = have_ >= 3 ? have_ - 3 : 0;  // no head ends before this offset
    return count;
  }

 private:
  char buf_[16 * 1024];
  std::size_t have_ = 0;  // bytes in buf_
  std::size_t scan_ = 0;
};

}  // namespace weft::bench
