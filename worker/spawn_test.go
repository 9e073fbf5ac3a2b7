package worker

import (
	"context"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of spawn spreading on made-up times: no test here sleeps.

func TestSpreadPlanDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		n    int
		over time.Duration
		now  time.Time
		want int
	}{
		{10, time.Second, at(-time.Millisecond), 0},
		{10, time.Second, at(0), 1},
		{10, time.Second, at(99 * time.Millisecond), 1},
		{10, time.Second, at(100 * time.Millisecond), 2},
		{10, time.Second, at(899 * time.Millisecond), 9},
		{10, time.Second, at(900 * time.Millisecond), 10},
		{10, time.Second, at(time.Second), 10},
		{10, time.Second, at(time.Hour), 10},
		{10, 0, at(0), 10},
		{10, 0, at(-time.Hour), 10},
		{0, time.Second, at(time.Second), 0},
		{10_000, 900 * time.Millisecond, at(450 * time.Millisecond), 5_001},
		{1_000_000, 900 * time.Millisecond, at(899*time.Millisecond + 999*time.Microsecond), 999_999},
		{1_000_000, 900 * time.Millisecond, at(899*time.Millisecond + 999_100*time.Nanosecond), 1_000_000},
	} {
		p := spreadPlan{start: t0, over: tc.over, n: tc.n}
		if got := p.due(tc.now); got != tc.want {
			t.Errorf("%d users over %s, at %s: due %d, want %d", tc.n, tc.over, tc.now.Sub(t0), got, tc.want)
		}
	}
}

func TestSpreadPlanAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := spreadPlan{start: t0, over: time.Second, n: 4}
	for i, want := range []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond} {
		if got := p.at(i).Sub(t0); got != want {
			t.Errorf("user %d due at %s, want %s", i, got, want)
		}
		if due := p.due(p.at(i)); due != i+1 {
			t.Errorf("at user %d's time, due %d, want %d", i, due, i+1)
		}
	}
}

func TestSpreadPlanBatch(t *testing.T) {
	for _, tc := range []struct {
		n    int
		over time.Duration
		want int
	}{
		{10_000, 900 * time.Millisecond, 111}, // 10,000 users in 0.9 s: 111 per 10 ms
		{100, time.Second, 1},
		{100, 0, 100}, // at once
		{0, 0, 1},
		{1_000_000, 900 * time.Millisecond, 11_111},
	} {
		p := spreadPlan{over: tc.over, n: tc.n}
		if got := p.batch(); got != tc.want {
			t.Errorf("%d users over %s: batch %d, want %d", tc.n, tc.over, got, tc.want)
		}
	}
}

// TestSetTargetOverDoesNotBurstAfterAStall: a spawner held up for half its
// step starts no more than a batch at a time, catching up at most twice
// as fast as planned.
func TestSetTargetOverDoesNotBurstAfterAStall(t *testing.T) {
	tp := newTestPool(t, Class("A", func() *idleUser { return &idleUser{} }))
	t0 := time.Unix(5000, 0)
	clk := newFakeClock(t0)
	tp.clock = clk
	const n, over = 1000, time.Second
	batch := spreadPlan{n: n, over: over}.batch()
	done := make(chan struct{})
	go func() {
		tp.setTargetOver(context.Background(), map[string]int64{"A": n}, over)
		close(done)
	}()
	w := <-clk.waits
	w.d = over / 2 // the spawner wakes half a step late
	clk.pass(w)
	prev := tp.counts()["A"]
	for {
		select {
		case w := <-clk.waits:
			got := tp.counts()["A"]
			if got-prev > int64(batch) {
				t.Fatalf("at %s: %d users started at once, want at most %d", clk.Now().Sub(t0), got-prev, batch)
			}
			prev = got
			clk.pass(w)
		case <-done:
			if got := tp.counts()["A"]; got != n {
				t.Fatalf("users %d, want %d", got, n)
			}
			if end := clk.Now().Sub(t0); end < over {
				t.Errorf("finished at %s; a stalled step catches up at most twice as fast as planned, so not before %s", end, over)
			}
			return
		}
	}
}

