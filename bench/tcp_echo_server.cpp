// tcp_echo_server: accepts on 127.0.0.1:P; one task per connection reads up
// to 4 KiB and writes all of it back until the peer closes. Prints its line
// once listening, serves until SIGTERM or SIGINT.
#include <csignal>
#include <string>

#include <net/net.hpp>

#include "workload.hpp"

namespace weft::bench {
namespace {

task<void> echo_conn(net::tcp_stream s) {
  char buf[4096];
  try {
    while (std::size_t n = co_await s.read_some(buf)) co_await s.write_all(std::span<const char>(buf, n));
  } catch (const net::net_error&) {
    // a reset peer ends its own connection, nothing else
  }
}

task<void> accept_loop(net::tcp_listener* l) {
  for (;;) spawn(echo_conn(co_await l->accept()));
}

task<outcome> tcp_echo_server(options o) {
  net::signal_set signals{SIGINT, SIGTERM};  // before the line: a quick SIGTERM is not lost
  auto l = net::tcp_listener::bind({"127.0.0.1", o.port});
  auto acceptor = spawn(accept_loop(&l));
  outcome r;
  r.extra.emplace_back("port", std::to_string(l.local_endpoint().port()));
  print_line(o, r);
  co_await signals.wait();
  acceptor.abort();
  try {
    co_await acceptor;
  } catch (const cancelled&) {
  }
  co_return r;  // open connections are closed when the runtime goes
}

const registrar reg{"tcp_echo_server", &tcp_echo_server, kind::server};

}  // namespace
}  // namespace weft::bench
