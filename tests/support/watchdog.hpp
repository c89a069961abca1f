// A test that hangs aborts with its name instead of sitting until the test
// runner's timeout: the watchdog's thread waits for the scope to end and
// calls std::abort() (after printing `what` and, if given, `state()`) when
// it does not within `limit`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace weft_test {

class watchdog {
 public:
  watchdog(std::chrono::seconds limit, const char* what, std::function<std::string()> state = {})
      : thread_([this, limit, what, state = std::move(state)] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: \"%s\" still running after %lld s, aborting. %s\n", what,
                         static_cast<long long>(limit.count()), state ? state().c_str() : "");
            std::abort();
          }
        }) {}
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: starts once the fields above exist
};

}  // namespace weft_test