func TestSpawnStepSpread(t *testing.T) {
	for _, tc := range []struct {
		prev, this float64
		want       time.Duration
	}{
		{0, 100, maxSpawnStep},                       // first step of a test
		{100, 101, maxSpawnStep},                     // one step per second: 0.9 s
		{100, 100.5, 450 * time.Millisecond},         // steps half a second apart
		{100, 100.001, 900 * time.Microsecond},       // a burst of spawns (rebalancing)
		{100, 160, maxSpawnStep},                     // a spawn after a long pause
		{100, 100, maxSpawnStep},                     // equal: a stale spawn, never applied
		{100, 99, maxSpawnStep},                      // older: likewise
		{1.7e9, 1.7e9 + 0.8, 720 * time.Millisecond}, // real epoch timestamps
		{100, math.Inf(1), maxSpawnStep},             // a hostile master's timestamps
		{100, math.NaN(), maxSpawnStep},
		{100, 1e300, maxSpawnStep}, // more than a Duration holds
	} {
		got := spawnStepSpread(tc.prev, tc.this)
		if diff := got - tc.want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("spawnStepSpread(%v, %v) = %s, want %s", tc.prev, tc.this, got, tc.want)
		}
	}
}

func TestInterleaveKeepsTheSplitInEveryPrefix(t *testing.T) {
	a, b := &UserClass{name: "A"}, &UserClass{name: "B"}
	next := interleave([]classStart{{a, 300}, {b, 100}})
	counts := map[*UserClass]int{}
	for i := 1; i <= 400; i++ {
		counts[next()]++
		if wantA := float64(i) * 3 / 4; float64(counts[a]) < wantA-1 || float64(counts[a]) > wantA+1 {
			t.Fatalf("after %d users: A %d, B %d; want A within 1 of %.2f", i, counts[a], counts[b], wantA)
		}
	}
	if counts[a] != 300 || counts[b] != 100 {
		t.Errorf("a whole step: A %d, B %d, want 300 and 100", counts[a], counts[b])
	}
}

// fakeClock is a clock whose time moves only when the test says. After
// hands each wait to the test on waits, so the test sees every pause of
// the spawner as an event.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan fakeWait
}

type fakeWait struct {
	d  time.Duration
	ch chan time.Time
}

func newFakeClock(t0 time.Time) *fakeClock {
	return &fakeClock{now: t0, waits: make(chan fakeWait)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- fakeWait{d: d, ch: ch}
	return ch
}

// pass moves the clock on by the wait's duration and ends the wait.
func (c *fakeClock) pass(w fakeWait) {
	c.mu.Lock()
	c.now = c.now.Add(w.d)
	now := c.now
	c.mu.Unlock()
	w.ch <- now
}

// TestSetTargetOverSpreadsUsers: a step of 400 users over 0.9 s starts
// them on the plan's schedule, in the step's class split, and never all
// at once.
func TestSetTargetOverSpreadsUsers(t *testing.T) {
	idle := func() *idleUser { return &idleUser{} }
	tp := newTestPool(t, Class("A", idle), Class("B", idle))
	t0 := time.Unix(5000, 0)
	clk := newFakeClock(t0)
	tp.clock = clk
	const over = 900 * time.Millisecond
	plan := spreadPlan{start: t0, over: over, n: 400}
	done := make(chan struct{})
	go func() {
		tp.setTargetOver(context.Background(), map[string]int64{"A": 300, "B": 100}, over)
		close(done)
	}()
	pauses := 0
	for {
		select {
		case w := <-clk.waits:
			pauses++
			counts := tp.counts()
			got, want := counts["A"]+counts["B"], int64(plan.due(clk.Now()))
			if got != want {
				t.Fatalf("at %s: %d users running, want %d (the plan's)", clk.Now().Sub(t0), got, want)
			}
			if d := float64(counts["A"]) - float64(got)*3/4; d < -1 || d > 1 {
				t.Fatalf("at %s: split %v, want A:B = 3:1 within one user", clk.Now().Sub(t0), counts)
			}
			if w.d < spawnTick {
				t.Fatalf("pause of %s, shorter than spawnTick", w.d)
			}
			clk.pass(w)
		case <-done:
			counts := tp.counts()
			if counts["A"] != 300 || counts["B"] != 100 {
				t.Fatalf("after the step: %v, want A 300, B 100", counts)
			}
			if end := clk.Now().Sub(t0); end > over {
				t.Errorf("the step took %s of clock time, want at most %s", end, over)
			}
			if pauses < 100 {
				t.Errorf("the step paused %d times; want it spread (at least 100 pauses of %s)", pauses, spawnTick)
			}
			return
		}
	}
}

// TestSetTargetOverStopsAtCancel: a spread step cut short by its context
// (the next spawn, a stop) starts no more users, and the pool's counts
// are those that run.
func TestSetTargetOverStopsAtCancel(t *testing.T) {
	tp := newTestPool(t, Class("A", func() *idleUser { return &idleUser{} }))
	clk := newFakeClock(time.Unix(5000, 0))
	tp.clock = clk
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		tp.setTargetOver(ctx, map[string]int64{"A": 100}, time.Second)
		close(done)
	}()
	for range 10 {
		clk.pass(<-clk.waits)
	}
	w := <-clk.waits
	before := tp.counts()["A"]
	cancel()
	<-done
	if after := tp.counts()["A"]; after != before || after >= 100 || after == 0 {
		t.Errorf("users after the cancel: %d (before %d); want the ones started so far, fewer than 100", after, before)
	}
	close(w.ch) // the abandoned wait
}

