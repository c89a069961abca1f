#include <net/signal.hpp>

#include <boost/asio/signal_set.hpp>

#include <net/detail/socket_core.hpp>
#include <net/error.hpp>
#include <net/use_task.hpp>

namespace weft::net {

struct signal_set::impl {
  explicit impl(boost::asio::io_context& io) : set(io.get_executor()) {}
  boost::asio::basic_signal_set<detail::io_executor> set;
};

signal_set::signal_set(std::initializer_list<int> signals)
    : signal_set(std::vector<int>(signals.begin(), signals.end())) {}

signal_set::signal_set(const std::vector<int>& signals)
    : impl_(std::make_unique<impl>(detail::home_for_new_socket("signal_set"))) {
  for (int s : signals) {
    boost::system::error_code ec;
    impl_->set.add(s, ec);
    if (ec) detail::throw_net_error(detail::to_std(ec), "signal_set::add");
  }
}

signal_set::signal_set(signal_set&&) noexcept = default;
signal_set& signal_set::operator=(signal_set&&) noexcept = default;
signal_set::~signal_set() = default;

task<int> signal_set::wait() {
  auto [ec, sig] = co_await impl_->set.async_wait(weft::use_task_nothrow);
  if (ec) detail::throw_net_error(detail::to_std(ec), "signal_set::wait");
  co_return sig;
}

task<int> wait_for_signal(std::vector<int> signals) {
  signal_set set(signals);
  co_return co_await set.wait();
}

}  // namespace weft::net
