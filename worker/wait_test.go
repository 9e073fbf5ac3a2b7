package worker

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBetweenValues draws many waits and checks they all lie in [a, b] and
// reach both ends of it.
func TestBetweenValues(t *testing.T) {
	tests := []struct{ a, b time.Duration }{
		{50 * time.Millisecond, 150 * time.Millisecond},
		{time.Second, time.Second},
		{3 * time.Second, time.Second}, // swapped bounds
		{0, time.Microsecond},
	}
	for _, tt := range tests {
		w := Between(tt.a, tt.b)
		lo, hi := min(tt.a, tt.b), max(tt.a, tt.b)
		seenLo, seenHi := hi, lo
		for range 20000 {
			d := w.Next(0)
			if d < lo || d > hi {
				t.Fatalf("Between(%s, %s) returned %s", tt.a, tt.b, d)
			}
			seenLo, seenHi = min(seenLo, d), max(seenHi, d)
		}
		// The spread covers all but a small end of the range.
		if span := hi - lo; seenLo > lo+span/100 || seenHi < hi-span/100 {
			t.Errorf("Between(%s, %s) ranged only over [%s, %s]", tt.a, tt.b, seenLo, seenHi)
		}
	}
}

// TestBetweenMeasured runs a user with Between(40ms, 80ms) and measures
// the gap from the end of each task to the start of the next: never less
// than 40 ms, and at most 80 ms plus scheduling slack.
func TestBetweenMeasured(t *testing.T) {
	const a, b, slack = 40 * time.Millisecond, 80 * time.Millisecond, 30 * time.Millisecond
	var mu sync.Mutex
	var gaps []time.Duration
	var lastEnd time.Time
	enough := make(chan struct{})
	class := Class("Between", func() *funcUser {
		return &funcUser{tasks: func(*funcUser) []Task {
			return []Task{{Name: "t", Run: func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				now := time.Now()
				if !lastEnd.IsZero() {
					gaps = append(gaps, now.Sub(lastEnd))
					if len(gaps) == 40 {
						close(enough)
					}
				}
				lastEnd = time.Now()
				return nil
			}}}
		}}
	}).Wait(Between(a, b))
	tp := newTestPool(t, class)
	tp.setTarget(context.Background(), map[string]int64{"Between": 1})
	waitFor(t, enough, "40 waits")
	tp.stopAll(context.Background())
	mu.Lock()
	defer mu.Unlock()
	lo, hi := gaps[0], gaps[0]
	for _, g := range gaps {
		lo, hi = min(lo, g), max(hi, g)
		if g < a || g > b+slack {
			t.Errorf("a wait of Between(%s, %s) lasted %s", a, b, g)
		}
	}
	t.Logf("%d waits between %s and %s", len(gaps), lo, hi)
}

// TestConstantPacingSchedule drives ConstantPacing with a fake clock.
func TestConstantPacingSchedule(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now time.Time
	proto := &pacing{every: time.Second, now: func() time.Time { return now }}
	steps := []struct {
		end      time.Duration // clock when the task ended, from base
		taskTime time.Duration
		want     time.Duration
	}{
		{300 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond},    // first task started at 0
		{1100 * time.Millisecond, 80 * time.Millisecond, 900 * time.Millisecond},    // timer overslept 20 ms: absorbed
		{2999 * time.Millisecond, 999 * time.Millisecond, 1 * time.Millisecond},     // long task, still in its slot
		{4500 * time.Millisecond, 1500 * time.Millisecond, 0},                       // overran: no wait, new schedule
		{4600 * time.Millisecond, 100 * time.Millisecond, 900 * time.Millisecond},   // paced from 4.5 s
		{5550 * time.Millisecond, 50 * time.Millisecond, 950 * time.Millisecond},    // next due 6.5 s
		{6510 * time.Millisecond, 10 * time.Millisecond, 990 * time.Millisecond},    // due 7.5 s
		{7500 * time.Millisecond, 0, 1000 * time.Millisecond},                       // due 8.5 s
		{8500*time.Millisecond + time.Nanosecond, 0, time.Second - time.Nanosecond}, // due 9.5 s
	}
	users := []WaitTime{perUser(proto), perUser(proto)}
	for i, s := range steps {
		now = base.Add(s.end)
		if got := users[0].Next(s.taskTime); got != s.want {
			t.Errorf("step %d: wait %s, want %s", i, got, s.want)
		}
	}
	// The second user has its own schedule: its first task sets it.
	now = base.Add(10 * time.Second)
	if got := users[1].Next(200 * time.Millisecond); got != 800*time.Millisecond {
		t.Errorf("second user's first wait %s, want 800ms", got)
	}
}

