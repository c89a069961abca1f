// weft::rwlock: an async reader-writer lock, FIFO-fair.
//
//   weft::rwlock rw;                            // constexpr: fine as a global
//   { auto r = co_await rw.read(); ... }        // shared
//   { auto w = co_await rw.write(); ... }       // exclusive
//
// Built on the FIFO permit pool of weft::semaphore: a reader takes one of
// max_readers permits, a writer takes all of them. Waiters are served in
// arrival order, so a waiting writer holds back readers that come after it
// (writers are not starved) and readers queued together are let in together.
// Uncontended read, write and unlock are one CAS each.
// Thread safety: from any task on any worker; guards from whoever holds them.
// Completion: read/write complete when the caller holds the lock. Each
// spends cooperative budget; when it is used up the task yields before
// taking the lock (never while holding it).
// Cancellation: as weft::mutex: aborted while waiting, read/write leave the
// queue and throw weft::cancelled holding nothing; if the lock was granted
// before the abort took effect they return the guard (released on unwind).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include <sync/detail/semaphore_core.hpp>

namespace weft {

class rwlock {
 public:
  static constexpr std::uint64_t max_readers = std::uint64_t{1} << 32;

  // Releases what it holds (1 permit for a reader, all for a writer).
  template <std::uint64_t Permits>
  class basic_guard {
   public:
    basic_guard() noexcept = default;
    basic_guard(basic_guard&& o) noexcept : rw_(std::exchange(o.rw_, nullptr)) {}
    basic_guard& operator=(basic_guard&& o) noexcept {
      if (this != &o) {
        unlock();
        rw_ = std::exchange(o.rw_, nullptr);
      }
      return *this;
    }
    ~basic_guard() { unlock(); }
    bool owns_lock() const noexcept { return rw_ != nullptr; }
    explicit operator bool() const noexcept { return owns_lock(); }
    void unlock() noexcept {
      if (rw_) std::exchange(rw_, nullptr)->core_.release(Permits);
    }

   private:
    friend class rwlock;
    explicit basic_guard(rwlock* rw) noexcept : rw_(rw) {}
    rwlock* rw_ = nullptr;
  };
  using read_guard = basic_guard<1>;
  using write_guard = basic_guard<max_readers>;

 private:
  template <class Guard>
  struct make_guard {
    rwlock* rw;
    Guard operator()(std::uint64_t) const noexcept { return Guard(rw); }
  };

 public:
  using read_awaiter = detail::permit_awaiter<read_guard, make_guard<read_guard>>;
  using write_awaiter = detail::permit_awaiter<write_guard, make_guard<write_guard>>;

  constexpr rwlock() noexcept : core_(max_readers) {}
  rwlock(const rwlock&) = delete;
  rwlock& operator=(const rwlock&) = delete;

  // co_await: a read_guard (shared with other readers).
  [[nodiscard]] read_awaiter read() noexcept {
    return read_awaiter(core_, 1, make_guard<read_guard>{this});
  }
  // co_await: a write_guard (exclusive).
  [[nodiscard]] write_awaiter write() noexcept {
    return write_awaiter(core_, max_readers, make_guard<write_guard>{this});
  }
  // Owning guards, or empty ones when the lock is not free now (or others
  // wait first).
  [[nodiscard]] read_guard try_read() noexcept {
    return core_.try_acquire(1) ? read_guard(this) : read_guard();
  }
  [[nodiscard]] write_guard try_write() noexcept {
    return core_.try_acquire(max_readers) ? write_guard(this) : write_guard();
  }

 private:
  friend struct detail::sync_probe;
  std::size_t waiter_count_() const noexcept { return core_.waiter_count(); }

  detail::semaphore_core core_;
};

}  // namespace weft
