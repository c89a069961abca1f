// weft::net::ip_address and weft::net::endpoint: an IPv4 or IPv6 address and
// port, as the sockets of weft::net take and report them.
//
//   weft::net::endpoint ep{"127.0.0.1", 8080};        // numeric addresses only
//   auto l = weft::net::tcp_listener::bind({"::1", 0});
//   ep.port(); ep.address().to_string(); ep.to_string() == "127.0.0.1:8080"
//
// The constructors taking text accept numeric addresses only and throw
// std::invalid_argument otherwise; names go through weft::net::resolve (or
// tcp_stream::connect(host, port), which resolves). Plain values: no thread
// safety concerns, no runtime needed.
//
// Every constructor is user-declared on purpose: g++ 12 miscompiles an
// aggregate built inside a co_await expression (it destroys it twice).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace weft::net {

class ip_address {
 public:
  ip_address() noexcept;  // 0.0.0.0
  // Parses a numeric IPv4 or IPv6 address; throws std::invalid_argument.
  explicit ip_address(std::string_view text);
  explicit ip_address(const in_addr& v4) noexcept;
  explicit ip_address(const in6_addr& v6) noexcept;

  static ip_address loopback_v4() noexcept;
  static ip_address loopback_v6() noexcept;
  static ip_address any_v4() noexcept;
  static ip_address any_v6() noexcept;
  // Parses without throwing; false if `text` is no numeric address.
  static bool try_parse(std::string_view text, ip_address& out) noexcept;

  bool is_v4() const noexcept { return v6_ == false; }
  bool is_v6() const noexcept { return v6_; }
  bool is_loopback() const noexcept;
  const in_addr& v4() const noexcept { return a4_; }
  const in6_addr& v6() const noexcept { return a6_; }
  std::string to_string() const;

  friend bool operator==(const ip_address& a, const ip_address& b) noexcept;

 private:
  bool v6_ = false;
  union {
    in_addr a4_;
    in6_addr a6_;
  };
};

class endpoint {
 public:
  endpoint() noexcept;  // 0.0.0.0:0
  endpoint(const ip_address& addr, std::uint16_t port) noexcept;
  // A numeric address and a port: {"127.0.0.1", 8080}, {"::1", 0}.
  endpoint(const char* address, std::uint16_t port);
  endpoint(std::string_view address, std::uint16_t port);
  endpoint(const std::string& address, std::uint16_t port);
  // From a socket address of family AF_INET or AF_INET6; throws
  // std::invalid_argument for another family.
  endpoint(const sockaddr* sa, socklen_t len);

  ip_address address() const noexcept;
  std::uint16_t port() const noexcept;
  void port(std::uint16_t p) noexcept;
  bool is_v6() const noexcept { return storage_.v6.sin6_family == AF_INET6; }
  // "127.0.0.1:8080", "[::1]:8080".
  std::string to_string() const;

  // The socket address, for system calls.
  const sockaddr* data() const noexcept { return &storage_.any; }
  sockaddr* data() noexcept { return &storage_.any; }
  socklen_t size() const noexcept {
    return is_v6() ? socklen_t(sizeof(sockaddr_in6)) : socklen_t(sizeof(sockaddr_in));
  }
  static constexpr socklen_t capacity() noexcept { return socklen_t(sizeof(sockaddr_in6)); }

  friend bool operator==(const endpoint& a, const endpoint& b) noexcept;

 private:
  union storage {
    sockaddr any;
    sockaddr_in v4;
    sockaddr_in6 v6;
  } storage_;
};

}  // namespace weft::net
