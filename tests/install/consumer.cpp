// A program as an installed user writes it: compiled against the staged
// `meson install` tree with nothing but `pkg-config --cflags --libs weft`
// (tests/install/install_test.sh), never against the source tree. It awaits
// an Asio operation too: Asio's templates are compiled here, with the flags
// weft.pc gives (under ThreadSanitizer, -Werror used to fail on Asio's fences).
#include <boost/asio/steady_timer.hpp>
#include <net/asio.hpp>
#include <runtime/runtime.hpp>

#include <chrono>
#include <cstdio>

namespace {
weft::task<int> child(int x) {
  co_await weft::yield_now();
  co_return x * 2;
}

weft::task<int> root() {
  auto h = weft::spawn(child(21));
  co_await weft::sleep_for(std::chrono::milliseconds(1));
  boost::asio::steady_timer timer(weft::net::next_io_executor());
  timer.expires_after(std::chrono::milliseconds(1));
  co_await timer.async_wait(weft::use_task);
  co_return co_await h;
}
}  // namespace

int main() {
  weft::runtime_config cfg;
  cfg.worker_threads = 2;
  weft::runtime rt{cfg};
  int v = rt.block_on(root());
  if (v != 42 || rt.worker_count() != 2) {
    std::printf("consumer: wrong result %d on %zu workers\n", v, rt.worker_count());
    return 1;
  }
  std::printf("consumer ok: %d on %zu workers\n", v, rt.worker_count());
  return 0;
}