// TestSetTargetAtOnce: without a spread, every user starts before
// setTarget returns, with no pause.
func TestSetTargetAtOnce(t *testing.T) {
	tp := newTestPool(t, Class("A", func() *idleUser { return &idleUser{} }))
	tp.clock = newFakeClock(time.Unix(5000, 0)) // any wait would block: nobody passes it
	tp.setTarget(context.Background(), map[string]int64{"A": 5000})
	if got := tp.counts()["A"]; got != 5000 {
		t.Errorf("users: %d, want 5000", got)
	}
}

func TestGapMeter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var g gapMeter
	for _, d := range []time.Duration{0, time.Second, 2 * time.Second, 4500 * time.Millisecond, 5500 * time.Millisecond} {
		g.observe(t0.Add(d))
	}
	got := g.take()
	want := heartbeatGaps{Worst: 2500 * time.Millisecond, Late: 1, Beats: 5}
	if got != want {
		t.Errorf("after gaps 1, 1, 2.5, 1 s: %+v, want %+v", got, want)
	}
	g.observe(t0.Add(8 * time.Second)) // measured from the last heartbeat before the take
	if got, want := g.take(), (heartbeatGaps{Worst: 2500 * time.Millisecond, Late: 1, Beats: 1}); got != want {
		t.Errorf("after a take and a 2.5 s gap: %+v, want %+v", got, want)
	}
	if got := g.take(); got != (heartbeatGaps{}) {
		t.Errorf("a take with nothing since: %+v, want zero", got)
	}
}

// quitterUser stops itself (ErrStopUser) after its n-th task.
type quitterUser struct{ n int }

func (u *quitterUser) Tasks() []Task {
	return []Task{{Name: "maybe quit", Run: func(context.Context) error {
		if u.n--; u.n <= 0 {
			return ErrStopUser
		}
		return nil
	}}}
}

// TestUsersStoppingThemselves: users that stop on their own, in any order,
// leave the running users consistent (each in its slot) and counted.
func TestUsersStoppingThemselves(t *testing.T) {
	var made atomic.Int64
	tp := newTestPool(t, Class("Q", func() *quitterUser {
		i := made.Add(1)
		if i%2 == 0 {
			return &quitterUser{n: 1 << 30} // never quits
		}
		return &quitterUser{n: int(i % 7)}
	}).Wait(Constant(time.Millisecond)))
	tp.setTarget(context.Background(), map[string]int64{"Q": 2000})
	deadline := time.Now().Add(30 * time.Second)
	for tp.counts()["Q"] != 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("running users %d, want 1000 (the half that never quits)", tp.counts()["Q"])
		}
		time.Sleep(5 * time.Millisecond)
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	runs := tp.running["Q"]
	if len(runs) != 1000 {
		t.Fatalf("running list holds %d users, want 1000", len(runs))
	}
	for i, r := range runs {
		if r.slot != i || !r.listed {
			t.Fatalf("user at %d has slot %d, listed %v", i, r.slot, r.listed)
		}
	}
}

