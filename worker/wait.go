package worker

import (
	"math/rand/v2"
	"time"
)

// WaitTime decides how long a user waits after a task, like Locust's
// wait_time. Each user gets its own value from the class (see
// [WaitTimeFunc] for stateless ones).
type WaitTime interface {
	// Next returns the wait after a task that ran for taskTime.
	Next(taskTime time.Duration) time.Duration
}

// WaitTimeFunc adapts a function to [WaitTime].
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

// ConstantPacing waits so that a task starts every d, whatever the task
// took (never less than zero), like Locust's constant_pacing.
func ConstantPacing(d time.Duration) WaitTime {
	return WaitTimeFunc(func(taskTime time.Duration) time.Duration {
		return max(d-taskTime, 0)
	})
}

// ConstantThroughput paces a user to perSecond tasks per second, like
// Locust's constant_throughput.
func ConstantThroughput(perSecond float64) WaitTime {
	if perSecond <= 0 {
		return Constant(0)
	}
	return ConstantPacing(time.Duration(float64(time.Second) / perSecond))
}
