#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/net/net_support.hpp>
#include <tests/net/tls_support.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft::net::tcp_listener;
using weft::net::tcp_stream;
using weft::net::tls_context;
using weft::net::tls_stream;
using weft_test::workers;

namespace {

weft::task<void> tls_echo(tcp_stream s, tls_context ctx) {
  tls_stream t = tls_stream::server(std::move(s), ctx);
  co_await weft::timeout(10s, t.handshake());
  char buf[4096];
  while (std::size_t n = co_await t.read_some(buf)) co_await t.write_all(std::span<const char>(buf, n));
  co_await weft::timeout(5s, t.shutdown());
}

bool ends_with(const std::string& s, std::string_view tail) {
  INFO("the message: " << s);
  return s.ends_with(tail);
}

// The message of the tls_error `op` ends with, which must be a refused
// certificate's; "" if it ends otherwise.
template <class T>
weft::task<std::string> verify_failure(weft::task<T> op) {
  try {
    co_await std::move(op);
  } catch (const weft::net::tls_error& e) {
    // The code is still OpenSSL's, for callers that inspect it.
    CHECK(std::string_view(e.code().category().name()) == "asio.ssl");
    CHECK(ERR_GET_REASON(static_cast<unsigned int>(e.code().value())) == SSL_R_CERTIFICATE_VERIFY_FAILED);
    co_return e.what();
  }
  co_return "";
}

}  // namespace

