// Errors of weft::net. Every failure of a socket operation is thrown as a
// weft::net::net_error (a std::system_error carrying the OS error code), or
// one of its refinements below, so a server can tell "this connection is
// gone" from "something is wrong with the program":
//
//   connection_reset   the peer reset the connection (ECONNRESET, EPIPE,
//                      ECONNABORTED): an ordinary event for one connection.
//   unexpected_eof     the peer closed before an operation that needs more
//                      bytes was satisfied (read_exact, a frame, a line).
//   frame_too_large    a framing helper met a frame or line longer than its
//                      limit (a peer must not make us buffer without bound).
//   tls_error          the TLS layer failed: a bad handshake (garbage, wrong
//                      protocol, certificate not trusted), a corrupt record.
//                      A refused certificate's message ends with OpenSSL's
//                      reason ("hostname mismatch", "certificate has
//                      expired"); one from a peer that sent no TLS, with
//                      "(the peer does not speak TLS?)".
//
// A clean end of stream is not an error: read_some returns 0.
// Cancellation and deadlines are reported as weft::cancelled and
// weft::timed_out (runtime/errors.hpp), never as a net_error.
#pragma once

#include <memory>
#include <string>
#include <system_error>

namespace weft::net {

class net_error : public std::system_error {
 public:
  net_error(std::error_code ec, const std::string& what) : std::system_error(ec, what) {}
};

class connection_reset : public net_error {
 public:
  using net_error::net_error;
};

namespace detail {
// The category of unexpected_eof's code: value 1, "end of stream". (No errno
// says it: ECONNABORTED, which this used, made what() end in "Software
// caused connection abort".)
const std::error_category& stream_end_category() noexcept;
}  // namespace detail

class unexpected_eof : public net_error {
 public:
  explicit unexpected_eof(const std::string& what) : net_error(std::error_code(1, detail::stream_end_category()), what) {}
};

class frame_too_large : public net_error {
 public:
  explicit frame_too_large(const std::string& what)
      : net_error(std::make_error_code(std::errc::message_size), what) {}
};

class tls_error : public net_error {
 public:
  using net_error::net_error;
  // `detail` follows the code's message, which system_error puts last: a
  // refused certificate reads "...: TLS: certificate verify failed (SSL
  // routines): certificate has expired".
  tls_error(std::error_code ec, const std::string& what, const std::string& detail);
  const char* what() const noexcept override;

 private:
  std::shared_ptr<const std::string> message_;  // shared: exceptions copy without throwing
};

namespace detail {
// Throws the net_error (or refinement) that fits `ec`; `what` names the
// operation ("tcp_stream::read_some").
[[noreturn]] void throw_net_error(std::error_code ec, const char* what);
// The same for an errno value.
[[noreturn]] void throw_errno(int err, const char* what);
}  // namespace detail

}  // namespace weft::net
