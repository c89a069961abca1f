#include <net/resolve.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include <net/error.hpp>
#include <runtime/blocking.hpp>

namespace weft::net {

namespace {

class resolve_category_impl : public std::error_category {
 public:
  const char* name() const noexcept override { return "weft.net.resolve"; }
  std::string message(int ev) const override { return gai_strerror(ev); }
};

// A user-declared constructor: g++ 12 miscompiles an aggregate that crosses
// a co_await (spawn_blocking's result here) and frees it twice.
struct lookup_result {
  lookup_result() noexcept {}
  std::vector<endpoint> endpoints;
  int error = 0;      // EAI_* code, 0 on success
  int sys_errno = 0;  // for EAI_SYSTEM
};

lookup_result lookup(const std::string& host, const std::string& service, bool numeric_only) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address (no UDP/raw duplicates)
  hints.ai_flags = AI_ADDRCONFIG | (numeric_only ? AI_NUMERICHOST : 0);
  addrinfo* res = nullptr;
  lookup_result out;
  errno = 0;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.empty() ? nullptr : service.c_str(),
                         &hints, &res);
  if (rc != 0) {
    out.error = rc;
    out.sys_errno = errno;
    return out;
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(res, &::freeaddrinfo);
  for (addrinfo* p = res; p; p = p->ai_next) {
    if (p->ai_family != AF_INET && p->ai_family != AF_INET6) continue;
    endpoint ep(p->ai_addr, p->ai_addrlen);
    if (std::find(out.endpoints.begin(), out.endpoints.end(), ep) == out.endpoints.end())
      out.endpoints.push_back(ep);
  }
  return out;
}

// Names what was looked up: resolve("example.com", "http").
std::vector<endpoint> checked(lookup_result r, const std::string& host, const std::string& service) {
  auto what = [&] { return fmt::format("weft::net::resolve(\"{}\", \"{}\")", host, service); };
  // glibc reports a lookup that could not open /etc/hosts or a DNS socket
  // for want of descriptors as "Name or service not known": say what it was.
  bool out_of_fds = r.sys_errno == EMFILE || r.sys_errno == ENFILE;
  if (r.error == EAI_SYSTEM || (r.error != 0 && out_of_fds)) throw net_error(std::error_code(r.sys_errno, std::system_category()), what());
  if (r.error != 0) throw net_error(std::error_code(r.error, resolve_category()), what());
  if (r.endpoints.empty())
    throw net_error(std::error_code(EAI_NONAME, resolve_category()), what() + ": no IPv4 or IPv6 address");
  return std::move(r.endpoints);
}

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const resolve_category_impl cat;
  return cat;
}

task<std::vector<endpoint>> resolve(std::string host, std::string service) {
  bool numeric_service = !service.empty() && std::all_of(service.begin(), service.end(),
                                                         [](char c) { return c >= '0' && c <= '9'; });
  std::uint32_t port = 0;
  for (char c : numeric_service ? service : std::string()) {
    // getaddrinfo would take the number modulo 65536 ("99999" is 34463).
    port = port * 10 + std::uint32_t(c - '0');
    if (port > 65535) throw std::invalid_argument("weft::net::resolve: port " + service + " out of range");
  }
  ip_address numeric;
  if (numeric_service && ip_address::try_parse(host, numeric)) {
    // A numeric host and port: nothing to look up.
    co_return std::vector<endpoint>{endpoint(numeric, std::uint16_t(port))};
  }
  // The closure is a named variable on purpose: g++ 12 builds a closure
  // written inside the co_await expression wrongly (its std::string
  // captures are bitwise-moved and freed twice).
  auto job = [host, service] { return lookup(host, service, false); };
  lookup_result r = co_await spawn_blocking(std::move(job));
  co_return checked(std::move(r), host, service);
}

task<std::vector<endpoint>> resolve(std::string host, std::uint16_t port) {
  co_return co_await resolve(std::move(host), std::to_string(port));
}

}  // namespace weft::net
