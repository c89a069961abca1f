#include <net/detail/socket_core.hpp>

#include <netinet/in.h>
#include <signal.h>

#include <fmt/format.h>

#include <runtime/detail/scheduler.hpp>
#include <runtime/errors.hpp>

namespace weft::net::detail {

boost::asio::io_context& home_for_new_socket(const char* what) {
  weft::detail::scheduler* s = weft::detail::current_scheduler();
  if (!s) throw runtime_misuse(fmt::format("weft::net::{}: no weft runtime here (call it from a task)", what));
  ignore_sigpipe_once();
  return s->next_io();
}

void ignore_sigpipe_once() noexcept {
  // A static's initialisation runs once, and every later call only reads it.
  static const bool done = [] {
    struct sigaction sa {};
    // Leave a handler the program installed alone.
    if (sigaction(SIGPIPE, nullptr, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
        sa.sa_handler == SIG_DFL) {
      struct sigaction ign {};
      ign.sa_handler = SIG_IGN;
      sigemptyset(&ign.sa_mask);
      sigaction(SIGPIPE, &ign, nullptr);
    }
    return true;
  }();
  (void)done;
}

std::error_code to_std(const boost::system::error_code& ec) noexcept {
  // OS errors keep their plain std category, so callers compare them with
  // std::errc as usual; Asio's own (eof, ssl, ...) convert through Boost.
  if (ec.category() == boost::system::system_category())
    return std::error_code(ec.value(), std::system_category());
  if (ec.category() == boost::system::generic_category())
    return std::error_code(ec.value(), std::generic_category());
  return std::error_code(ec);
}

boost::asio::generic::stream_protocol::endpoint to_generic(const sockaddr* sa, socklen_t len) {
  return boost::asio::generic::stream_protocol::endpoint(sa, std::size_t(len),
                                                          sa->sa_family == AF_UNIX ? 0 : IPPROTO_TCP);
}

}  // namespace weft::net::detail