// TestCompileRefusesOverflowingWeights: weights whose sum overflows are
// a compile error (the user has nothing to do), not a panic in every
// pick.
func TestCompileRefusesOverflowingWeights(t *testing.T) {
	noop := func(context.Context) error { return nil }
	var root setNode
	err := compile(&root, []Task{{Name: "a", Weight: math.MaxInt, Run: noop}, {Name: "b", Weight: math.MaxInt, Run: noop}}, &tagFilter{})
	if err == nil || !strings.Contains(err.Error(), "add up to more than") {
		t.Errorf("compile of two tasks of weight MaxInt: %v, want an error", err)
	}
}

// stopCounter counts OnStart and OnStop.
type stopCounter struct{ starts, stops *atomic.Int64 }

func (u *stopCounter) OnStart(context.Context) error { u.starts.Add(1); return nil }
func (u *stopCounter) OnStop(context.Context) error  { u.stops.Add(1); return nil }
func (u *stopCounter) Tasks() []Task {
	return []Task{{Name: "t", Run: func(context.Context) error { return nil }}}
}

// TestStopBeforeFirstStepRunsHooks: users stopped before their executor
// ran them still begin and end like the others: every user started runs
// OnStart and OnStop once.
func TestStopBeforeFirstStepRunsHooks(t *testing.T) {
	var starts, stops atomic.Int64
	tp := newTestPool(t, Class("S", func() *stopCounter { return &stopCounter{&starts, &stops} }).Wait(Constant(time.Hour)))
	for range 20 {
		tp.setTarget(context.Background(), map[string]int64{"S": 50})
		tp.stopAllWithin(context.Background(), time.Second) // at once: some have not begun
	}
	waitPool(t, tp.pool)
	if starts.Load() != 1000 || stops.Load() != 1000 {
		t.Errorf("OnStart %d, OnStop %d times for 1,000 users started and stopped; want 1000 each", starts.Load(), stops.Load())
	}
}

// TestSpawnHeldBackWhileRequestsPileUp: once more than maxSpawnBacklog
// requests wait for the worker, a step starts no users until half as many
// do; then it goes on, and in the end starts every user.
func TestSpawnHeldBackWhileRequestsPileUp(t *testing.T) {
	tp := newTestPool(t, Class("A", func() *idleUser { return &idleUser{} }))
	clk := newFakeClock(time.Unix(5000, 0))
	tp.clock = clk
	var backlog atomic.Int64
	backlog.Store(maxSpawnBacklog + 1)
	tp.backlogFunc = func() int { return int(backlog.Load()) }
	done := make(chan struct{})
	go func() {
		tp.setTargetOver(context.Background(), map[string]int64{"A": 200}, time.Second)
		close(done)
	}()
	for range 50 { // 50 ticks of at least spawnTick: a quarter of the step or more
		clk.pass(<-clk.waits)
	}
	if n := tp.counts()["A"]; n != 0 {
		t.Fatalf("%d users started while %d requests waited for the worker, want 0", n, backlog.Load())
	}
	backlog.Store(maxSpawnBacklog) // no longer above the bound, but not half
	for range 20 {
		clk.pass(<-clk.waits)
	}
	if n := tp.counts()["A"]; n != 0 {
		t.Fatalf("%d users started with %d requests waiting after a hold, want 0 until half the bound", n, backlog.Load())
	}
	backlog.Store(maxSpawnBacklog / 2)
	for {
		select {
		case w := <-clk.waits:
			clk.pass(w)
		case <-done:
			if n := tp.counts()["A"]; n != 200 {
				t.Fatalf("%d users after the backlog cleared, want all 200", n)
			}
			return
		}
	}
}
