package worker

// This file owns the wait times between tasks: WaitTime, the kinds Locust
// has (Between, Constant, ConstantPacing, ConstantThroughput) and each
// user's own copy. taskset.go asks them for the next wait (nextWait).

import (
	"math"
	"math/rand/v2"
	"time"
)

// WaitTime decides how long a user waits after a task, like Locust's
// wait_time. The runtime gives every user its own copy of the wait times
// built here (so [ConstantPacing] keeps its schedule per user); a
// [WaitTimeFunc] is shared as it is, so it should be stateless. For a wait
// with per-user state, give the user a WaitTime method (see [User]).
//
// A wait time is user code: when Next (or a user's WaitTime method) panics, the
// panic is reported as an exception, like a task's, and the user waits one
// second in place of the wait it did not get, then goes on with its next
// task. (Locust's user dies of it instead.)
type WaitTime interface {
	// Next returns the wait after a task that ran for taskTime.
	Next(taskTime time.Duration) time.Duration
}

// WaitTimeFunc adapts a function to [WaitTime], for custom wait times.
type WaitTimeFunc func(taskTime time.Duration) time.Duration

// Next calls f(taskTime).
func (f WaitTimeFunc) Next(taskTime time.Duration) time.Duration { return f(taskTime) }

// Between waits a uniformly random time in [min, max], like Locust's between.
// Any two bounds work, in either order, even ones whose difference does
// not fit in a Duration.
func Between(min, max time.Duration) WaitTime {
	if max < min {
		min, max = max, min
	}
	// The span is max-min in uint64, exact for any two int64s; the sum
	// min+draw wraps back into [min, max].
	span := uint64(max) - uint64(min)
	return WaitTimeFunc(func(time.Duration) time.Duration {
		switch span {
		case 0:
			return min
		case math.MaxUint64:
			return min + time.Duration(rand.Uint64())
		}
		return min + time.Duration(rand.Uint64N(span+1))
	})
}

// Constant always waits d, like Locust's constant.
func Constant(d time.Duration) WaitTime {
	return WaitTimeFunc(func(time.Duration) time.Duration { return d })
}

// ConstantPacing waits so that each of a user's tasks starts d after the
// previous one started, like Locust's constant_pacing. The schedule is the
// user's own and absorbs timer and scheduling delays, so a user runs
// 1/d tasks per second over time; a task that takes longer than d is
// followed by no wait, and the schedule starts again from its end.
func ConstantPacing(d time.Duration) WaitTime {
	return &pacing{every: d}
}

// ConstantThroughput paces a user to perSecond tasks per second, like
// Locust's constant_throughput: ConstantPacing(1s / perSecond).
func ConstantThroughput(perSecond float64) WaitTime {
	if !(perSecond > 0) { // NaN too
		return Constant(0)
	}
	every := float64(time.Second) / perSecond
	if every >= math.MaxInt64 { // a rate so small it overflows: never again
		return ConstantPacing(math.MaxInt64)
	}
	return ConstantPacing(time.Duration(every))
}

// pacing is ConstantPacing's state for one user.
type pacing struct {
	every time.Duration
	next  time.Time // when the next task is due to start
	now   func() time.Time
}

// forUser returns a fresh copy with no schedule yet.
func (p *pacing) forUser() WaitTime { return &pacing{every: p.every, now: p.now} }

// Next returns the time left until the task after this one is due: one
// period after the previous due time, which for the first task is its
// start.
func (p *pacing) Next(taskTime time.Duration) time.Duration {
	now := time.Now()
	if p.now != nil {
		now = p.now()
	}
	if p.next.IsZero() {
		p.next = now.Add(-taskTime)
	}
	p.next = p.next.Add(p.every)
	if !p.next.After(now) {
		// The task overran its slot: go on at once, pacing from here, as
		// Locust does (it never runs tasks back to back to catch up).
		p.next = now
		return 0
	}
	return p.next.Sub(now)
}

// waiterWait is the wait time of a user with a WaitTime method. It calls
// the method only in Next: taking the method value of a nil pointer to a
// user whose method has a value receiver would panic where no one
// recovers.
type waiterWait struct{ w waiter }

func (w waiterWait) Next(taskTime time.Duration) time.Duration { return w.w.WaitTime(taskTime) }

// perUserWait is implemented by wait times with per-user state.
type perUserWait interface {
	forUser() WaitTime
}

// perUser returns w, or a fresh per-user copy of it when it has state.
func perUser(w WaitTime) WaitTime {
	if s, ok := w.(perUserWait); ok {
		return s.forUser()
	}
	return w
}
