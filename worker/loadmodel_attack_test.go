package worker

// Attacks on the load models (loadmodel.go, arrivals.go, shape.go,
// standalone_load.go): each test is a minimal reproduction that asserts
// the behaviour the documentation promises, or a hostile case that holds.

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// countUser runs one task that counts its runs and does what act says
// with run number n (from 1).
type countUser struct {
	runs *atomic.Int64
	act  func(n int64) error
}

func (u countUser) Tasks() []Task {
	return []Task{{Name: "count", Run: func(context.Context) error { return u.act(u.runs.Add(1)) }}}
}

func countClass(runs *atomic.Int64, act func(int64) error) *UserClass {
	return Class("Counter", func() countUser { return countUser{runs: runs, act: act} })
}

// runBounded runs s and fails the test if it has not returned by limit.
func runBounded(t *testing.T, s *Standalone, limit time.Duration) (*Result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	res, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Errorf("Run returned only when the test's own bound of %v cancelled it (took %v)", limit, took)
	}
	return res, took
}

// TestLoadAttackIterationsEndWhenAllUsersStop: every user stops itself
// (ErrStopUser) before the budget of 100 iterations is spent. No user is
// left to spend it, so the test must end; it runs until -t instead, and
// without -t for ever.
func TestLoadAttackIterationsEndWhenAllUsersStop(t *testing.T) {
	skipShort(t)
	t.Parallel()
	var runs atomic.Int64
	class := countClass(&runs, func(int64) error { return ErrStopUser })
	s := &Standalone{Users: 3, Iterations: 100, Classes: []*UserClass{class}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	runBounded(t, s, 5*time.Second)
	if got := runs.Load(); got != 3 {
		t.Errorf("%d iterations ran, want 3 (one per user)", got)
	}
}

// TestLoadAttackIterationsExactUnderChaos: tasks that panic, fail, raise and
// interrupt nested sets; the budget is still exact and the test ends.
func TestLoadAttackIterationsExactUnderChaos(t *testing.T) {
	skipShort(t)
	t.Parallel()
	var runs atomic.Int64
	act := func(n int64) error {
		switch n % 5 {
		case 0:
			panic("boom")
		case 1:
			return errors.New("raised")
		case 2:
			return ErrInterrupt
		}
		return nil
	}
	nested := Class("Nested", func() nestedUser { return nestedUser{runs: &runs, act: act} })
	s := &Standalone{Users: 30, Iterations: 777, Classes: []*UserClass{nested}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	runBounded(t, s, 20*time.Second)
	if got := runs.Load(); got != 777 {
		t.Errorf("%d iterations ran, want 777", got)
	}
}

// nestedUser has a task of its own and a nested set of two, a set inside
// it: every leaf counts.
type nestedUser struct {
	runs *atomic.Int64
	act  func(int64) error
}

func (u nestedUser) Tasks() []Task {
	leaf := func(name string) Task {
		return Task{Name: name, Run: func(context.Context) error { return u.act(u.runs.Add(1)) }}
	}
	inner := &TaskSet{Tasks: []Task{leaf("inner")}, OnStart: func(context.Context) error { return nil }}
	return []Task{
		leaf("top"),
		{Set: &TaskSet{Tasks: []Task{leaf("a"), {Set: inner}}, Sequential: true}},
	}
}

// TestLoadAttackIterationsFewerThanUsers: --iterations 3 with 50 users runs
// 3 iterations and ends.
func TestLoadAttackIterationsFewerThanUsers(t *testing.T) {
	skipShort(t)
	t.Parallel()
	var runs atomic.Int64
	class := countClass(&runs, func(int64) error { return nil })
	s := &Standalone{Users: 50, Iterations: 3, Classes: []*UserClass{class}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	runBounded(t, s, 10*time.Second)
	if got := runs.Load(); got != 3 {
		t.Errorf("%d iterations ran, want 3", got)
	}
}

// TestLoadAttackOpenModelIterationsStarted: with --arrival-rate and
// --iterations 1, the open model's started count is the iterations that
// ran, not also those handed to users that the spent budget then refused
// (20 users all take one at once; 1 runs).
func TestLoadAttackOpenModelIterationsStarted(t *testing.T) {
	skipShort(t)
	t.Parallel()
	var runs atomic.Int64
	class := countClass(&runs, func(int64) error { time.Sleep(10 * time.Millisecond); return nil })
	s := &Standalone{Users: 20, ArrivalRate: 100000, Iterations: 1, Classes: []*UserClass{class}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	res, _ := runBounded(t, s, 10*time.Second)
	if got := runs.Load(); got != 1 {
		t.Errorf("%d iterations ran, want 1", got)
	}
	if res.ArrivalCounts.Started != runs.Load() {
		t.Errorf("open model counts %d started, %d ran", res.ArrivalCounts.Started, runs.Load())
	}
}

// TestLoadAttackArrivalScheduleExtremeRates: rates far from the usual stay
// sane: at 1e-10/s the second iteration is due in about 317 years (past
// time.Duration's range), not in the past; at 1e300/s iterations are due
// at once.
func TestLoadAttackArrivalScheduleExtremeRates(t *testing.T) {
	skipShort(t)
	s := newArrivalSchedule(at(0), 1e-10, time.Second)
	if _, ok := s.take(at(0)); !ok {
		t.Fatal("the first iteration is due at the start")
	}
	if next, ok := s.nextDue(at(1)); ok && next.Before(at(1)) {
		t.Errorf("at 1e-10/s the next iteration is due %v, before now: the dispatcher spins", next.Sub(arrivalsT0))
	}
	s = newArrivalSchedule(at(0), 1e300, time.Second)
	if got := s.waiting(at(1000)); got <= 0 {
		t.Errorf("at 1e300/s %d iterations wait after 1 s, want many", got)
	}
}

// TestLoadAttackArrivalScheduleBadShapeRates: a Shape's ArrivalRate of NaN or
// +Inf must not leave the dispatcher spinning on a next-due time in the
// past.
func TestLoadAttackArrivalScheduleBadShapeRates(t *testing.T) {
	skipShort(t)
	for _, rate := range []float64{math.NaN(), math.Inf(1)} {
		s := newArrivalSchedule(at(0), 10, time.Second)
		s.take(at(0))
		s.setRate(at(50), rate)
		if next, ok := s.nextDue(at(60)); ok && next.Before(at(60)) {
			t.Errorf("rate %v: next due %v, before now", rate, next.Sub(arrivalsT0))
		}
	}
}

// TestLoadAttackShapeStepInfiniteSpawnRate: SpawnRate +Inf means at once, as
// 0 does; it must not move one user a tick.
func TestLoadAttackShapeStepInfiniteSpawnRate(t *testing.T) {
	skipShort(t)
	for _, rate := range []float64{math.Inf(1), 1e300} {
		if users, _, _ := shapeStep(0, ShapeTick{Users: 100, SpawnRate: rate}, time.Second, 0); users != 100 {
			t.Errorf("SpawnRate %v: %d users after one tick, want 100", rate, users)
		}
	}
}

// TestLoadAttackSlowStagesFollowTheLine: --stages 100s:10 ramps to 10 users
// over 100 s (one user every 10 s). Ticking once a second, the users must
// stay within one user of the line; they reach 10 after 10 s.
func TestLoadAttackSlowStagesFollowTheLine(t *testing.T) {
	skipShort(t)
	st := Stages{{Duration: 100 * time.Second, Target: 10}}
	current, owed := 0, 0.0
	for k := 0; k < 100; k++ {
		el := time.Duration(k) * time.Second
		tick, ok := st.Tick(el)
		if !ok {
			t.Fatalf("stages ended at %v", el)
		}
		current, _, owed = shapeStep(current, tick, time.Second, owed)
		ideal, ok := st.value(el + time.Second)
		if ok && math.Abs(float64(current)-ideal) > 1 {
			t.Fatalf("after the tick at %v: %d users, the stages say %.1f", el, current, ideal)
		}
	}
}

// TestLoadAttackShapeSpawnRateBelowOne: a shape's tick of 10 users at 0.1
// users a second, as Locust's LoadTestShape reads it, takes 100 s; one
// tick must not start a whole user a second.
func TestLoadAttackShapeSpawnRateBelowOne(t *testing.T) {
	skipShort(t)
	current, owed := 0, 0.0
	for k := 0; k < 10; k++ {
		current, _, owed = shapeStep(current, ShapeTick{Users: 10, SpawnRate: 0.1}, time.Second, owed)
	}
	if current > 2 {
		t.Errorf("after 10 ticks at 0.1 users/s: %d users, want 1", current)
	}
}

// crashHelperEnv selects, in a child test process, the run that may
// crash it.
const crashHelperEnv = "GOLOCUST_ATTACK_CRASH"

// TestLoadAttackShapeCannotCrashTheProcess: a Shape whose Tick panics, or
// names a nil class, must not crash the process: a task's panic does not.
func TestLoadAttackShapeCannotCrashTheProcess(t *testing.T) {
	skipShort(t)
	for _, which := range []string{"panic", "nilclass"} {
		t.Run(which, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestLoadAttackCrashHelper$", "-test.v")
			cmd.Env = append(os.Environ(), crashHelperEnv+"="+which)
			out, err := cmd.CombinedOutput()
			if err != nil {
				_, after, _ := strings.Cut(string(out), "panic: ")
				line, _, _ := strings.Cut(after, "\n")
				t.Errorf("the shape crashed the process (%v): panic: %s", err, line)
			}
		})
	}
}

// TestLoadAttackCrashHelper runs, in the child process of
// TestLoadAttackShapeCannotCrashTheProcess, a shape that misbehaves.
func TestLoadAttackCrashHelper(t *testing.T) {
	skipShort(t)
	which := os.Getenv(crashHelperEnv)
	if which == "" {
		t.Skip("run by TestLoadAttackShapeCannotCrashTheProcess")
	}
	var runs atomic.Int64
	class := countClass(&runs, func(int64) error { return nil }).Wait(Constant(10 * time.Millisecond))
	shape := ShapeFunc(func(el time.Duration) (ShapeTick, bool) {
		if el >= time.Second {
			return ShapeTick{}, false
		}
		if which == "panic" {
			panic("shape bug")
		}
		return ShapeTick{Users: 2, Classes: []*UserClass{nil}}, true
	})
	s := &Standalone{Shape: shape, RunTime: 3 * time.Second, Classes: []*UserClass{class}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	if _, err := s.Run(context.Background()); err != nil {
		t.Log(err)
	}
}

// TestLoadAttackResetStatsOpenModel: --reset-stats resets the open model's
// rows with the requests' ones: after the reset, every ARRIVAL iteration
// is one request, so the counts match within the users in flight.
func TestLoadAttackResetStatsOpenModel(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tg := newTimedTarget(t, 0)
	s := &Standalone{Host: tg.URL, Users: 2, SpawnRate: 1, RunTime: 2500 * time.Millisecond, ArrivalRate: 40, ResetStats: true,
		Classes: []*UserClass{getClass()}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	res, _ := runBounded(t, s, 10*time.Second)
	requests := res.Stats.Total().NumRequests
	var iterations int64
	for _, e := range res.Arrivals.Entries() {
		if e.Name == "get" {
			iterations = e.NumRequests
		}
	}
	if iterations > requests+2 {
		t.Errorf("after --reset-stats: %d requests but %d ARRIVAL iterations: the open model's rows were not reset", requests, iterations)
	}
}

// TestLoadAttackNoGoroutineLeft: after Run returns (and the executors' idle
// time has passed), no goroutine of the open model, the shape or the
// stages is left.
func TestLoadAttackNoGoroutineLeft(t *testing.T) {
	skipShort(t)
	before := runtime.NumGoroutine()
	var runs atomic.Int64
	class := countClass(&runs, func(int64) error { time.Sleep(time.Millisecond); return nil })
	for _, s := range []*Standalone{
		{Users: 20, ArrivalRate: 2000, RunTime: 500 * time.Millisecond},
		{Users: 20, MaxRPS: 500, RunTime: 500 * time.Millisecond},
		{Users: 20, Iterations: 200},
		{Stages: Stages{{300 * time.Millisecond, 10}, {300 * time.Millisecond, 0}}},
		{Users: 20, ArrivalRate: 500, Stages: Stages{{500 * time.Millisecond, 1000}}},
	} {
		s.Classes, s.OnlySummary, s.Output, s.Logger = []*UserClass{class}, true, io.Discard, discardLogger()
		runBounded(t, s, 10*time.Second)
	}
	deadline := time.Now().Add(executorIdle + 3*time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("%d goroutines before, %d after:\n%s", before, after, buf[:n])
	}
}

// TestLoadAttackSlowRateRampKeepsTheRate: --arrival-rate with stages that
// ramp slowly (10m:0.1, 1m:1) changes the rate every tick; the iterations
// due must follow the rate. A rate change while the current stretch has
// none due yet makes one due at once, so the schedule fires about every
// other second whatever the rate.
func TestLoadAttackSlowRateRampKeepsTheRate(t *testing.T) {
	skipShort(t)
	for _, st := range []Stages{{{10 * time.Minute, 0.1}}, {{time.Minute, 1}}} {
		v0, _ := st.value(0)
		s := newArrivalSchedule(at(0), v0, time.Minute)
		var started int64
		total := int(st.total() / time.Millisecond)
		for ms := 0; ms < total; ms += 10 {
			if ms%1000 == 0 { // the shape's tick
				r, _ := st.value(time.Duration(ms) * time.Millisecond)
				s.setRate(at(ms), r)
			}
			for {
				if _, ok := s.take(at(ms)); !ok {
					break
				}
				started++
			}
		}
		ideal := st[0].Target * st[0].Duration.Seconds() / 2 // the area under the ramp
		if !within(float64(started), ideal, 0.1) {
			t.Errorf("stages %v: %d iterations due, want %.0f ± 10%%", st, started, ideal)
		}
	}
}

// stampUser's task notes when it ran, from the test's start.
type stampUser struct {
	start time.Time
	stamp func(time.Duration)
}

func (u stampUser) Tasks() []Task {
	return []Task{{Name: "stamp", Run: func(context.Context) error { u.stamp(time.Since(u.start)); return nil }}}
}

// TestLoadAttackMaxRPSAfterRampDown: 200 users under --max-rps 100 for 1 s,
// then a shape takes them down to 2 users, who can do far more than
// 100/s without wait. The cap must go on giving 100/s; the stopped
// users' reservations (2 s of them, never cancelled) starve the two left
// for the next 2 s.
func TestLoadAttackMaxRPSAfterRampDown(t *testing.T) {
	skipShort(t)
	t.Parallel()
	start := time.Now()
	var late atomic.Int64 // runs from 1.5 s to 3 s
	stamp := func(d time.Duration) {
		if d >= 1500*time.Millisecond && d < 3*time.Second {
			late.Add(1)
		}
	}
	class := Class("Stamp", func() stampUser { return stampUser{start: start, stamp: stamp} })
	shape := ShapeFunc(func(el time.Duration) (ShapeTick, bool) {
		if el < time.Second {
			return ShapeTick{Users: 200}, true
		}
		return ShapeTick{Users: 2}, true
	})
	s := &Standalone{Shape: shape, MaxRPS: 100, RunTime: 3500 * time.Millisecond, Classes: []*UserClass{class}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	runBounded(t, s, 10*time.Second)
	if rate := float64(late.Load()) / 1.5; rate < 80 {
		t.Errorf("%.1f iterations/s from 1.5 s to 3 s with 2 users left, want the cap's 100/s", rate)
	}
}

// TestLoadAttackMasterMaxRPSValues: what a master's parsed_options may hold
// for max_rps: numbers of either kind and numeric strings set the cap;
// None (nil), 0 and "" are the option's default and leave the worker's
// own cap, as documented; a negative, NaN or unreadable value is ignored
// and keeps the cap in force.
func TestLoadAttackMasterMaxRPSValues(t *testing.T) {
	skipShort(t)
	for _, tc := range []struct {
		v    any
		want float64 // the limit after; 0: none
	}{
		{float64(50), 50}, {int64(20), 20}, {"30", 30}, {nil, 7}, {int64(0), 7}, {"", 7},
		{float64(-5), 7}, {"abc", 7}, {math.NaN(), 7}, {true, 7}, {"-1", 7}, {uint64(math.MaxUint64), 7},
	} {
		s := &session{pool: newPool(map[string]*UserClass{}, nil, discardLogger(), nil), logger: discardLogger()}
		s.pool.setMaxRPS(time.Now(), 7)
		s.applyMaxRPS(tc.v)
		got := 0.0
		if c := s.pool.model().cap; c != nil && c.limiter.Limit() != rate.Inf {
			got = float64(c.limiter.Limit())
		}
		if got != tc.want {
			t.Errorf("max_rps %#v: limit %v, want %v", tc.v, got, tc.want)
		}
	}
}

// TestLoadAttackOpenModelChaos: the open model under users that panic, raise,
// stop themselves and interrupt nested sets, a shape that empties and
// refills the pool, and runs so short that the end races the dispatcher
// (run it with -race). Every iteration that ran is in the ARRIVAL rows,
// and at most one iteration per user was handed out and not run.
func TestLoadAttackOpenModelChaos(t *testing.T) {
	skipShort(t)
	t.Parallel()
	act := func(n int64) error {
		switch n % 7 {
		case 0:
			panic("boom")
		case 1:
			return errors.New("raised")
		case 2:
			return ErrInterrupt
		case 3:
			if n%49 == 3 {
				return ErrStopUser
			}
		}
		return nil
	}
	shape := ShapeFunc(func(el time.Duration) (ShapeTick, bool) {
		users := []int{30, 0, 30, 5}[int(el/time.Second)%4]
		return ShapeTick{Users: users, ArrivalRate: 3000}, el < 3*time.Second
	})
	runs := make([]*Standalone, 0, 21)
	runs = append(runs, &Standalone{Shape: shape, ArrivalRate: 3000, RunTime: 5 * time.Second})
	for range 20 {
		runs = append(runs, &Standalone{Users: 30, ArrivalRate: 5000, RunTime: 50 * time.Millisecond})
	}
	for i, s := range runs {
		var ran atomic.Int64
		nested := Class("Nested", func() nestedUser { return nestedUser{runs: &ran, act: act} })
		s.Classes, s.OnlySummary, s.Output, s.Logger = []*UserClass{nested}, true, io.Discard, discardLogger()
		res, _ := runBounded(t, s, 15*time.Second)
		var recorded int64
		for _, e := range res.Arrivals.Entries() {
			if e.Name != DroppedName {
				recorded += e.NumRequests
			}
		}
		users := int64(30)
		if recorded != ran.Load() || res.ArrivalCounts.Started < ran.Load() || res.ArrivalCounts.Started > ran.Load()+users {
			t.Errorf("run %d: %d ran, %d recorded, %d started", i, ran.Load(), recorded, res.ArrivalCounts.Started)
		}
	}
}

// TestLoadAttackOnUsersWithStages: OnUsers is called after each spawn step;
// a staged run has steps too.
func TestLoadAttackOnUsersWithStages(t *testing.T) {
	skipShort(t)
	t.Parallel()
	var runs, calls atomic.Int64
	class := countClass(&runs, func(int64) error { return nil }).Wait(Constant(10 * time.Millisecond))
	s := &Standalone{Stages: Stages{{2 * time.Second, 4}}, OnUsers: func(map[string]int64) { calls.Add(1) },
		Classes: []*UserClass{class}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	runBounded(t, s, 10*time.Second)
	if calls.Load() == 0 {
		t.Error("OnUsers was never called in a staged run")
	}
}

// TestStandaloneSpawnRateChecked: the Go API refuses the spawn rates the
// -r flag refuses (0 stays: all users at once).
func TestStandaloneSpawnRateChecked(t *testing.T) {
	for _, rate := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), -1, 1e-10, 2e9} {
		s := &Standalone{SpawnRate: rate}
		if err := s.checkLoadModel(); err == nil {
			t.Errorf("SpawnRate %v: no error", rate)
		}
	}
	for _, rate := range []float64{0, 1e-6, 10, 1e9} {
		s := &Standalone{SpawnRate: rate}
		if err := s.checkLoadModel(); err != nil {
			t.Errorf("SpawnRate %v: %v", rate, err)
		}
	}
}
