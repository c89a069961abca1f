// weft::net::resolve: host names to endpoints.
//
//   std::vector<weft::net::endpoint> eps = co_await weft::net::resolve("localhost", "http");
//   auto eps = co_await weft::net::resolve("example.org", 443);
//
// A numeric address resolves at once, without a thread hop. A name is looked
// up with getaddrinfo on the runtime's blocking pool (spawn_blocking), so no
// worker blocks. The result keeps getaddrinfo's order (IPv6/IPv4 preference
// of the system's gai.conf) with duplicates removed; an empty result is not
// returned: a name that does not resolve throws net_error with an error of
// category weft::net::resolve_category(). A numeric service past 65535
// throws std::invalid_argument (getaddrinfo would wrap it). An empty host
// is getaddrinfo's null node: the loopback addresses.
// Cancellation: aborting the awaiting task ends the wait with
// weft::cancelled; the lookup itself finishes on its blocking thread and is
// dropped.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include <net/endpoint.hpp>
#include <runtime/task.hpp>

namespace weft::net {

[[nodiscard]] task<std::vector<endpoint>> resolve(std::string host, std::string service);
[[nodiscard]] task<std::vector<endpoint>> resolve(std::string host, std::uint16_t port);

// getaddrinfo's EAI_* codes.
const std::error_category& resolve_category() noexcept;

}  // namespace weft::net