// TestConstantThroughput checks the conversion to a pacing.
func TestConstantThroughput(t *testing.T) {
	w := perUser(ConstantThroughput(4))
	if d := w.Next(0); d < 249*time.Millisecond || d > 250*time.Millisecond {
		t.Errorf("ConstantThroughput(4) first wait %s, want 250ms", d)
	}
	if d := ConstantThroughput(0).Next(0); d != 0 {
		t.Errorf("ConstantThroughput(0) waits %s", d)
	}
}

// TestConstantPacingRate runs N users with ConstantPacing(1s) against a
// local server and counts the requests it serves over 20 s: N per second
// within 5 %.
func TestConstantPacingRate(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 s measurement")
	}
	t.Parallel()
	const users = 25
	const window = 20 * time.Second
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(time.Duration(served.Load()%7) * time.Millisecond) // uneven task times
	}))
	defer srv.Close()
	class := Class("Paced", func() *funcUser {
		return &funcUser{tasks: func(u *funcUser) []Task {
			return []Task{{Name: "get", Run: func(ctx context.Context) error {
				_, err := u.Client.Get(ctx, "/")
				return err
			}}}
		}}
	}).Wait(ConstantPacing(time.Second))
	tp := newTestPool(t, class)
	tp.configure(srv.URL, 0, tagFilter{})
	tp.setTarget(context.Background(), map[string]int64{"Paced": users})
	// Let every user get going, then measure.
	ready := time.NewTimer(1500 * time.Millisecond)
	<-ready.C
	before := served.Load()
	measure := time.NewTimer(window)
	<-measure.C
	got := served.Load() - before
	tp.stopAllWithin(context.Background(), 0)
	want := float64(users) * window.Seconds()
	if dev := (float64(got) - want) / want; dev < -0.05 || dev > 0.05 {
		t.Errorf("%d users at 1 task/s: the server served %d requests in %s, want %.0f ±5%%", users, got, window, want)
	}
	t.Logf("%d users paced at 1 s: %d requests served in %s (%.2f/s)", users, got, window, float64(got)/window.Seconds())
}

// TestBetweenExtremeBounds draws from Between with bounds whose difference
// overflows a Duration: it must not panic, and every draw lies in range.
func TestBetweenExtremeBounds(t *testing.T) {
	tests := []struct{ a, b time.Duration }{
		{-math.MaxInt64, math.MaxInt64},
		{math.MinInt64, math.MaxInt64},
		{0, math.MaxInt64},
		{math.MinInt64, 0},
		{math.MaxInt64, math.MinInt64}, // swapped
		{math.MaxInt64 - 1, math.MaxInt64},
		{math.MinInt64, math.MinInt64},
	}
	for _, tt := range tests {
		w := Between(tt.a, tt.b)
		lo, hi := min(tt.a, tt.b), max(tt.a, tt.b)
		for range 1000 {
			if d := w.Next(0); d < lo || d > hi {
				t.Fatalf("Between(%d, %d) returned %d", tt.a, tt.b, d)
			}
		}
	}
	if d := ConstantThroughput(1e-300).Next(0); d <= 0 {
		t.Errorf("ConstantThroughput(1e-300) waits %s, want the longest wait, not none", d)
	}
	if d := ConstantThroughput(math.NaN()).Next(0); d != 0 {
		t.Errorf("ConstantThroughput(NaN) waits %s, want 0", d)
	}
}

// valueWaiterUser has a WaitTime method with a value receiver, so that a
// nil *valueWaiterUser panics as soon as the method value is taken.
type valueWaiterUser struct{}

