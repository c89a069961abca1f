// Umbrella header of sync/: channels, oneshot, promise/shared_future,
// broadcast, watch, mutex, rwlock, semaphore, event, barrier, latch,
// condition_variable.
//
// Every primitive here can be constructed with no runtime around (as a
// global), is awaited from weft tasks on any worker, keeps its waiters
// inside the awaiting coroutine frames (no allocation per wait), leaves its
// queue cleanly when a waiting task is aborted, and spends cooperative budget
// when it completes without waiting. Which operations lose what on
// cancellation is stated at the top of each header.
#pragma once

#include <sync/barrier.hpp>
#include <sync/broadcast.hpp>
#include <sync/channel.hpp>
#include <sync/condition_variable.hpp>
#include <sync/errors.hpp>
#include <sync/event.hpp>
#include <sync/latch.hpp>
#include <sync/mutex.hpp>
#include <sync/oneshot.hpp>
#include <sync/promise.hpp>
#include <sync/rwlock.hpp>
#include <sync/semaphore.hpp>
#include <sync/try_result.hpp>
#include <sync/watch.hpp>
