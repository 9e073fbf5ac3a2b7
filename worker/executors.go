package worker

// This file owns the pool's idle executors: where a user whose wait is
// over finds a goroutine to run on, and when a goroutine that has had no
// user to run for a while exits. userloop.go owns what an executor does
// with a user.
//
// Earlier, idle executors waited on one shared channel and a timer each,
// set anew after every user: starting a million users, the timers' heap
// (0.94 s) and the two-channel select (2.12 s) were a quarter of the 12.6
// CPU-seconds of a profile. Now an idle executor waits on a channel of
// its own, in a queue the pool hands users from, and one timer per pool
// retires the executors idle longest.
//
// The queue is first in, first out, as the shared channel's receivers
// were: a user goes to the executor idle longest, so an executor retires
// only after a whole period in which the pool handed out fewer users than
// it had executors idle. The pool therefore keeps about as many executors
// as it handed users in the last one or two periods (all of them while
// users keep coming, however few run at once), and a burst (a collection,
// a late timer wheel, another process taking the core) of that size finds
// executors ready. Handed most recently idle first (a stack), the
// executors beyond the last instant's need were retired even while users
// came every millisecond, and a burst had to start goroutines, with 16 KB
// of stack each (growStack), just when the worker was behind. With the
// stack, 450,000 users of bench/seed fell into a spiral of stalled
// requests and growing memory in 7 of 22 runs; with the shared channel in
// 2 of 19, with this queue in 0 of 6 (BENCHMARKS.md): suggestive, not
// proof.

import (
	"sync"
	"time"
)

// executor is a goroutine that runs users (pool.executor).
type executor struct {
	// next is the next user to run, or nil: exit. It holds one, so that
	// handing an executor a user never waits.
	next      chan *userRun
	idleSince uint64 // the tick of idleExecutors when it went idle
}

func newExecutor() *executor { return &executor{next: make(chan *userRun, 1)} }

// idleExecutors are the executors waiting for a user, in the order they
// went idle: the one idle longest gets the next user, and is the first to
// exit. A timer ticks every idle period while some executor is idle; at
// each tick the executors idle since before the previous tick, a whole
// period at least, exit: an executor exits between one and two periods
// after its last user.
type idleExecutors struct {
	mu      sync.Mutex
	queue   fifo[*executor] // idleSince never decreasing along it
	tick    uint64
	timer   *time.Timer
	period  time.Duration // the timer's, set when it is set
	ticking bool          // the timer is set
}

// take returns the executor idle the longest time, which the caller must
// hand a user, or nil when none is idle.
func (x *idleExecutors) take() *executor {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.queue.len() == 0 {
		return nil
	}
	return x.queue.pop()
}

// put queues e as idle; it exits after between one and two periods idle.
func (x *idleExecutors) put(e *executor, period time.Duration) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e.idleSince = x.tick
	x.queue.push(e)
	if x.ticking {
		return
	}
	x.ticking, x.period = true, period
	if x.timer == nil {
		x.timer = time.AfterFunc(period, x.onTick)
		return
	}
	x.timer.Reset(period)
}

// onTick is the timer's function: it retires the executors idle for a
// whole period and ticks on while executors are idle.
func (x *idleExecutors) onTick() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.retireLocked()
	x.ticking = x.queue.len() > 0
	if x.ticking {
		x.timer.Reset(x.period)
	}
}

// retireLocked counts a tick and tells the executors idle since before
// the previous tick to exit.
func (x *idleExecutors) retireLocked() {
	x.tick++
	for x.queue.len() > 0 && x.queue.front().idleSince+2 <= x.tick {
		x.queue.pop().next <- nil
	}
}
