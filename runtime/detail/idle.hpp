// Who is parked and who is searching. Bounds the number of workers hunting
// for work at once (at most half of them) and picks one sleeper to wake.
//
// `state_` packs the number of unparked workers (high 16 bits) and of
// searching workers (low 16 bits). Changes that add or remove sleepers happen
// under `mutex_`; the fast checks read `state_` alone. seq_cst throughout: a
// worker's "am I the last searcher, then re-check the queues" must not miss a
// task pushed by a notifier that read "someone is searching".
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace weft::detail {

class idle_set {
 public:
  static constexpr std::size_t none = ~std::size_t{0};

  explicit idle_set(std::size_t workers) : workers_(workers) {
    state_.store(pack(std::uint32_t(workers), 0));
    sleepers_.reserve(workers);
  }

  // A worker to unpark for new work, already counted as unparked and
  // searching, or `none` when someone is searching or everyone is awake.
  std::size_t worker_to_notify() {
    if (!should_notify()) return none;
    std::lock_guard lock(mutex_);
    if (!should_notify() || sleepers_.empty()) return none;
    state_.fetch_add(pack(1, 1));
    std::size_t w = sleepers_.back();
    sleepers_.pop_back();
    return w;
  }

  bool try_become_searcher() {
    std::uint32_t s = state_.load();
    if (2 * searching(s) >= workers_) return false;
    state_.fetch_add(pack(0, 1));
    return true;
  }

  // Returns true if this was the last searching worker.
  bool stop_searching() { return searching(state_.fetch_sub(pack(0, 1))) == 1; }

  // Returns true if the worker was the last searcher (it must then re-check
  // every queue before sleeping).
  bool park(std::size_t worker, bool was_searching) {
    std::lock_guard lock(mutex_);
    std::uint32_t prev = state_.fetch_sub(pack(1, was_searching ? 1 : 0));
    sleepers_.push_back(worker);
    return was_searching && searching(prev) == 1;
  }

  // A parked worker woke without being notified (I/O, a timer, a timeout):
  // take it off the sleepers. Returns how many workers were unparked before
  // it, or -1 if a notifier had already taken it off (and counted it as
  // unparked and searching).
  int unpark_self(std::size_t worker) {
    std::lock_guard lock(mutex_);
    auto it = std::find(sleepers_.begin(), sleepers_.end(), worker);
    if (it == sleepers_.end()) return -1;
    sleepers_.erase(it);
    return int(state_.fetch_add(pack(1, 0)) >> 16);
  }

  std::uint32_t unparked() const { return state_.load() >> 16; }
  std::uint32_t searching_count() const { return searching(state_.load()); }

 private:
  static std::uint32_t pack(std::uint32_t unparked, std::uint32_t searching) {
    return (unparked << 16) | searching;
  }
  static std::uint32_t searching(std::uint32_t s) { return s & 0xffff; }
  bool should_notify() const {
    std::uint32_t s = state_.load();
    return searching(s) == 0 && (s >> 16) < workers_;
  }

  const std::size_t workers_;
  std::atomic<std::uint32_t> state_;
  std::mutex mutex_;
  std::vector<std::size_t> sleepers_;
};

}  // namespace weft::detail
