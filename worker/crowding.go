package worker

// This file owns the fast client's view of whether the process's threads
// are crowded: goroutines waiting to run, at least one per thread. The
// watcher of requests in flight samples it (inflight.watch, httpconns.go);
// a connection reads it before a response (keptConn.Read).

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
)

// crowding is whether the process's threads were crowded at the last two
// samples: one can fall on a burst of goroutines woken together. The zero
// crowding is not crowded.
type crowding struct {
	now    atomic.Bool
	last   bool        // the last sample; only the watcher uses it
	sample func() bool // takes a sample; nil: the runtime's counts (schedSample)
}

// update takes a sample.
func (c *crowding) update(s *schedSample) {
	var crowded bool
	if c.sample != nil {
		crowded = c.sample()
	} else {
		crowded = s.crowded()
	}
	c.now.Store(crowded && c.last)
	c.last = crowded
}

// forget drops the samples: the watcher stops.
func (c *crowding) forget() {
	c.now.Store(false)
	c.last = false
}

// schedSample reads the runtime's count of goroutines waiting to run and
// of threads that run goroutines (GOMAXPROCS): a look at each thread's run
// queue under the scheduler's lock, 70 ns on 2 threads, 360 ns on 64.
type schedSample struct{ samples []metrics.Sample }

func newSchedSample() *schedSample {
	return &schedSample{samples: []metrics.Sample{
		{Name: "/sched/goroutines/runnable:goroutines"},
		{Name: "/sched/gomaxprocs:threads"},
	}}
}

// crowded reports whether goroutines wait to run, at least one per
// thread, after a yield of the caller's; false on a Go that does not count
// them.
//
// The caller runs on a timer, and timers that expire together wake their
// goroutines together (users at the end of their wait, say): counted at
// once, they would make an idle process look crowded. The yield lets those
// queued on the caller's thread run first.
func (s *schedSample) crowded() bool {
	runtime.Gosched()
	metrics.Read(s.samples)
	runnable, procs := s.samples[0].Value, s.samples[1].Value
	if runnable.Kind() != metrics.KindUint64 || procs.Kind() != metrics.KindUint64 {
		return false
	}
	return isCrowded(runnable.Uint64(), procs.Uint64())
}

// isCrowded reports whether runnable goroutines waiting to run crowd
// procs threads: at least one waits per thread, so that none of them is
// idle, and a goroutine that yields lets another run.
func isCrowded(runnable, procs uint64) bool {
	return runnable >= max(procs, 1)
}
