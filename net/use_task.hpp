// weft::use_task: a completion token that lets any Asio-based library's
// asynchronous operation be co_awaited inside a weft task.
//
//   std::size_t n = co_await boost::asio::async_read(sock, buf, weft::use_task);
//   co_await boost::beast::http::async_write(stream, response, weft::use_task);
//   auto [ec, n] = co_await sock.async_read_some(buf, weft::use_task_nothrow);
//   auto [ec, n] = co_await sock.async_read_some(buf, boost::asio::as_tuple(weft::use_task));
//   n = co_await sock.async_read_some(buf, boost::asio::redirect_error(weft::use_task, ec));
//
// Results. For a completion signature void(error_code, T...) (or
// void(exception_ptr, T...)), co_await returns nothing, T, or
// std::tuple<T...>; a failure is thrown as boost::system::system_error (or
// the exception). use_task_nothrow returns every argument instead, the
// error_code first (an error_code alone for void(error_code)).
//
// Asio's own behaviour carries over: an Asio socket that has reported eof
// can leave a later async_read_some waiting for good (plain Asio does the
// same); stop reading at eof. (weft's own read_some returns 0 again.)
//
// Where things run. The operation starts on the awaiting task's thread
// (inside await_suspend); its completion handler runs wherever the
// operation's executor runs it, normally the home worker of the I/O object,
// and wakes the task there. Give Asio objects a weft worker's executor
// (net/asio.hpp: weft::net::next_io_executor(), into_asio).
//
// Cancellation. The handler has a per-operation cancellation slot. When the
// task is aborted (join_handle::abort, weft::timeout, when_any) the hook
// does not emit on the slot itself: the operation's internal state may be
// in use on its executor's thread at that moment (a composed operation
// between two steps). It posts the emit to the operation's executor (the
// one Asio asked our handler to run on, recorded when the operation
// queries it) and the emit there checks that the operation has not
// completed yet. The task is woken by whichever of the completion and the
// posted emit comes second, so the awaiter in the task's frame stays valid
// for both. If the operation then fails, co_await throws weft::cancelled
// (in both token flavours); if it succeeded the result is returned and the
// next await throws. An operation that ignores cancellation simply
// completes in its own time. If the executor's io_context may be run by
// several threads at once (weft's reactor rescue), only strands give Asio
// composed operations the serialisation they need; that caveat is Asio's.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <net/detail/op_allocator.hpp>
#include <runtime/detail/promise_base.hpp>
#include <runtime/errors.hpp>

namespace weft {

struct use_task_t {
  constexpr use_task_t() noexcept {}
};
struct use_task_nothrow_t {
  constexpr use_task_nothrow_t() noexcept {}
};

inline constexpr use_task_t use_task{};
inline constexpr use_task_nothrow_t use_task_nothrow{};

namespace net::detail {

template <class Aw>
struct use_task_handler;

template <class... T>
struct pack_result {
  using type = std::tuple<T...>;
};
template <class T>
struct pack_result<T> {
  using type = T;
};
template <>
struct pack_result<> {
  using type = void;
};

template <class... A>
struct first_arg {
  using type = void;
};
template <class A0, class... A>
struct first_arg<A0, A...> {
  using type = A0;
};

template <class T>
inline constexpr bool is_error_code_v = std::is_same_v<std::decay_t<T>, boost::system::error_code>;
template <class T>
inline constexpr bool is_exception_ptr_v = std::is_same_v<std::decay_t<T>, std::exception_ptr>;

// The error_code of a result, if it has one: the first argument, or the
// first element of a tuple that is the only argument (as_tuple).
template <class T>
const boost::system::error_code* error_of(const T& v) noexcept {
  if constexpr (is_error_code_v<T>) {
    return &v;
  } else {
    return nullptr;
  }
}
template <class... E>
const boost::system::error_code* error_of(const std::tuple<E...>& t) noexcept {
  if constexpr (sizeof...(E) > 0) {
    if constexpr (is_error_code_v<std::tuple_element_t<0, std::tuple<E...>>>) return &std::get<0>(t);
  }
  return nullptr;
}

template <bool Throw, class Init, class InitArgs, class... Args>
class asio_awaiter : public weft::detail::cancel_hook {
  using first = typename first_arg<std::decay_t<Args>...>::type;
  static constexpr bool strip_first =
      Throw && (is_error_code_v<first> || is_exception_ptr_v<first>);

  template <std::size_t... I>
  static auto tail_type(std::index_sequence<I...>)
      -> pack_result<std::tuple_element_t<I + 1, std::tuple<std::decay_t<Args>...>>...>;
  using stripped_result =
      typename decltype(tail_type(std::make_index_sequence<(sizeof...(Args) > 0 ? sizeof...(Args) - 1 : 0)>()))::type;

 public:
  using result_type =
      std::conditional_t<strip_first, stripped_result, typename pack_result<std::decay_t<Args>...>::type>;

