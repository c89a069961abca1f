// http_server: accepts on 127.0.0.1:P; one task per connection reads request
// heads (up to "\r\n\r\n", no body) and answers each with the protocol's
// fixed 200 response, keeping the connection alive. All complete heads of
// one read are answered with one write. A head that does not fit the 16 KiB
// buffer closes the connection. Prints its line once listening, serves
// until SIGTERM or SIGINT.
#include <algorithm>
#include <csignal>
#include <cstring>
#include <string>
#include <string_view>

#include <net/net.hpp>

#include "http_heads.hpp"
#include "workload.hpp"

namespace weft::bench {
namespace {

task<void> http_conn(net::tcp_stream s) {
  const std::string& block = http_response_block();
  http_heads heads;
  try {
    for (;;) {
      std::span<char> room = heads.free_space();
      if (room.empty()) co_return;  // a head too long for us
      std::size_t n = co_await s.read_some(room);
      if (n == 0) co_return;
      for (std::size_t count = heads.add(n); count > 0;) {
        std::size_t k = std::min(count, http_response_batch);
        co_await s.write_all(std::span<const char>(block.data(), k * http_response.size()));
        count -= k;
      }
    }
  } catch (const net::net_error&) {
    // a reset peer ends its own connection, nothing else
  }
}

task<void> accept_loop(net::tcp_listener* l) {
  for (;;) spawn(http_conn(co_await l->accept()));
}

task<outcome> http_server(options o) {
  net::signal_set signals{SIGINT, SIGTERM};
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
  co_return r;
}

const registrar reg{"http_server", &http_server, kind::server};

}  // namespace
}  // namespace weft::bench
