// Results of the non-waiting operations (try_send, try_recv, oneshot send).
// A send that did not happen hands its value back in the result, so nothing
// is dropped silently.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include <runtime/errors.hpp>

namespace weft {

enum class send_status : std::uint8_t {
  sent,    // the message is in the channel (or with a receiver)
  full,    // bounded and full: try again, or co_await send
  closed,  // the channel was closed (or the receiver is gone): it never will be
};

template <class T>
class try_send_result {
 public:
  try_send_result() noexcept : status_(send_status::sent) {}
  try_send_result(send_status s, T value) : status_(s), value_(std::move(value)) {}

  send_status status() const noexcept { return status_; }
  bool sent() const noexcept { return status_ == send_status::sent; }
  bool full() const noexcept { return status_ == send_status::full; }
  bool closed() const noexcept { return status_ == send_status::closed; }
  explicit operator bool() const noexcept { return sent(); }

  // The message handed back when it was not sent.
  T& value() & {
    check();
    return *value_;
  }
  T&& value() && {
    check();
    return std::move(*value_);
  }

 private:
  void check() const {
    if (!value_) throw runtime_misuse("weft::try_send_result: the value was sent, nothing to hand back");
  }
  send_status status_;
  std::optional<T> value_;
};

enum class recv_status : std::uint8_t {
  received,  // a value
  empty,     // nothing now; more may come
  closed,    // closed and drained (or the sender is gone): nothing ever will
};

template <class T>
class try_recv_result {
 public:
  explicit try_recv_result(recv_status s) noexcept : status_(s) {}
  explicit try_recv_result(T value) : status_(recv_status::received), value_(std::move(value)) {}

  recv_status status() const noexcept { return status_; }
  bool has_value() const noexcept { return status_ == recv_status::received; }
  bool empty() const noexcept { return status_ == recv_status::empty; }
  bool closed() const noexcept { return status_ == recv_status::closed; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    check();
    return *value_;
  }
  T&& value() && {
    check();
    return std::move(*value_);
  }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  // As an optional (empty when nothing was received).
  std::optional<T> take() && { return std::move(value_); }

 private:
  void check() const {
    if (!value_) throw runtime_misuse("weft::try_recv_result: no value was received");
  }
  recv_status status_;
  std::optional<T> value_;
};

}  // namespace weft