  template <class I, class... A>
  explicit asio_awaiter(I&& init, A&&... args)
      : cancel_hook{nullptr}, init_(std::forward<I>(init)), args_(std::forward<A>(args)...) {}
  // Movable until awaited (weft::timeout moves awaitables into a child task).
  asio_awaiter(asio_awaiter&& o) noexcept(std::is_nothrow_move_constructible_v<Init> &&
                                          std::is_nothrow_move_constructible_v<InitArgs>)
      : cancel_hook{nullptr}, init_(std::move(o.init_)), args_(std::move(o.args_)), redirect_(o.redirect_) {}
  asio_awaiter(const asio_awaiter&) = delete;
  asio_awaiter& operator=(const asio_awaiter&) = delete;
  ~asio_awaiter() {
    if (exec_state_.load(std::memory_order_acquire) == captured) destroy_exec_(exec_storage_);
  }

  // Called by associated_executor<use_task_handler>: the first executor
  // Asio asks our handler to run on is the operation's.
  template <class E>
  void note_executor(const E& e) noexcept {
    if constexpr (!std::is_same_v<E, boost::asio::system_executor>) {
      std::uint8_t expected = open;
      if (!exec_state_.compare_exchange_strong(expected, writing, std::memory_order_acquire)) return;
      if constexpr (sizeof(E) <= sizeof(exec_storage_) && alignof(E) <= alignof(std::max_align_t) &&
                    std::is_nothrow_copy_constructible_v<E>) {
        new (exec_storage_) E(e);
        post_emit_ = &post_emit<E>;
        destroy_exec_ = &destroy_exec<E>;
        // release: the copy is complete before anyone sees `captured`.
        exec_state_.store(captured, std::memory_order_release);
      } else {
        exec_state_.store(closed, std::memory_order_release);
      }
    }
  }
  bool await_ready() const noexcept { return false; }

  // redirect_error(use_task, ec): the operation's error_code goes to `ec`
  // instead of being thrown (a cancelled operation still throws cancelled).
  asio_awaiter&& redirect_error_to(boost::system::error_code& ec) && noexcept {
    redirect_ = &ec;
    return std::move(*this);
  }

  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) {
    task_ = weft::detail::running_task(h);
    if (task_->is_cancelled()) {
      cancelled_ = true;
      return false;
    }
    // The hook and the resume point are in place before the operation can
    // complete (possibly on another thread, possibly inside the initiation):
    // a wake while we still run just makes the poller requeue us.
    task_->resume_point = h;
    fire = &on_cancel;
    task_->hook = this;
    try {
      std::apply(
          [&](auto&&... a) { std::move(init_)(use_task_handler<asio_awaiter>{this}, std::move(a)...); },
          std::move(args_));
    } catch (...) {
      task_->hook = nullptr;
      close_capture();
      throw;
    }
    close_capture();
    return true;
  }

  result_type await_resume() {
    task_->hook = nullptr;
    if (cancelled_) throw weft::cancelled{};
    auto& r = *result_;
    // Cancelled and failed: the failure is (most likely) the cancellation.
    if (state_.load(std::memory_order_relaxed) & cancel_posted) {
      bool op_failed = false;
      if constexpr (sizeof...(Args) > 0) {
        if (const boost::system::error_code* ec = error_of(std::get<0>(r))) op_failed = bool(*ec);
        if constexpr (is_exception_ptr_v<first>) op_failed = bool(std::get<0>(r));
      }
      if (op_failed) throw weft::cancelled{};
    }
    if constexpr (strip_first) {
      if constexpr (is_error_code_v<first>) {
        if (redirect_)
          *redirect_ = std::get<0>(r);
        else if (std::get<0>(r))
          throw boost::system::system_error(std::get<0>(r));
      } else {
        if (std::get<0>(r)) std::rethrow_exception(std::get<0>(r));
      }
      return take_from<1>(r, std::make_index_sequence<sizeof...(Args) - 1>());
    } else {
      return take_from<0>(r, std::make_index_sequence<sizeof...(Args)>());
    }
  }

 private:
  template <class>
  friend struct use_task_handler;

  // state_ bits. Written by the completion (any thread), the hook (the
  // thread holding the task) and the posted emit (the executor's thread);
  // acq_rel RMWs order the result and the decision who wakes.
  static constexpr std::uint8_t completed = 1;
  static constexpr std::uint8_t cancel_posted = 2;
  static constexpr std::uint8_t emit_done = 4;
  // exec_state_ values.
  static constexpr std::uint8_t open = 0, writing = 1, captured = 2, closed = 3;

  template <std::size_t Off, std::size_t... I, class Tuple>
  static result_type take_from(Tuple& r, std::index_sequence<I...>) {
    if constexpr (std::is_void_v<result_type>) {
      return;
    } else if constexpr (sizeof...(I) == 1) {
      return std::move(std::get<Off + I>(r)...);
    } else {
      return result_type(std::move(std::get<Off + I>(r))...);
    }
  }

  template <class... A>
  void complete(A&&... a) {
    result_.emplace(std::forward<A>(a)...);
    weft::detail::task_header* t = task_;
    // acq_rel: publishes the result to whoever wakes the task.
    std::uint8_t prev = state_.fetch_or(completed, std::memory_order_acq_rel);
    // A posted emit still to run will wake the task itself: it must find
    // the awaiter alive.
    if (!(prev & cancel_posted) || (prev & emit_done)) weft::detail::wake(t);
  }

