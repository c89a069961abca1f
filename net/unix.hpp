// Unix domain stream sockets: weft::net::unix_listener, weft::net::unix_stream.
//
//   auto l = weft::net::unix_listener::bind("/run/app.sock");
//   weft::net::unix_stream s = co_await l.accept();
//   auto c = co_await weft::net::unix_stream::connect("/run/app.sock");
//   auto [a, b] = weft::net::unix_stream::pair();      // socketpair(2)
//
// A path starting with '@' names a socket in the abstract namespace (Linux;
// the '@' becomes the leading NUL byte). Streams behave exactly like
// tcp_stream (same operations, homes, thread safety, completion and
// cancellation rules; see net/tcp.hpp), and so does accept(), including its
// back-off when descriptors run out. unix_listener::bind removes nothing: a
// stale socket file makes it throw net_error (address in use); the listener
// unlinks its path when closed or destroyed if `unlink_on_close` is set.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <net/detail/stream_base.hpp>
#include <net/tcp.hpp>
#include <runtime/task.hpp>

namespace weft::net {

class unix_stream : public detail::stream_base {
 public:
  unix_stream() noexcept = default;
  explicit unix_stream(detail::stream_core_ptr core) noexcept : stream_base(std::move(core)) {}

  static task<unix_stream> connect(std::string path);
  // Two connected streams (socketpair), each homed on the next worker.
  static std::pair<unix_stream, unix_stream> pair();
};

class unix_listener {
 public:
  unix_listener() noexcept = default;
  unix_listener(unix_listener&& o) noexcept;
  unix_listener& operator=(unix_listener&& o) noexcept;
  ~unix_listener();

  static unix_listener bind(std::string_view path, const listen_options& opts = {},
                            bool unlink_on_close = true);
  [[nodiscard]] task<unix_stream> accept();

  const std::string& path() const noexcept { return path_; }
  bool is_open() const noexcept { return core_ != nullptr; }
  void close() noexcept;
  int native_handle() const noexcept { return detail::listener_fd(core_.get()); }
  std::uint64_t backoff_count() const noexcept { return detail::listener_backoffs(core_.get()); }

 private:
  detail::listener_core_ptr core_;
  std::string path_;
  bool unlink_ = false;
};

}  // namespace weft::net
