// detail::parallel_workers(): whether spinning for another task can pay off.
//
// A bounded channel in steady state is full: producers outrun the consumer.
// If a sender that finds it full queues and suspends, every message the
// consumer takes then costs a settle under the lock and a wake-up (which
// moves the sender to the consumer's worker). With the consumer running on
// another worker a slot frees within tens of nanoseconds, so the sender
// spins briefly first, and only while the consumer visibly makes progress.
// On a one-worker runtime the other side cannot run while we spin: never.
#pragma once

namespace weft::detail {

// True when the current thread is a worker of a runtime with more than one
// worker. Out of line: the scheduler header is heavy.
bool parallel_workers() noexcept;

}  // namespace weft::detail
