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

#include "workload.hpp"

namespace weft::bench {
namespace {

constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
constexpr std::size_t batch = 16;

// `batch` copies of the response, so pipelined requests cost one write.
const std::string& responses() {
  static const std::string block = [] {
    std::string b;
    for (std::size_t i = 0; i < batch; ++i) b += response;
    return b;
  }();
  return block;
}

task<void> http_conn(net::tcp_stream s) {
  const std::string& block = responses();
  char buf[16 * 1024];
  std::size_t have = 0;  // bytes in buf
  std::size_t scan = 0;  // no head ends before this offset
  try {
    for (;;) {
      if (have == sizeof buf) co_return;  // a head too long for us
      std::size_t n = co_await s.read_some(std::span<char>(buf + have, sizeof buf - have));
      if (n == 0) co_return;
      have += n;
      std::string_view v(buf, have);
      std::size_t start = 0, count = 0;
      for (;;) {
        std::size_t end = v.find("\r\n\r\n", std::max(scan, start));
        if (end == std::string_view::npos) break;
        ++count;
        start = end + 4;
      }
      while (count > 0) {
        std::size_t k = std::min(count, batch);
        co_await s.write_all(std::span<const char>(block.data(), k * response.size()));
        count -= k;
      }
      if (start > 0) {
        std::memmove(buf, buf + start, have - start);
        have -= start;
      }
      scan = have >= 3 ? have - 3 : 0;
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
