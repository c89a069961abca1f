// Helpers shared by the tests: a runtime with a given number of workers, and
// an RAII counter to check that destructors ran.
#pragma once

#include <atomic>
#include <chrono>

#include <runtime/runtime.hpp>

namespace weft_test {

inline weft::runtime_config workers(std::size_t n) {
  weft::runtime_config cfg;
  cfg.worker_threads = n;
  return cfg;
}

// Counts live instances; a test checks the count drops back to zero.
struct alive_counter {
  std::atomic<int>* n;
  explicit alive_counter(std::atomic<int>& c) : n(&c) { ++*n; }
  alive_counter(const alive_counter&) = delete;
  ~alive_counter() { --*n; }
};

// A movable alive_counter, for coroutine parameters (moved into the frame).
struct ticket {
  std::atomic<int>* n;
  explicit ticket(std::atomic<int>& c) noexcept : n(&c) { ++*n; }
  ticket(ticket&& o) noexcept : n(o.n) { ++*n; }
  ~ticket() { --*n; }
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif

inline std::chrono::milliseconds ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
}

}  // namespace weft_test