func (u *valueWaiterUser) Tasks() []Task {
	return []Task{{Name: "t", Run: func(context.Context) error { return nil }}}
}

func (u valueWaiterUser) WaitTime(time.Duration) time.Duration { return 0 }

// panicWaitUser is a user whose WaitTime method panics.
type panicWaitUser struct{ funcUser }

func (u *panicWaitUser) WaitTime(time.Duration) time.Duration { panic("waiter broke") }

// TestWaitTimePanic runs users whose wait time panics, in each place a
// wait time comes from: the panic is reported as an exception naming
// wait_time (it used to end the process), and the user goes on after
// waitAfterPanic instead of spinning.
func TestWaitTimePanic(t *testing.T) {
	panicking := WaitTimeFunc(func(time.Duration) time.Duration { panic("wait broke") })
	// taskRuns returns a task that sends the time of each run on ran.
	taskRuns := func(ran chan<- time.Time) []Task {
		return []Task{{Name: "t", Run: func(context.Context) error {
			select {
			case ran <- time.Now():
			default:
			}
			return nil
		}}}
	}
	tests := []struct {
		name    string
		class   func(ran chan<- time.Time) *UserClass
		wantMsg string
	}{
		{"WaitTimeFunc", func(ran chan<- time.Time) *UserClass {
			return Class("Func", func() *funcUser {
				return &funcUser{tasks: func(*funcUser) []Task { return taskRuns(ran) }}
			}).Wait(panicking)
		}, "panic: wait broke"},
		{"Waiter", func(ran chan<- time.Time) *UserClass {
			return Class("Waiter", func() *panicWaitUser {
				return &panicWaitUser{funcUser{tasks: func(*funcUser) []Task { return taskRuns(ran) }}}
			})
		}, "panic: waiter broke"},
		{"TaskSet.Wait", func(ran chan<- time.Time) *UserClass {
			return Class("Set", func() *funcUser {
				return &funcUser{tasks: func(*funcUser) []Task {
					return []Task{{Name: "set", Set: &TaskSet{Tasks: taskRuns(ran), Wait: panicking}}}
				}}
			})
		}, "panic: wait broke"},
		{"nil user with a value-receiver Waiter", func(ran chan<- time.Time) *UserClass {
			return Class("NilWaiter", func() *valueWaiterUser { return nil })
		}, "panic: value method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ran := make(chan time.Time, 1)
			class := tt.class(ran)
			tp := newTestPool(t, class)
			excSignal := exceptionSignal(tp)
			tp.setTarget(context.Background(), map[string]int64{class.name: 1})
			if tt.name == "nil user with a value-receiver Waiter" {
				// Its task cannot report runs (the user is nil): wait for the exception.
				select {
				case <-excSignal:
				case <-time.After(10 * time.Second):
					t.Fatal("timed out waiting for the exception")
				}
			} else {
				first := receiveTime(t, ran)
				second := receiveTime(t, ran)
				if gap := second.Sub(first); gap < waitAfterPanic-50*time.Millisecond {
					t.Errorf("the next task ran %s after a panicking wait time, want about %s", gap, waitAfterPanic)
				}
			}
			excs := tp.exceptions()
			if len(excs) == 0 || !strings.HasPrefix(excs[0], tt.wantMsg) {
				t.Fatalf("exceptions %q, want one starting %q", excs, tt.wantMsg)
			}
			tp.stopAllWithin(context.Background(), 0)
			waitPool(t, tp.pool)
			if n := len(tp.exceptions()); n > 3 {
				t.Errorf("%d exceptions in about a second: the user spins on its panicking wait time", n)
			}
		})
	}
}

func receiveTime(t *testing.T, ch <-chan time.Time) time.Time {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a task to run")
		return time.Time{}
	}
}

// exceptionSignal makes tp's exceptions also send on the returned
// channel; call it before any user starts.
func exceptionSignal(tp *testPool) <-chan string {
	ch := make(chan string, 16)
	report := tp.pool.exception
	tp.pool.exception = func(msg, traceback string) {
		report(msg, traceback)
		select {
		case ch <- msg:
		default:
		}
	}
	return ch
}
