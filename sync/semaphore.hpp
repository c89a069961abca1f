// weft::semaphore: a counting semaphore, FIFO-fair.
//
//   weft::semaphore sem{4};                     // constexpr: fine as a global
//   { auto p = co_await sem.acquire(); ... }    // a scoped permit
//   auto p2 = co_await sem.acquire(3);          // several at once
//
// Fast paths: acquire and release are one CAS while nobody waits. Waiters
// are served strictly in arrival order: a request for n permits at the head
// of the queue holds back later smaller ones until n are free.
// Thread safety: acquire from any task on any worker; try_acquire, release
// and available from anywhere.
// Completion: acquire completes when the permits are the caller's. Every
// acquire spends cooperative budget; when it is used up the task yields
// before taking permits (never while holding the new ones).
// Cancellation: an acquire aborted while waiting leaves the queue (waiters
// behind it that now fit are granted) and throws weft::cancelled holding no
// permits. If the permits were granted before the abort took effect, acquire
// returns the permit (released when it is destroyed during unwinding).
// release(n) adds permits whatever the count started at, as asyncio's
// Semaphore (not its BoundedSemaphore) and Tokio's add_permits do.
// Misuse: more than max_permits free permits is an error, as in Tokio: the
// constructor and release throw weft::runtime_misuse rather than let the count
// wrap. (A permit releasing into a semaphore already over-released by hand
// ends in std::terminate: its release is noexcept.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include <runtime/errors.hpp>
#include <sync/detail/semaphore_core.hpp>

namespace weft {

class semaphore {
 public:
  class permit;

 private:
  struct make_permit {
    semaphore* sem;
    permit operator()(std::uint64_t n) const noexcept;
  };

 public:
  using acquire_awaiter = detail::permit_awaiter<permit, make_permit>;
  static constexpr std::size_t max_permits = std::size_t(detail::semaphore_core::max_permits);

  // Throws weft::runtime_misuse for permits > max_permits.
  constexpr explicit semaphore(std::size_t permits) : core_(initial(permits)) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  // co_await: a permit for n (>= 1) permits. Throws weft::runtime_misuse for
  // n == 0 or n > max_permits.
  [[nodiscard]] acquire_awaiter acquire(std::size_t n = 1) {
    check(n);
    return acquire_awaiter(core_, n, make_permit{this});
  }
  // A permit, or an empty one when n are not free (or others wait first).
  [[nodiscard]] permit try_acquire(std::size_t n = 1);
  // Adds n permits (a permit's destructor does this for you). Throws
  // weft::runtime_misuse, adding none, if more than max_permits would be free.
  void release(std::size_t n = 1) {
    if (n && !core_.release(n)) [[unlikely]]
      throw runtime_misuse("weft::semaphore::release: more than max_permits permits would be free "
                           "(released more than were acquired?)");
  }
  // Free permits now.
  std::size_t available() const noexcept { return std::size_t(core_.available()); }

 private:
  friend struct detail::sync_probe;
  std::size_t waiter_count_() const noexcept { return core_.waiter_count(); }
  static constexpr std::size_t initial(std::size_t permits) {
    if (permits > max_permits) throw runtime_misuse("weft::semaphore: more than max_permits permits");
    return permits;
  }
  static void check(std::size_t n) {
    if (n == 0 || n > max_permits)
      throw runtime_misuse("weft::semaphore: acquire needs 1 to max_permits permits");
  }

  detail::semaphore_core core_;
};

class semaphore::permit {
 public:
  permit() noexcept = default;
  permit(permit&& o) noexcept : sem_(std::exchange(o.sem_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  permit& operator=(permit&& o) noexcept {
    if (this != &o) {
      release();
      sem_ = std::exchange(o.sem_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  ~permit() { release(); }

  std::size_t count() const noexcept { return n_; }
  explicit operator bool() const noexcept { return n_ != 0; }
  // Gives the permits back now.
  void release() noexcept {
    if (sem_) std::exchange(sem_, nullptr)->release(std::exchange(n_, 0));
  }
  // Keeps the permits out of the semaphore for good.
  void forget() noexcept {
    sem_ = nullptr;
    n_ = 0;
  }

 private:
  friend class semaphore;
  permit(semaphore* s, std::size_t n) noexcept : sem_(s), n_(n) {}
  semaphore* sem_ = nullptr;
  std::size_t n_ = 0;
};

inline semaphore::permit semaphore::make_permit::operator()(std::uint64_t n) const noexcept {
  return permit(sem, std::size_t(n));
}

inline semaphore::permit semaphore::try_acquire(std::size_t n) {
  check(n);
  return core_.try_acquire(n) ? permit(this, n) : permit();
}

}  // namespace weft
