#include <net/endpoint.hpp>

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace weft::net {

ip_address::ip_address() noexcept : a6_{} { a4_.s_addr = htonl(INADDR_ANY); }

ip_address::ip_address(const in_addr& v4) noexcept : a6_{} { a4_ = v4; }

ip_address::ip_address(const in6_addr& v6) noexcept : v6_(true), a6_(v6) {}

ip_address::ip_address(std::string_view text) : a6_{} {
  if (!try_parse(text, *this))
    throw std::invalid_argument(fmt::format("weft::net: \"{}\" is no numeric IP address", text));
}

bool ip_address::try_parse(std::string_view text, ip_address& out) noexcept {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  // "[::1]" as people write it in URLs.
  const char* p = buf;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    buf[text.size() - 1] = '\0';
    p = buf + 1;
  }
  in_addr a4;
  if (inet_pton(AF_INET, p, &a4) == 1) {
    out = ip_address(a4);
    return true;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, p, &a6) == 1) {
    out = ip_address(a6);
    return true;
  }
  return false;
}

ip_address ip_address::loopback_v4() noexcept {
  in_addr a;
  a.s_addr = htonl(INADDR_LOOPBACK);
  return ip_address(a);
}
ip_address ip_address::loopback_v6() noexcept { return ip_address(in6addr_loopback); }
ip_address ip_address::any_v4() noexcept { return ip_address(); }
ip_address ip_address::any_v6() noexcept { return ip_address(in6addr_any); }

bool ip_address::is_loopback() const noexcept {
  if (!v6_) return (ntohl(a4_.s_addr) >> 24) == 127;
  return IN6_IS_ADDR_LOOPBACK(&a6_);
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6_ ? AF_INET6 : AF_INET, v6_ ? static_cast<const void*>(&a6_) : &a4_, buf, sizeof buf);
  return buf;
}

bool operator==(const ip_address& a, const ip_address& b) noexcept {
  if (a.v6_ != b.v6_) return false;
  return a.v6_ ? std::memcmp(&a.a6_, &b.a6_, sizeof a.a6_) == 0 : a.a4_.s_addr == b.a4_.s_addr;
}

endpoint::endpoint() noexcept : endpoint(ip_address(), 0) {}

endpoint::endpoint(const ip_address& addr, std::uint16_t port) noexcept {
  std::memset(&storage_, 0, sizeof storage_);
  if (addr.is_v6()) {
    storage_.v6.sin6_family = AF_INET6;
    storage_.v6.sin6_addr = addr.v6();
    storage_.v6.sin6_port = htons(port);
  } else {
    storage_.v4.sin_family = AF_INET;
    storage_.v4.sin_addr = addr.v4();
    storage_.v4.sin_port = htons(port);
  }
}

endpoint::endpoint(const char* address, std::uint16_t port)
    : endpoint(ip_address(std::string_view(address)), port) {}
endpoint::endpoint(std::string_view address, std::uint16_t port) : endpoint(ip_address(address), port) {}
endpoint::endpoint(const std::string& address, std::uint16_t port)
    : endpoint(ip_address(std::string_view(address)), port) {}

endpoint::endpoint(const sockaddr* sa, socklen_t len) {
  std::memset(&storage_, 0, sizeof storage_);
  if (sa->sa_family == AF_INET && len >= socklen_t(sizeof(sockaddr_in))) {
    std::memcpy(&storage_.v4, sa, sizeof(sockaddr_in));
  } else if (sa->sa_family == AF_INET6 && len >= socklen_t(sizeof(sockaddr_in6))) {
    std::memcpy(&storage_.v6, sa, sizeof(sockaddr_in6));
  } else {
    throw std::invalid_argument("weft::net::endpoint: not an IPv4 or IPv6 socket address");
  }
}

ip_address endpoint::address() const noexcept {
  return is_v6() ? ip_address(storage_.v6.sin6_addr) : ip_address(storage_.v4.sin_addr);
}

std::uint16_t endpoint::port() const noexcept {
  return ntohs(is_v6() ? storage_.v6.sin6_port : storage_.v4.sin_port);
}

void endpoint::port(std::uint16_t p) noexcept {
  if (is_v6()) storage_.v6.sin6_port = htons(p);
  else storage_.v4.sin_port = htons(p);
}

std::string endpoint::to_string() const {
  if (is_v6()) return fmt::format("[{}]:{}", address().to_string(), port());
  return fmt::format("{}:{}", address().to_string(), port());
}

bool operator==(const endpoint& a, const endpoint& b) noexcept {
  return a.address() == b.address() && a.port() == b.port();
}

}  // namespace weft::net
