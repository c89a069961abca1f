#include <net/error.hpp>

#include <fmt/format.h>

namespace weft::net::detail {

namespace {
class stream_end_category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.net.stream"; }
  std::string message(int) const override { return "end of stream"; }
};
}  // namespace

const std::error_category& stream_end_category() noexcept {
  static const stream_end_category_impl category;
  return category;
}

void throw_net_error(std::error_code ec, const char* what) {
  // system_error's what() appends ": " and ec.message() itself.
  std::string msg = fmt::format("weft::net::{}", what);
  if (ec == std::errc::connection_reset || ec == std::errc::broken_pipe ||
      ec == std::errc::connection_aborted)
    throw connection_reset(ec, msg);
  throw net_error(ec, msg);
}

void throw_errno(int err, const char* what) {
  throw_net_error(std::error_code(err, std::system_category()), what);
}

}  // namespace weft::net::detail

namespace weft::net {

tls_error::tls_error(std::error_code ec, const std::string& what, const std::string& detail)
    : net_error(ec, what) {
  if (!detail.empty()) message_ = std::make_shared<const std::string>(net_error::what() + detail);
}

const char* tls_error::what() const noexcept { return message_ ? message_->c_str() : net_error::what(); }

}  // namespace weft::net
