package worker

import (
	"testing"
	"time"
)

// retired reports whether e was told to exit.
func retired(e *executor) bool {
	select {
	case r := <-e.next:
		return r == nil
	default:
		return false
	}
}

// tickByHand does what x's timer does at a tick, minus setting it again.
func tickByHand(x *idleExecutors) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.retireLocked()
}

// TestIdleExecutorsRetireAfterAWholeTick: an executor is retired at the
// second tick after it went idle, never at the first, and the user goes
// to the executor idle the longest time. The ticks are called by hand;
// the timer, of an hour, never fires.
func TestIdleExecutorsRetireAfterAWholeTick(t *testing.T) {
	var x idleExecutors
	t.Cleanup(func() { x.timer.Stop() })
	tick := func() { tickByHand(&x) }
	a, b, c := newExecutor(), newExecutor(), newExecutor()
	x.put(a, time.Hour) // idle since tick 0
	x.put(b, time.Hour)
	tick() // 1
	if retired(a) || retired(b) {
		t.Fatal("retired at the first tick after it went idle")
	}
	x.put(c, time.Hour) // idle since tick 1
	if got := x.take(); got != a {
		t.Fatal("take did not give the executor idle the longest time")
	}
	tick() // 2
	if !retired(b) {
		t.Error("b, idle since tick 0, not retired at tick 2")
	}
	if retired(c) {
		t.Error("c, idle since tick 1, retired at tick 2")
	}
	tick() // 3
	if !retired(c) {
		t.Error("c, idle since tick 1, not retired at tick 3")
	}
	if got := x.take(); got != nil {
		t.Errorf("take after every executor retired: %v, want nil", got)
	}
	if retired(a) {
		t.Error("a, taken, was retired")
	}
}

// TestIdleExecutorsFirstInFirstOut: executors come out of the queue in
// the order they went in, across the ring's end and its growth.
func TestIdleExecutorsFirstInFirstOut(t *testing.T) {
	var x idleExecutors
	t.Cleanup(func() { x.timer.Stop() })
	var want []*executor
	put := func(n int) {
		for range n {
			e := newExecutor()
			want = append(want, e)
			x.put(e, time.Hour)
		}
	}
	take := func(n int) {
		for range n {
			if got := x.take(); got != want[0] {
				t.Fatalf("took executor %p, want %p, the one idle longest", got, want[0])
			}
			want = want[1:]
		}
	}
	put(50)
	take(40) // the head near the ring's end
	put(30)  // wraps around
	put(100) // grows
	take(140)
	if got := x.take(); got != nil {
		t.Errorf("take of an empty queue: %p, want nil", got)
	}
}

// TestIdleExecutorsExit: executors that ran users exit once idle, and the
// timer stops ticking when none is left.
func TestIdleExecutorsExit(t *testing.T) {
	a := newArrivals(200)
	tp := newTestPool(t, Class("Idle", func() *idleBenchUser { return &idleBenchUser{arrived: a} }).Wait(Constant(time.Hour)))
	if got := startWaitingUsers(t, tp, a); got >= 50 {
		t.Fatalf("%d goroutines left", got)
	}
	waitExecutorsRetired(t, tp, 10*time.Second)
}

// waitExecutorsRetired waits until every idle executor of tp has been
// retired and its timer stopped, and fails the test if that takes
// longer than within. Nothing signals an executor's exit: it polls.
func waitExecutorsRetired(t *testing.T, tp *testPool, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		tp.idle.mu.Lock()
		idle, ticking := tp.idle.queue.n, tp.idle.ticking
		tp.idle.mu.Unlock()
		if idle == 0 && !ticking {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d executors idle, timer ticking %v, %v after their last user", idle, ticking, within)
		}
		time.Sleep(time.Millisecond)
	}
}
