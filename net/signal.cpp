#include <net/signal.hpp>

#include <string.h>  // sigabbrev_np

#include <atomic>

#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include <net/detail/socket_core.hpp>
#include <net/error.hpp>
#include <net/use_task.hpp>
#include <runtime/errors.hpp>

namespace weft::net {

struct signal_set::impl {
  explicit impl(boost::asio::io_context& io) : set(io.get_executor()) {}
  boost::asio::basic_signal_set<detail::io_executor> set;
  // Atomic: a second waiter or the destroyer may be another task on another thread.
  std::atomic<bool> waiting{false};    // one waiting task per set; a second is a bug in the caller
  std::atomic<bool> destroyed{false};  // the signal_set went while a task waited
};

namespace {

std::string signal_name(int s) {
  const char* abbrev = s > 0 && s < NSIG ? ::sigabbrev_np(s) : nullptr;
  return abbrev ? fmt::format("{} (SIG{})", s, abbrev) : std::to_string(s);
}

}  // namespace

signal_set::signal_set(std::initializer_list<int> signals)
    : signal_set(std::vector<int>(signals.begin(), signals.end())) {}

signal_set::signal_set(const std::vector<int>& signals)
    : impl_(std::make_shared<impl>(detail::home_for_new_socket("signal_set"))) {
  for (int s : signals) {
    boost::system::error_code ec;
    impl_->set.add(s, ec);
    if (ec) {
      // SIGKILL and SIGSTOP cannot be caught; 0 and numbers past NSIG are no signals.
      std::string what = fmt::format("signal_set: cannot watch signal {}", signal_name(s));  // prefixed "weft::net::"
      detail::throw_net_error(detail::to_std(ec), what.c_str());
    }
  }
}

signal_set::signal_set(signal_set&&) noexcept = default;
signal_set& signal_set::operator=(signal_set&& other) noexcept {
  if (this != &other) {
    signal_set gone(std::move(*this));  // ends a wait on what we held
    impl_ = std::move(other.impl_);
  }
  return *this;
}
signal_set::~signal_set() {
  // A waiting task holds the impl too: end its wait (it sees the set gone).
  if (!impl_) return;
  impl_->destroyed.store(true, std::memory_order_release);
  boost::system::error_code ec;
  impl_->set.cancel(ec);
}

task<int> signal_set::wait() {
  if (!impl_) throw runtime_misuse("weft::net::signal_set::wait: this set was moved from");
  if (impl_->waiting.exchange(true, std::memory_order_acquire))
    throw runtime_misuse(
        "weft::net::signal_set::wait: another task is already waiting on this set (one waiter per set)");
  std::shared_ptr<impl> self = impl_;  // the set may be destroyed while we wait
  struct waiting_scope {
    impl& i;
    ~waiting_scope() { i.waiting.store(false, std::memory_order_release); }
  } scope{*self};
  auto [ec, sig] = co_await self->set.async_wait(weft::use_task_nothrow);
  if (self->destroyed.load(std::memory_order_acquire))
    throw net_error(detail::to_std(ec ? ec : boost::asio::error::operation_aborted),
                    "weft::net::signal_set::wait: the set was destroyed while waiting");
  if (ec) detail::throw_net_error(detail::to_std(ec), "signal_set::wait");
  co_return sig;
}

task<int> wait_for_signal(std::vector<int> signals) {
  signal_set set(signals);
  co_return co_await set.wait();
}

}  // namespace weft::net
