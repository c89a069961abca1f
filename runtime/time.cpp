#include <runtime/time.hpp>

#include <new>

#include <boost/asio/steady_timer.hpp>

#include <runtime/detail/scheduler.hpp>
#include <runtime/errors.hpp>
#include <runtime/yield.hpp>

namespace weft::detail {
namespace {
using timer_type = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>,
    boost::asio::io_context::executor_type>;

// Timers fire on 1 ms ticks, as in Tokio's timer wheel: a deadline is rounded
// up to the next whole millisecond of the steady clock, so that sleeps due
// within one millisecond expire in one batch. Every distinct expiry costs the
// reactor a timerfd re-arm, a system call (and on a virtual machine an exit
// to the host): 100,000 sleeps spread over 100 ms made 8,000 of them, and the
// kernel's share of the run was half.
clock::time_point on_tick(clock::time_point t) noexcept {
  if (t > clock::time_point::max() - std::chrono::milliseconds(1)) return t;  // "never"
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(t.time_since_epoch());
  return clock::time_point(std::chrono::duration_cast<clock::duration>(ms));
}
}  // namespace

struct sleep_handler {
  sleep_awaitable* self;
  void operator()(const boost::system::error_code& ec) const noexcept {
    sleep_awaitable::on_fire(self, ec == boost::asio::error::operation_aborted);
  }
};

static timer_type& timer_of(unsigned char* storage) {
  static_assert(sizeof(timer_type) <= 96, "grow sleep_awaitable::timer_");
  static_assert(alignof(timer_type) <= 16);
  return *std::launder(reinterpret_cast<timer_type*>(storage));
}

sleep_awaitable::~sleep_awaitable() {
  if (armed_) timer_of(timer_).~timer_type();
}

bool sleep_awaitable::start(task_header* t, std::coroutine_handle<> h) {
  task_ = t;
  if (t->is_cancelled()) {
    cancelled_ = true;
    return false;
  }
  if (clock::now() >= deadline_) {
    if (!spend_budget(t)) return false;
    // Out of budget: complete, but let others run first.
    yielded_ = true;
    yield_self(t, h);
    return true;
  }
  worker* w = current_worker();
  if (!w) throw runtime_misuse("weft::sleep: not on a worker thread");
  new (timer_) timer_type(w->io().get_executor(), on_tick(deadline_));
  armed_ = true;
  t->resume_point = h;
  t->wait_kind = wait_kind::timer;
  fire = &on_cancel;
  t->hook = this;
  timer_of(timer_).async_wait(sleep_handler{this});
  return true;
}

void sleep_awaitable::on_cancel(cancel_hook* hook) noexcept {
  // Runs on the thread that owns the task; the timer's handler may be
  // running elsewhere right now, which Asio's reactor lock makes safe: the
  // wait either completes normally or with operation_aborted, once.
  auto* self = static_cast<sleep_awaitable*>(hook);
  timer_of(self->timer_).cancel();
}

void sleep_awaitable::on_fire(sleep_awaitable* self, bool aborted) noexcept {
  if (aborted) self->cancelled_ = true;
#if WEFT_TRACING
  if (self->task_->sched->tracer()) [[unlikely]]
    self->task_->sched->trace_event(trace::event::timer_fire, aborted ? 1 : 0, 0, 0, self->task_->id, 0);
#endif
  wake(self->task_);
}

void sleep_awaitable::await_resume() {
  if (task_) task_->hook = nullptr;
  if (cancelled_) throw cancelled{};
}

}  // namespace weft::detail