TEST_SUITE("net/tls") {
  TEST_CASE("echo over TLS with many concurrent, verified connections and clean shutdowns") {
    weft::runtime rt{workers(2)};
    weft_net_test::temp_dir dir;
    auto cert = weft_net_test::make_self_signed(dir.path());
    static constexpr int conns = weft_test::sanitized ? 16 : 64;
    static constexpr int rounds = 10;
    rt.block_on([&]() -> weft::task<void> {
      auto server_ctx = tls_context::server(cert.cert, cert.key);
      auto client_ctx = tls_context::client();
      client_ctx.load_verify_file(cert.cert);
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto srv = weft::spawn([](tcp_listener l, tls_context ctx) -> weft::task<void> {
        std::vector<weft::join_handle<void>> hs;
        for (int i = 0; i < conns; ++i) hs.push_back(weft::spawn(tls_echo(co_await l.accept(), ctx)));
        for (auto& h : hs) co_await h;
      }(std::move(l), server_ctx));
      std::vector<weft::join_handle<int>> cs;
      for (int i = 0; i < conns; ++i) {
        cs.push_back(weft::spawn([](std::uint16_t port, tls_context ctx, int i) -> weft::task<int> {
          // Half by name, half by address: both are in the certificate.
          auto t = co_await tls_stream::connect(i % 2 ? "localhost" : "127.0.0.1", port, ctx);
          CHECK((t.protocol_version() == "TLSv1.3" || t.protocol_version() == "TLSv1.2"));
          int ok = 0;
          for (int r = 0; r < rounds; ++r) {
            std::string msg(100 + r * 1000, char('a' + (i + r) % 26));
            co_await t.write_all(msg);
            std::string back(msg.size(), '\0');
            co_await t.read_exact(back);
            ok += back == msg;
          }
          co_await t.write_all("bye");  // a literal: three bytes, no NUL
          char bye[4] = {};
          co_await t.read_exact(std::span<char>(bye, 3));
          CHECK(std::string_view(bye, 3) == "bye");
          co_await t.shutdown();  // close_notify both ways
          co_return ok;
        }(port, client_ctx, i)));
      }
      int ok = 0;
      for (auto& h : cs) ok += co_await h;
      CHECK(ok == conns * rounds);
      co_await srv;
    }());
  }

  TEST_CASE("clients verify the certificate and the name by default") {
    weft::runtime rt{workers(2)};
    weft_net_test::temp_dir dir;
    auto cert = weft_net_test::make_self_signed(dir.path());
    rt.block_on([&]() -> weft::task<void> {
      auto server_ctx = tls_context::server(cert.cert, cert.key);
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto srv = weft::spawn([](tcp_listener l, tls_context ctx) -> weft::task<int> {
        int failed = 0;
        for (int i = 0; i < 4; ++i) {
          tls_stream t = tls_stream::server(co_await l.accept(), ctx);
          try {
            co_await weft::timeout(5s, t.handshake());
            char b[1];
            co_await weft::timeout(5s, t.read_some(b));
          } catch (const weft::net::net_error&) {
            ++failed;  // the client aborted the handshake
          }
        }
        co_return failed;
      }(std::move(l), server_ctx));
      // Not trusted: the system CAs do not know our self-signed certificate.
      // The message says why and where to, though the stream is gone.
      auto untrusted = co_await verify_failure(tls_stream::connect("127.0.0.1", port, tls_context::client()));
      CHECK(untrusted.find(fmt::format("weft::net::tls_stream::connect to 127.0.0.1:{}: ", port)) == 0);
      CHECK(ends_with(untrusted, X509_verify_cert_error_string(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)));
      // Trusted, but the name does not match.
      auto trusting = tls_context::client();
      trusting.load_verify_file(cert.cert);
      auto wrong = tls_stream::client(co_await tcp_stream::connect({"127.0.0.1", port}), trusting, "example.org");
      CHECK(co_await verify_failure(wrong.handshake()) ==
            "weft::net::tls_stream::handshake with example.org: TLS: certificate verify failed (SSL routines): "
            "hostname mismatch");
      // OpenSSL made the check, so it knows why (not 1, "unspecified").
      CHECK(SSL_get_verify_result(wrong.native_ssl()) == X509_V_ERR_HOSTNAME_MISMATCH);
      // An address is checked as one: the certificate names 127.0.0.1 only.
      auto s = co_await tcp_stream::connect({"127.0.0.1", port});
      auto wrong_ip = tls_stream::client(std::move(s), trusting, "127.0.0.2");
      CHECK(ends_with(co_await verify_failure(wrong_ip.handshake()),
                      "handshake with 127.0.0.2: TLS: certificate verify failed (SSL routines): IP address mismatch"));
      CHECK(SSL_get_verify_result(wrong_ip.native_ssl()) == X509_V_ERR_IP_ADDRESS_MISMATCH);
      // Verification off: connects.
      auto lax = tls_context::client();
      lax.set_verify_peer(false);
      CHECK_FALSE(lax.verify_peer());
      auto ok = co_await tls_stream::connect("127.0.0.1", port, lax);
      ok.close();
      CHECK(co_await srv >= 3);
    }());
  }

  TEST_CASE("an expired certificate's message says it has expired") {
    weft::runtime rt{workers(2)};
    weft_net_test::temp_dir dir;
    auto cert = weft_net_test::make_self_signed(dir.path(), "localhost", -60);
    rt.block_on([&]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto srv = weft::spawn([](tcp_listener l, tls_context ctx) -> weft::task<void> {
        tls_stream t = tls_stream::server(co_await l.accept(), ctx);
        CHECK_THROWS_AS(co_await weft::timeout(5s, t.handshake()), weft::net::tls_error);  // the client's alert
      }(std::move(l), tls_context::server(cert.cert, cert.key)));
      auto trusting = tls_context::client();
      trusting.load_verify_file(cert.cert);
      CHECK(co_await verify_failure(tls_stream::connect("localhost", port, trusting)) ==
            fmt::format("weft::net::tls_stream::connect to localhost:{}: TLS: certificate verify failed "
                        "(SSL routines): certificate has expired",
                        port));
      co_await srv;
    }());
  }

  TEST_CASE("a verifying client needs a server name") {
    weft::runtime rt{workers(1)};
    rt.block_on([&]() -> weft::task<void> {
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      // An empty name would make OpenSSL skip the name check.
      auto s = co_await tcp_stream::connect({"127.0.0.1", port});
      CHECK_THROWS_AS(tls_stream::client(std::move(s), tls_context::client(), ""), std::invalid_argument);
      auto lax = tls_context::client();
      lax.set_verify_peer(false);
      CHECK(tls_stream::client(co_await tcp_stream::connect({"127.0.0.1", port}), lax, "").is_open());
    }());
  }

  TEST_CASE("garbage, truncated and silent handshakes end by deadline with no leak") {
    weft::runtime rt{workers(2)};
    weft_net_test::temp_dir dir;
    auto cert = weft_net_test::make_self_signed(dir.path());
    rt.block_on([&]() -> weft::task<void> {
      weft_net_test::warm_reactors(2);
      int before = weft_net_test::open_fds();
      static constexpr int each = 10;
      std::atomic<int> tls_errors{0}, timeouts{0}, other{0};
      {
        auto ctx = tls_context::server(cert.cert, cert.key);
        auto l = tcp_listener::bind({"127.0.0.1", 0});
        auto port = l.local_endpoint().port();
        auto srv = weft::spawn([](tcp_listener l, tls_context ctx, std::atomic<int>* tls_errors,
                                  std::atomic<int>* timeouts, std::atomic<int>* other) -> weft::task<void> {
          std::vector<weft::join_handle<void>> hs;
          for (int i = 0; i < 3 * each; ++i) {
            hs.push_back(weft::spawn([](tcp_stream s, tls_context ctx, std::atomic<int>* tls_errors,
                                        std::atomic<int>* timeouts, std::atomic<int>* other) -> weft::task<void> {
              tls_stream t = tls_stream::server(std::move(s), ctx);
              try {
                co_await weft::timeout(200ms, t.handshake());
                ++*other;
              } catch (const weft::net::tls_error&) {
                ++*tls_errors;
              } catch (const weft::timed_out&) {
                ++*timeouts;
              } catch (...) {
                ++*other;
              }
            }(co_await l.accept(), ctx, tls_errors, timeouts, other)));
          }
          for (auto& h : hs) co_await h;
        }(std::move(l), ctx, &tls_errors, &timeouts, &other));
        std::vector<tcp_stream> peers;
        for (int i = 0; i < each; ++i) {
          // Garbage: an HTTP request where a ClientHello belongs.
          auto g = co_await tcp_stream::connect({"127.0.0.1", port});
          co_await g.write_all(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
          peers.push_back(std::move(g));
          // Truncated: a handshake record header announcing 512 bytes, and 3 of them.
          auto t = co_await tcp_stream::connect({"127.0.0.1", port});
          co_await t.write_all(std::string_view("\x16\x03\x01\x02\x00\x01\x00\x01", 8));
          peers.push_back(std::move(t));
          // Silent.
          peers.push_back(co_await tcp_stream::connect({"127.0.0.1", port}));
        }
        co_await srv;
      }
      CHECK(tls_errors == each);
      CHECK(timeouts == 2 * each);
      CHECK(other == 0);
      CHECK(weft_net_test::open_fds() == before);
    }());
  }

  TEST_CASE("after a write cut by a timeout, the session refuses further operations") {
    // The engine may be halfway through a record: a second write_all used to
    // wait forever rather than fail.
    weft::runtime rt{workers(2)};
    weft_net_test::temp_dir dir;
    auto cert = weft_net_test::make_self_signed(dir.path());
    rt.block_on([&]() -> weft::task<void> {
      auto server_ctx = tls_context::server(cert.cert, cert.key);
      auto client_ctx = tls_context::client();
      client_ctx.load_verify_file(cert.cert);
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      // A server that shakes hands and then reads nothing.
      auto srv = weft::spawn([](tcp_listener& l, tls_context ctx) -> weft::task<tls_stream> {
        tls_stream t = tls_stream::server(co_await l.accept(), ctx);
        co_await t.handshake();
        co_return t;
      }(l, server_ctx));
      auto t = co_await tls_stream::connect("127.0.0.1", port, client_ctx);
      tls_stream quiet = co_await srv;
      std::string big(64 << 20, 'x');  // more than the socket buffers hold
      CHECK_THROWS_AS(co_await weft::timeout(100ms, t.write_all(big)), weft::timed_out);
      auto t0 = std::chrono::steady_clock::now();
      std::string message;
      try {
        co_await weft::timeout(5s, t.write_all("more"));
      } catch (const weft::net::net_error& e) {
        message = e.what();
      }
      CHECK(message.find("tls_stream::write_all: an earlier operation on this session was cancelled") !=
            std::string::npos);
      CHECK(std::chrono::steady_clock::now() - t0 < 1s);
      char c;
      CHECK_THROWS_AS(co_await t.read_some(std::span<char>(&c, 1)), weft::net::net_error);
      CHECK_THROWS_AS(co_await t.shutdown(), weft::net::net_error);
      t.close();
    }());
  }

  TEST_CASE("a handshake with a peer that speaks no TLS hints so") {
    weft::runtime rt{workers(2)};
    weft_net_test::temp_dir dir;
    auto cert = weft_net_test::make_self_signed(dir.path());
    rt.block_on([&]() -> weft::task<void> {
      // A client of a plain-TCP server that answers the ClientHello with text.
      auto plain = tcp_listener::bind({"127.0.0.1", 0});
      auto plain_port = plain.local_endpoint().port();
      auto plain_srv = weft::spawn([](tcp_listener l) -> weft::task<void> {
        auto s = co_await l.accept();
        char buf[4096];
        co_await s.read_some(buf);
        co_await s.write_all(std::string_view("HTTP/1.1 400 Bad Request\r\n\r\n"));
        try {
          while (co_await s.read_some(buf)) {
          }  // until the client gives up, so it reads the text before a reset
        } catch (const weft::net::connection_reset&) {
        }
      }(std::move(plain)));
      auto lax = tls_context::client();
      lax.set_verify_peer(false);
      std::string said;
      try {
        co_await tls_stream::connect("127.0.0.1", plain_port, lax);
      } catch (const weft::net::tls_error& e) {
        said = e.what();
      }
      CHECK(said == fmt::format("weft::net::tls_stream::connect to 127.0.0.1:{}: TLS: wrong version number "
                                "(SSL routines) (the peer does not speak TLS?)",
                                plain_port));
      co_await plain_srv;

      // A TLS server sent an HTTP request.
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto srv = weft::spawn([](tcp_listener l, tls_context ctx) -> weft::task<std::string> {
        tls_stream t = tls_stream::server(co_await l.accept(), ctx);
        try {
          co_await weft::timeout(5s, t.handshake());
        } catch (const weft::net::tls_error& e) {
          co_return e.what();
        }
        co_return "";
      }(std::move(l), tls_context::server(cert.cert, cert.key)));
      auto http = co_await tcp_stream::connect({"127.0.0.1", port});
      co_await http.write_all(std::string_view("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      CHECK(co_await srv ==
            "weft::net::tls_stream::handshake: TLS: http request (SSL routines) (the peer does not speak TLS?)");
    }());
  }

  TEST_CASE("openssl s_client talks to the TLS echo server") {
    REQUIRE_MESSAGE(weft_net_test::have_program("openssl"),
                    "the openssl command is missing (apt-get install openssl)");
    weft::runtime rt{workers(2)};
    weft_net_test::temp_dir dir;
    auto cert = weft_net_test::make_self_signed(dir.path());
    rt.block_on([&]() -> weft::task<void> {
      auto ctx = tls_context::server(cert.cert, cert.key);
      auto l = tcp_listener::bind({"127.0.0.1", 0});
      auto port = l.local_endpoint().port();
      auto srv = weft::spawn([](tcp_listener l, tls_context ctx) -> weft::task<std::string> {
        tls_stream t = tls_stream::server(co_await l.accept(), ctx);
        co_await weft::timeout(10s, t.handshake());
        weft::net::buffered<tls_stream> io(t);
        auto line = co_await weft::timeout(10s, io.read_line());
        std::string got = line ? std::string(*line) : "";
        std::string reply = "echo: " + got + "\n";
        co_await t.write_all(reply);
        try {
          co_await weft::timeout(2s, t.shutdown());
        } catch (const weft::timed_out&) {
        }
        co_return got;
      }(std::move(l), ctx));
      std::string cmd = "sh -c \"printf 'hello from s_client\\n' | openssl s_client -connect 127.0.0.1:" +
                        std::to_string(port) + " -servername localhost -CAfile " + cert.cert +
                        " -verify_return_error -verify_hostname localhost -quiet 2>&1\"";
      auto job = [cmd] { return weft_net_test::run_command(cmd, 20); };
      auto out = co_await weft::spawn_blocking(std::move(job));
      CHECK(co_await srv == "hello from s_client");
      INFO("s_client said: " << out.output);
      CHECK(out.output.find("echo: hello from s_client") != std::string::npos);
    }());
  }
}
