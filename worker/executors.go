package worker

// This file owns the pool's idle executors: where a user whose wait is
// over finds a goroutine to run on, and when a goroutine that has had no
// user to run for a while exits. userloop.go owns what an executor does
// with a user.
//
// Earlier, idle executors waited on one shared channel and a timer each,
// set anew after every user: starting a million users, the timers' heap
// (0.94 s) and the two-channel select (2.12 s) were a quarter of the 12.6
// CPU-seconds of a profile. Now an idle executor
// waits on a channel of its own, in a list the pool hands users from, and
// one timer per pool retires the executors idle longest.

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

// idleExecutors are the executors waiting for a user, the most recently
// idle last: it gets the next user (its stack is the warmest), and the
// ones idle longest are the first to exit. A timer ticks every idle
// period while some executor is idle; at each tick the executors idle
// since before the previous tick, a whole period at least, exit: an
// executor exits between one and two periods after its last user.
type idleExecutors struct {
	mu      sync.Mutex
	list    []*executor // idleSince never decreases along it
	tick    uint64
	timer   *time.Timer
	period  time.Duration // the timer's, set when it is set
	ticking bool          // the timer is set
}

// take returns the executor idle the shortest time, which the caller
// must hand a user, or nil when none is idle.
func (x *idleExecutors) take() *executor {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := len(x.list)
	if n == 0 {
		return nil
	}
	e := x.list[n-1]
	x.list[n-1] = nil
	x.list = x.list[:n-1]
	return e
}

// put lists e as idle; it exits after between one and two periods idle.
func (x *idleExecutors) put(e *executor, period time.Duration) {
	x.mu.Lock()
	defer x.mu.Unlock()
	e.idleSince = x.tick
	x.list = append(x.list, e)
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
	x.ticking = len(x.list) > 0
	if x.ticking {
		x.timer.Reset(x.period)
	}
}

// retireLocked counts a tick and tells the executors idle since before
// the previous tick to exit.
func (x *idleExecutors) retireLocked() {
	x.tick++
	n := 0
	for n < len(x.list) && x.list[n].idleSince+2 <= x.tick {
		x.list[n].next <- nil
		n++
	}
	left := copy(x.list, x.list[n:])
	clear(x.list[left:])
	x.list = x.list[:left]
}
