// runtime_config: how a weft::runtime is set up. Every field has a default
// that suits a server; environment variables override where noted.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

namespace weft {

struct runtime_config {
  // Worker threads, at most 4096. 0: the WEFT_WORKER_THREADS environment
  // variable if set, else one per CPU the constructing thread may run on
  // (its affinity mask: taskset and cpusets count, as for Go's GOMAXPROCS).
  std::size_t worker_threads = 0;
  // Name of the worker threads as the OS shows it, suffixed with the index
  // ("-3"); the OS keeps 15 characters, so a longer name is cut before the
  // suffix. Empty: "weft-worker".
  std::string thread_name = "weft-worker";
  // Pin worker i to the i-th CPU the constructing thread may run on (mod
  // their number): pinned workers stay inside taskset or a cpuset.
  bool pin_threads = false;
  // The tuning fields below take 0 as 1 (event_interval,
  // global_queue_interval, budget, max_blocking_threads), and a
  // reactor_rescue_after of 0 or less as 100 us.
  // A worker polls its io_context without blocking every this many polls.
  std::uint32_t event_interval = 61;
  // A worker checks the shared inject queue first every this many polls.
  std::uint32_t global_queue_interval = 31;
  // Operations that complete without waiting a task may do per poll before
  // it is made to yield.
  std::uint32_t budget = 128;
  // Channel, lock and event operations cost tens of nanoseconds, so a task
  // doing only those spends `budget` in a microsecond or two, and yielding
  // that often costs more than the work (with tasks on two cores, each yield
  // is a chance for the peer to steal one and for the cache lines between
  // them to cross cores). Such a task, once its budget is spent, goes on
  // budget after budget until this long has passed; I/O and timer
  // operations still make it yield at `budget`. Zero: yield at `budget`.
  std::chrono::microseconds sync_slice{100};
  // Consecutive polls from the LIFO slot before a woken task goes to the
  // queue. Longer chains keep a message-passing pair hot in the cache (with
  // 1,000 ping-pong pairs, 3 -> 16: +12% at one worker, +23% at two);
  // shorter ones let the rest of the queue in sooner.
  std::uint32_t max_lifo_polls = 16;
  // An idle worker polls a busy peer's io_context, and takes the task in its
  // LIFO slot, when the peer has been in one poll for this long (a long task
  // must not hold its sockets, timers and newest task hostage). It is also
  // the period at which that idle worker, the watcher, wakes to look while
  // any worker is awake. 500 us against 2 ms: the two-worker echo server
  // 1.07x the round trips, 1.05x per server CPU second (bench/HISTORY.md);
  // the watcher costs ~1.5% of a core while a peer is busy (0.8% at 2 ms),
  // nothing when every worker sleeps; but at a moderate load, where workers
  // park and wake all the time (HTTP at wrk -c4), ~20% of the server's CPU
  // per request (9.5-10.0 us against 7.9-8.0 us with the watcher off).
  // Switched off, though, the two-worker echo server lost a quarter of its
  // round trips, and its workers parked ten times as often (HISTORY.md).
  std::chrono::microseconds reactor_rescue_after{500};
  // The spawn_blocking pool: at most this many threads, each leaving after
  // being idle for blocking_keep_alive.
  std::size_t max_blocking_threads = 512;
  std::chrono::milliseconds blocking_keep_alive{10000};
  // Record a trace to this file (see runtime/trace/FORMAT.md and
  // tools/weft-trace). Empty: the WEFT_TRACE environment variable, if set.
  // A file another runtime of this process traces to now, or an earlier
  // runtime's file from WEFT_TRACE, is not overwritten: this runtime then
  // writes a numbered sibling (run.wtrace -> run.2.wtrace), said on stderr.
  std::string trace_path;
  // Flight recorder: keep only the last this-many seconds of trace in memory
  // and write them on runtime::dump_trace() or SIGUSR2 (to
  // "<trace_path>.<unix time>.wtrace", or "...<unix time>-2.wtrace" and on
  // for more in one second; every flight-recording runtime dumps, and a
  // SIGUSR2 handler installed before is still called, and is put back when
  // the last such runtime goes). 0: the WEFT_TRACE_FLIGHT environment
  // variable if set, else stream the whole trace to trace_path. Memory bounds
  // it too: each worker keeps at most 2 MiB of records (32 chunks of 64 KiB),
  // so a worker polling flat out keeps its last few tens of milliseconds; it
  // loses its oldest records first.
  std::chrono::seconds trace_flight_recorder{0};
};

}  // namespace weft
