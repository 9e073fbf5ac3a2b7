package worker

import (
	"math/rand/v2"
	"time"
)

// WaitTime decides how long a user waits after a task, like Locust's
// wait_time. The runtime gives every user its own copy of the wait times
// built here (so [ConstantPacing] keeps its schedule per user); a
// [WaitTimeFunc] is shared as it is, so it should be stateless. For a wait
// with per-user state, implement [Waiter] on the user.
type WaitTime interface {
	// Next returns the wait after a task that ran for taskTime.
	Next(taskTime time.Duration) time.Duration
}

// WaitTimeFunc adapts a function to [WaitTime], for custom wait times.
type WaitTimeFunc func(taskTime time.Duration) time.Duration

// Next calls f(taskTime).
func (f WaitTimeFunc) Next(taskTime time.Duration) time.Duration { return f(taskTime) }

// Between waits a uniformly random time in [min, max], like Locust's between.
func Between(min, max time.Duration) WaitTime {
	if max < min {
		min, max = max, min
	}
	return WaitTimeFunc(func(time.Duration) time.Duration {
		if max == min {
			return min
		}
		return min + rand.N(max-min+1)
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
	if perSecond <= 0 {
		return Constant(0)
	}
	return ConstantPacing(time.Duration(float64(time.Second) / perSecond))
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
