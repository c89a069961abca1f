// Asio interop: run Asio-based code (Beast, ...) on weft's reactors.
//
//   weft::net::tcp_stream s = co_await listener.accept();
//   boost::asio::ip::tcp::socket sock = weft::net::into_asio(std::move(s));
//   boost::beast::http::request<boost::beast::http::string_body> req;
//   co_await boost::beast::http::async_read(sock, buffer, req, weft::use_task);
//
//   boost::asio::steady_timer t(weft::net::next_io_executor());
//
// into_asio hands a weft stream's descriptor to an Asio socket on the same
// worker's io_context (the stream is closed afterwards; no operation may be
// pending on it). from_asio does the reverse, homing the descriptor on the
// next worker. next_io_executor() is the executor of the next worker's
// io_context (round robin, as weft homes its own sockets); an Asio object
// created with it belongs to the runtime and must not outlive it.
// Call these from a task (they throw weft::runtime_misuse outside a runtime).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <net/tcp.hpp>
#include <net/unix.hpp>
#include <net/use_task.hpp>

namespace weft::net {

boost::asio::io_context::executor_type next_io_executor();

boost::asio::ip::tcp::socket into_asio(tcp_stream&& s);
boost::asio::local::stream_protocol::socket into_asio(unix_stream&& s);
tcp_stream from_asio(boost::asio::ip::tcp::socket&& s);

}  // namespace weft::net
