// Errors thrown by sync/. All derive from std::exception.
//
// Sending on a closed channel (channel, broadcast, watch) is an error that
// hands the value back: `co_await ch.send(v)` throws weft::channel_closed<T>,
// whose value() is the message that was not sent. Catch the non-template
// weft::closed_error to handle any of them without naming T.
#pragma once

#include <exception>
#include <memory>
#include <utility>

namespace weft {

class closed_error : public std::exception {
 public:
  const char* what() const noexcept override { return "weft: send on a closed channel"; }
};

// Carries the value that could not be sent. Thrown exceptions must be
// copyable, so the value sits behind a shared_ptr: move-only messages
// (unique_ptr, sockets) come back too. The allocation happens only on this
// error path.
template <class T>
class channel_closed : public closed_error {
 public:
  explicit channel_closed(T value) : value_(std::make_shared<T>(std::move(value))) {}
  T& value() const noexcept { return *value_; }

 private:
  std::shared_ptr<T> value_;
};

// Awaiting a shared_future whose promise was destroyed without a value.
class broken_promise : public std::exception {
 public:
  const char* what() const noexcept override {
    return "weft: promise destroyed without setting a value";
  }
};

}  // namespace weft
