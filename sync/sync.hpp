// Umbrella header of sync/: channels, oneshot, promise/shared_future,
// broadcast, watch, mutex, rwlock, semaphore, event, barrier, latch,
// condition_variable.
#pragma once
