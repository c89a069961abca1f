#include <doctest/doctest.h>

#include <string>

#include <net/net.hpp>
#include <runtime/runtime.hpp>
#include <tests/support/test_runtime.hpp>

using namespace std::chrono_literals;
using weft::net::buffered;
using weft::net::unix_stream;
using weft_test::workers;

TEST_SUITE("net/buffered") {
  TEST_CASE("lines, delimited heads and frames, split at every byte") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto [a, b] = unix_stream::pair();
      std::string input = "first line\r\nsecond\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
      std::string frame_payload(3000, 'f');
      std::string framed;
      auto n = std::uint32_t(frame_payload.size());
      framed += {char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
      framed += frame_payload;
      framed += std::string("\0\0\0\0", 4);  // an empty frame
      input += framed;
      auto writer = weft::spawn([](unix_stream* a, std::string input) -> weft::task<void> {
        // One byte at a time, so every boundary is crossed by a read.
        for (char c : input) {
          co_await a->write_all(std::span<const char>(&c, 1));
          co_await weft::yield_now();
        }
        a->close();
      }(&a, input));
      buffered<unix_stream> io(b);
      CHECK(co_await io.read_line() == std::optional<std::string_view>("first line"));
      CHECK(co_await io.read_line() == std::optional<std::string_view>("second"));
      auto head = co_await io.read_until("\r\n\r\n");
      REQUIRE(head);
      CHECK(*head == "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      auto f = co_await io.read_frame();
      REQUIRE(f);
      CHECK(std::string_view(f->data(), f->size()) == frame_payload);
      auto empty = co_await io.read_frame();
      REQUIRE(empty);
      CHECK(empty->empty());
      CHECK_FALSE(co_await io.read_frame());  // clean end at a boundary
      co_await writer;
    }());
  }

  // A length-prefixed protocol read under a deadline: a retry after the
  // timeout must see the whole record, not its tail.
  TEST_CASE("a read_exact cut by a timeout keeps what it read; the retry gets the whole record") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto [a, b] = unix_stream::pair();
      buffered<unix_stream> io(b);
      co_await a.write_all(std::span<const char>("01234", 5));
      char record[10] = {};
      CHECK_THROWS_AS(co_await weft::timeout(20ms, io.read_exact(std::span<char>(record, 10))), weft::timed_out);
      co_await a.write_all(std::span<const char>("56789", 5));
      co_await weft::timeout(5s, io.read_exact(std::span<char>(record, 10)));
      CHECK(std::string_view(record, 10) == "0123456789");
      // Mixed with the other reads, and an empty read_exact.
      co_await a.write_all(std::span<const char>("ab\ncd", 5));
      co_await io.read_exact(std::span<char>(record, 0));
      CHECK(co_await io.read_line() == std::optional<std::string_view>("ab"));
      co_await io.read_exact(std::span<char>(record, 2));
      CHECK(std::string_view(record, 2) == "cd");
      a.close();
      CHECK_THROWS_AS(co_await io.read_exact(std::span<char>(record, 1)), weft::net::unexpected_eof);
    }());
  }

  TEST_CASE("limits: an endless line or a huge frame is refused, not buffered") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      weft::net::buffered_options o;
      o.max_line = 1000;
      o.max_frame = 100;
      o.read_chunk = 256;
      {
        auto [a, b] = unix_stream::pair();
        auto writer = weft::spawn([](unix_stream a) -> weft::task<void> {
          std::string junk(100000, 'x');  // no newline, ever
          try {
            co_await a.write_all(junk);
          } catch (const weft::net::net_error&) {
            // the reader gave up and closed: expected
          }
        }(std::move(a)));
        buffered<unix_stream> io(b, o);
        std::string message;
        try {
          (void)co_await io.read_line();
        } catch (const weft::net::frame_too_large& e) {
          message = e.what();
        }
        // The line's length is not known: the message says what is.
        CHECK(message.find("no delimiter in the first") != std::string::npos);
        CHECK(message.find("the limit is 1000") != std::string::npos);
        CHECK(io.pending().size() <= o.max_line + o.read_chunk);
        b.close();
        co_await writer;
      }
      {
        auto [a, b] = unix_stream::pair();
        buffered<unix_stream> out(a);
        std::string big(101, 'y');
        co_await out.write_frame(big);
        co_await out.flush();
        buffered<unix_stream> io(b, o);
        CHECK_THROWS_AS(co_await io.read_frame(), weft::net::frame_too_large);
      }
      {
        auto [a, b] = unix_stream::pair();
        co_await a.write_all(std::string_view("no newline at the end"));
        a.close();
        buffered<unix_stream> io(b, o);
        CHECK_THROWS_AS(co_await io.read_line(), weft::net::unexpected_eof);
      }
      {
        auto [a, b] = unix_stream::pair();
        co_await a.write_all(std::string_view("\0\0\0\x10" "short", 9));
        a.close();
        buffered<unix_stream> io(b, o);
        CHECK_THROWS_AS(co_await io.read_frame(), weft::net::unexpected_eof);
      }
    }());
  }

  TEST_CASE("the line limit bounds the buffer after a partial line and after a big frame") {
    // fill() read as much as the buffer had room for, and the buffer grows
    // by doubling (or was grown for a frame): a new user saw 1624 and 73088
    // bytes buffered under a bound of 1512.
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      weft::net::buffered_options o;
      o.max_line = 1000;
      o.read_chunk = 512;
      const std::size_t bound = o.max_line + o.read_chunk;
      std::string flood(1 << 20, 'y');  // no newline
      {
        auto [a, b] = unix_stream::pair();
        buffered<unix_stream> io(b, o);
        co_await a.write_all(std::string(600, 'x'));
        // Reads the 600 bytes, then waits for more until the deadline.
        auto first = io.read_line();
        CHECK_THROWS_AS(co_await weft::timeout(20ms, std::move(first)), weft::timed_out);
        auto writer = weft::spawn([](unix_stream& a, const std::string& flood) -> weft::task<void> {
          try {
            co_await a.write_all(flood);
          } catch (const weft::net::net_error&) {
          }
        }(a, flood));
        CHECK_THROWS_AS(co_await io.read_line(), weft::net::frame_too_large);
        CHECK(io.pending().size() <= bound);
        b.close();
        co_await writer;
      }
      {
        auto [a, b] = unix_stream::pair();
        buffered<unix_stream> io(b, o);
        std::string frame("\x00\x10\x00\x00", 4);  // 1 MiB, within max_frame
        frame += std::string(1 << 20, 'F');
        auto writer = weft::spawn([](unix_stream& a, const std::string& frame,
                                     const std::string& flood) -> weft::task<void> {
          try {
            co_await a.write_all(frame);
            co_await a.write_all(flood);
          } catch (const weft::net::net_error&) {
          }
        }(a, frame, flood));
        auto f = co_await io.read_frame();
        CHECK((f && f->size() == std::size_t(1) << 20));
        CHECK_THROWS_AS(co_await io.read_line(), weft::net::frame_too_large);
        CHECK(io.pending().size() <= bound);
        b.close();
        co_await writer;
      }
    }());
  }

  TEST_CASE("buffered writes go out at flush, and big writes pass through") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto [a, b] = unix_stream::pair();
      buffered<unix_stream> out(a);
      co_await out.write(std::string_view("hello "));
      co_await out.write(std::string("world\n"));
      std::string big(100000, 'z');
      auto reader = weft::spawn([](unix_stream* b, std::size_t n) -> weft::task<std::string> {
        std::string got(n, '\0');
        co_await b->read_exact(got);
        co_return got;
      }(&b, 12 + big.size()));
      co_await out.write(big);  // flushes the small part first, then goes straight out
      co_await out.flush();
      std::string got = co_await reader;
      CHECK(got == "hello world\n" + big);
    }());
  }

  TEST_CASE("a string literal is written without its NUL, a char buffer whole") {
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      auto [a, b] = unix_stream::pair();
      buffered<unix_stream> out(a);
      co_await out.write("+OK\r\n");
      co_await out.flush();
      co_await a.write_all("PING\r\n");
      char buffer[4] = {'a', 'b', 'c', '\0'};  // a buffer: its last byte is data
      co_await a.write_all(buffer);
      co_await out.write(buffer);
      co_await out.flush();
      a.close();
      std::string got;
      char chunk[64];
      while (std::size_t n = co_await b.read_some(chunk)) got.append(chunk, n);
      CHECK(got == std::string("+OK\r\nPING\r\nabc\0abc\0", 19));

      auto u = weft::net::udp_socket::bind({"127.0.0.1", 0});
      auto v = weft::net::udp_socket::bind({"127.0.0.1", 0});
      co_await u.send_to("hi", v.local_endpoint());
      u.connect(v.local_endpoint());
      co_await u.send("there");
      auto [n1, from] = co_await v.recv_from(chunk);
      CHECK(std::string_view(chunk, n1) == "hi");
      auto [n2, from2] = co_await v.recv_from(chunk);
      CHECK(std::string_view(chunk, n2) == "there");
    }());
  }

  TEST_CASE("a pipelined client: 100,000 requests answered out of the buffer, in order") {
    // Every read_line after the first of a chunk, and every buffered write,
    // completes without suspending: tens of thousands in a row in one poll.
    // Under the sanitizers that used to overflow the worker's stack.
    weft::runtime rt{workers(2)};
    rt.block_on([]() -> weft::task<void> {
      constexpr int requests = 100000;
      auto [a, b] = unix_stream::pair();
      auto server = weft::spawn([](unix_stream* s) -> weft::task<int> {
        buffered<unix_stream> io(*s);
        int served = 0;
        while (auto line = co_await io.read_line()) {
          co_await io.write(std::string("+") + std::string(*line) + "\r\n");
          ++served;
          if (io.pending().empty()) co_await io.flush();  // answer a batch at once
        }
        co_await io.flush();
        s->shutdown(weft::net::shutdown_type::send);
        co_return served;
      }(&b));
      auto client = weft::spawn([](unix_stream* s) -> weft::task<void> {
        std::string all;
        for (int i = 0; i < requests; ++i) all += "PING " + std::to_string(i) + "\r\n";
        co_await s->write_all(all);
        s->shutdown(weft::net::shutdown_type::send);
      }(&a));
      buffered<unix_stream> replies(a);
      int answered = 0;
      bool in_order = true;
      while (auto line = co_await replies.read_line()) {
        in_order = in_order && *line == "+PING " + std::to_string(answered);
        ++answered;
      }
      co_await client;
      CHECK(co_await server == requests);
      CHECK(answered == requests);
      CHECK(in_order);
    }());
  }
}
