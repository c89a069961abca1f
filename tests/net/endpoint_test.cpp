#include <doctest/doctest.h>

#include <stdexcept>

#include <net/endpoint.hpp>

using weft::net::endpoint;
using weft::net::ip_address;

TEST_SUITE("net/endpoint") {
  TEST_CASE("numeric addresses parse, print and compare") {
    endpoint a{"127.0.0.1", 8080};
    CHECK(a.port() == 8080);
    CHECK_FALSE(a.is_v6());
    CHECK(a.address().is_loopback());
    CHECK(a.to_string() == "127.0.0.1:8080");
    endpoint b{"::1", 443};
    CHECK(b.is_v6());
    CHECK(b.address().is_loopback());
    CHECK(b.to_string() == "[::1]:443");
    CHECK(endpoint{"[::1]", 443} == b);
    CHECK(a != b);
    CHECK(ip_address("10.1.2.3").to_string() == "10.1.2.3");
    CHECK_FALSE(ip_address("10.1.2.3").is_loopback());
    endpoint c = a;
    c.port(1);
    CHECK(c.port() == 1);
    CHECK(c.address() == a.address());
    endpoint from_raw(a.data(), a.size());
    CHECK(from_raw == a);
  }
  TEST_CASE("names and garbage are rejected") {
    CHECK_THROWS_AS(endpoint("localhost", 80), std::invalid_argument);
    CHECK_THROWS_AS(endpoint("1.2.3.256", 80), std::invalid_argument);
    CHECK_THROWS_AS(ip_address(""), std::invalid_argument);
    ip_address out;
    CHECK_FALSE(ip_address::try_parse("example.org", out));
    CHECK(ip_address::try_parse("fe80::1", out));
    CHECK(out.is_v6());
  }
}
