// Waiting for POSIX signals, so a service can shut down gracefully.
//
//   int sig = co_await weft::net::wait_for_signal(SIGINT, SIGTERM);
//
//   weft::net::signal_set signals{SIGINT, SIGTERM};   // installed from here on
//   print_ready_line();                                // a signal now is not lost
//   int sig = co_await signals.wait();
//
// A signal_set installs its handlers when constructed (call it from a task:
// it is homed on a worker's reactor) and counts signals that arrive while
// nobody waits; wait() returns the next one. While any signal_set holds a
// signal, its default action (e.g. terminating on SIGTERM) is suppressed;
// when the last set holding it is destroyed the default comes back.
// wait_for_signal makes a set just for the wait, so a signal arriving before
// the call is not seen; create a signal_set early where that matters.
// (The signals are separate arguments: g++ 12 rejects a braced list such as
// {SIGINT, SIGTERM} anywhere inside a co_await expression.)
// Thread safety: one waiting task per set (a second concurrent wait throws
// weft::runtime_misuse). Cancellation: aborting the waiting task (or
// weft::timeout) ends the wait with weft::cancelled; destroying the set ends
// it with a net_error (operation_canceled). Errors: a signal that cannot be
// caught (SIGKILL, SIGSTOP) or is no signal throws net_error naming it.
#pragma once

#include <csignal>  // SIGINT, SIGTERM, ... for the callers
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <vector>

#include <runtime/task.hpp>

namespace weft::net {

class signal_set {
 public:
  signal_set(std::initializer_list<int> signals);
  explicit signal_set(const std::vector<int>& signals);
  signal_set(signal_set&&) noexcept;
  signal_set& operator=(signal_set&&) noexcept;
  ~signal_set();

  // The number of the next signal delivered to the set.
  [[nodiscard]] task<int> wait();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;  // shared with a waiting task
};

[[nodiscard]] task<int> wait_for_signal(std::vector<int> signals);

template <class... More>
  requires(std::is_convertible_v<More, int> && ...)
[[nodiscard]] task<int> wait_for_signal(int first, More... more) {
  return wait_for_signal(std::vector<int>{first, int(more)...});
}

}  // namespace weft::net