  void close_capture() noexcept {
    std::uint8_t expected = open;
    exec_state_.compare_exchange_strong(expected, closed, std::memory_order_acq_rel);
  }

  template <class E>
  static void post_emit(void* storage, asio_awaiter* self) {
    boost::asio::post(*std::launder(static_cast<E*>(storage)), emit_fn{self});
  }
  template <class E>
  static void destroy_exec(void* storage) noexcept {
    std::launder(static_cast<E*>(storage))->~E();
  }

  struct emit_fn {
    asio_awaiter* self;
    void operator()() const noexcept { self->run_emit(); }
  };

  void run_emit() noexcept {
    weft::detail::task_header* t = task_;
    if (!(state_.load(std::memory_order_acquire) & completed))
      signal_.emit(boost::asio::cancellation_type::terminal);
    std::uint8_t prev = state_.fetch_or(emit_done, std::memory_order_acq_rel);
    // Not completed yet: the completion wakes the task (and may destroy us
    // right after), so nothing here touches *this any more.
    if (prev & completed) weft::detail::wake(t);
  }

  static void on_cancel(weft::detail::cancel_hook* hook) noexcept {
    auto* self = static_cast<asio_awaiter*>(hook);
    std::uint8_t prev = self->state_.fetch_or(cancel_posted, std::memory_order_acq_rel);
    if (prev & completed) return;  // its completion woke (or wakes) the task
    std::uint8_t es;
    while ((es = self->exec_state_.load(std::memory_order_acquire)) == writing) {
    }
    if (es == captured) {
      try {
        self->post_emit_(self->exec_storage_, self);
        return;
      } catch (...) {
        // Could not post (out of memory): emit here, the best left to do.
      }
    }
    self->run_emit();
  }

  Init init_;
  InitArgs args_;
  boost::system::error_code* redirect_ = nullptr;
  weft::detail::task_header* task_ = nullptr;
  bool cancelled_ = false;  // aborted before the operation started
  std::optional<std::tuple<std::decay_t<Args>...>> result_;
  boost::asio::cancellation_signal signal_;
  std::atomic<std::uint8_t> state_{0};
  std::atomic<std::uint8_t> exec_state_{open};
  void (*post_emit_)(void*, asio_awaiter*) = nullptr;
  void (*destroy_exec_)(void*) noexcept = nullptr;
  alignas(std::max_align_t) unsigned char exec_storage_[96];  // any_io_executor: 56, its strand: 72
};

template <class Aw>
struct use_task_handler {
  Aw* self;

  using cancellation_slot_type = boost::asio::cancellation_slot;
  cancellation_slot_type get_cancellation_slot() const noexcept { return self->signal_.slot(); }
  using allocator_type = op_allocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }

  template <class... A>
  void operator()(A&&... a) {
    self->complete(std::forward<A>(a)...);
  }
};

}  // namespace net::detail
}  // namespace weft

namespace boost::asio {

template <class Aw, class Executor>
struct associated_executor<weft::net::detail::use_task_handler<Aw>, Executor> {
  using type = Executor;
  static type get(const weft::net::detail::use_task_handler<Aw>& h,
                  const Executor& ex = Executor()) noexcept {
    h.self->note_executor(ex);
    return ex;
  }
};

template <class... Args>
class async_result<weft::use_task_t, void(Args...)> {
 public:
  template <class Initiation, class... InitArgs>
  static auto initiate(Initiation&& init, weft::use_task_t, InitArgs&&... args) {
    return weft::net::detail::asio_awaiter<true, std::decay_t<Initiation>,
                                           std::tuple<std::decay_t<InitArgs>...>, Args...>(
        std::forward<Initiation>(init), std::forward<InitArgs>(args)...);
  }
};

template <class... Args>
class async_result<weft::use_task_nothrow_t, void(Args...)> {
 public:
  template <class Initiation, class... InitArgs>
  static auto initiate(Initiation&& init, weft::use_task_nothrow_t, InitArgs&&... args) {
    return weft::net::detail::asio_awaiter<false, std::decay_t<Initiation>,
                                           std::tuple<std::decay_t<InitArgs>...>, Args...>(
        std::forward<Initiation>(init), std::forward<InitArgs>(args)...);
  }
};

template <class... Args>
class async_result<redirect_error_t<weft::use_task_t>, void(boost::system::error_code, Args...)> {
 public:
  template <class Initiation, class Token, class... InitArgs>
  static auto initiate(Initiation&& init, Token&& token, InitArgs&&... args) {
    return weft::net::detail::asio_awaiter<true, std::decay_t<Initiation>,
                                           std::tuple<std::decay_t<InitArgs>...>,
                                           boost::system::error_code, Args...>(
               std::forward<Initiation>(init), std::forward<InitArgs>(args)...)
        .redirect_error_to(token.ec_);
  }
};

}  // namespace boost::asio
