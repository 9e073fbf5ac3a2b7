package worker

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestIsCrowded(t *testing.T) {
	for _, tc := range []struct {
		runnable, procs uint64
		want            bool
	}{
		{0, 1, false},
		{1, 1, true},
		{1, 2, false},
		{2, 2, true},
		{50, 2, true},
		{0, 0, false},
		{1, 0, true}, // a count of no threads is taken as one
	} {
		if got := isCrowded(tc.runnable, tc.procs); got != tc.want {
			t.Errorf("isCrowded(%d runnable, %d threads) = %v, want %v", tc.runnable, tc.procs, got, tc.want)
		}
	}
}

// TestCrowdingNeedsTwoSamples: crowded after two crowded samples in a
// row, not after one; forgetting drops the last sample too.
func TestCrowdingNeedsTwoSamples(t *testing.T) {
	var c crowding
	var next bool
	c.sample = func() bool { return next }
	for i, step := range []struct {
		forget, sample, want bool
	}{
		{sample: true, want: false},
		{sample: true, want: true},
		{sample: false, want: false},
		{sample: true, want: false},
		{sample: true, want: true},
		{forget: true, sample: true, want: false},
		{sample: true, want: true},
	} {
		if step.forget {
			c.forget()
		}
		next = step.sample
		c.update(nil)
		if got := c.now.Load(); got != step.want {
			t.Errorf("step %d (sample %v, forget %v): crowded %v, want %v", i, step.sample, step.forget, got, step.want)
		}
	}
}

// TestSchedSampleCrowded: on one thread, goroutines that keep yielding
// crowd it; with them gone, it is not crowded. It fails on a Go whose
// runtime does not count runnable goroutines.
func TestSchedSampleCrowded(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := newSchedSample()
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				runtime.Gosched()
			}
		})
	}
	crowded := s.crowded()
	stop.Store(true)
	wg.Wait()
	if !crowded {
		t.Error("4 goroutines yielding on 1 thread: not crowded; want crowded")
	}
	// Other tests' goroutines or the runtime's own may wait a moment.
	for i := 0; s.crowded(); i++ {
		if i == 100 {
			t.Fatal("crowded in 100 samples with nothing running; want not crowded")
		}
	}
}

// TestInflightSamplesCrowding: the watcher of requests in flight takes a
// sample at each scan, and forgets the samples when it stops for want of
// requests.
func TestInflightSamplesCrowding(t *testing.T) {
	var in inflight
	sampled := make(chan struct{})
	in.crowded.sample = func() bool { sampled <- struct{}{}; return true }
	w := &fastWatch{ctx: t.Context()}
	in.add(w, 0)
	// The third sample is taken after the second crowded one was stored.
	for i := range 3 {
		select {
		case <-sampled:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d samples within 5 s; want 3", i)
		}
	}
	if !in.crowded.now.Load() {
		t.Error("not crowded after crowded samples; want crowded")
	}
	in.remove(w, 0)
	go func() { // a scan that began before the remove samples once more
		for range sampled {
		}
	}()
	// The watcher stops on a timer, with nothing to wait on: poll.
	if !reviewPoll(5*time.Second, func() bool { return !in.running.Load() }) {
		t.Fatal("the watcher still runs 5 s after the last request")
	}
	close(sampled)
	if in.crowded.now.Load() {
		t.Error("crowded after the watcher stopped; want not crowded")
	}
}
