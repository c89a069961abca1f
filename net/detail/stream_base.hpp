// What tcp_stream and unix_stream share: a connected byte stream homed on
// one worker's reactor. See net/tcp.hpp for the documentation of the
// operations; this header only holds the common implementation.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include <net/detail/bytes.hpp>
#include <net/detail/io_op.hpp>
#include <runtime/task.hpp>

namespace weft::net {

enum class shutdown_type { receive, send, both };

namespace detail {

struct stream_core_deleter {
  void operator()(stream_core* c) const noexcept;
};
using stream_core_ptr = std::unique_ptr<stream_core, stream_core_deleter>;

struct listener_core_deleter {
  void operator()(listener_core* c) const noexcept;
};
using listener_core_ptr = std::unique_ptr<listener_core, listener_core_deleter>;

class stream_base {
 public:
  stream_base() noexcept = default;
  explicit stream_base(stream_core_ptr core) noexcept : core_(std::move(core)) {}
  stream_base(stream_base&&) noexcept = default;
  stream_base& operator=(stream_base&&) noexcept = default;

  bool is_open() const noexcept { return core_ != nullptr; }

  [[nodiscard]] read_some_op read_some(std::span<char> buf) noexcept { return {core_.get(), buf}; }
  [[nodiscard]] task<void> read_exact(std::span<char> buf);
  [[nodiscard]] write_some_op write_some(std::span<const char> data) noexcept {
    return {core_.get(), data};
  }
  [[nodiscard]] write_all_op write_all(std::span<const char> data) noexcept {
    return {core_.get(), data};
  }
  // A literal without its NUL, a char buffer whole (see detail/bytes.hpp).
  template <std::size_t N>
  [[nodiscard]] write_all_op write_all(const char (&text)[N]) noexcept {
    return write_all(text_bytes(text));
  }
  template <std::size_t N>
  [[nodiscard]] write_all_op write_all(char (&buffer)[N]) noexcept {
    return write_all(buffer_bytes(buffer));
  }
  [[nodiscard]] wait_op wait_readable() noexcept { return {core_.get(), wait_op::kind::stream_read}; }
  [[nodiscard]] wait_op wait_writable() noexcept { return {core_.get(), wait_op::kind::stream_write}; }

  void shutdown(shutdown_type what);
  // Closes through the deleter before clearing core_ (as the destructor
  // does, unlike reset()): the deleter synchronises with a task waiting on
  // the socket before this writes the pointer that task read.
  void close() noexcept {
    if (core_) core_.get_deleter()(core_.get());
    (void)core_.release();
  }
  int native_handle() const noexcept;
  stream_core* core() const noexcept { return core_.get(); }
  stream_core_ptr release_core() noexcept { return std::move(core_); }

 protected:
  stream_core_ptr core_;
};

// Shared by tcp_listener and unix_listener: accepts one connection, homes
// it on the next worker's reactor (see tcp.hpp for the EMFILE policy).
task<stream_core_ptr> accept_core(listener_core* c, const char* what);
// A new stream core on the next worker's reactor, with an open, unconnected
// socket of the given family.
stream_core_ptr open_stream_core(int family, int protocol, const char* what);
// Adopts a connected descriptor (closed again if that fails).
stream_core_ptr adopt_stream_fd(int fd, int family, int protocol, const char* what);
// A listening socket on the next worker's reactor.
listener_core_ptr listen_on(const sockaddr* sa, socklen_t len, int backlog, bool reuse_address,
                            bool reuse_port, bool nodelay, const char* what);
int listener_fd(const listener_core* c) noexcept;
std::uint64_t listener_backoffs(const listener_core* c) noexcept;

}  // namespace detail
}  // namespace weft::net
