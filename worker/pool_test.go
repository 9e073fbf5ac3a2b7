package worker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
	"github.com/golocust/golocust/stats"
)

// funcUser is a user whose tasks and hooks are given by the test.
type funcUser struct {
	HTTPUser
	tasks   func(u *funcUser) []Task
	onStart func(ctx context.Context) error
	onStop  func(ctx context.Context) error
}

func (u *funcUser) Tasks() []Task { return u.tasks(u) }

func (u *funcUser) OnStart(ctx context.Context) error {
	if u.onStart == nil {
		return nil
	}
	return u.onStart(ctx)
}

func (u *funcUser) OnStop(ctx context.Context) error {
	if u.onStop == nil {
		return nil
	}
	return u.onStop(ctx)
}

// testPool is a pool over classes with its exceptions collected.
type testPool struct {
	*pool
	collector *stats.Collector
	mu        sync.Mutex
	errs      []string
}

func newTestPool(t *testing.T, classes ...*UserClass) *testPool {
	t.Helper()
	byName, err := validateClasses(classes)
	if err != nil {
		t.Fatal(err)
	}
	tp := &testPool{collector: stats.NewCollector()}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tp.pool = newPool(byName, tp.collector, logger, func(msg, traceback string) {
		tp.mu.Lock()
		defer tp.mu.Unlock()
		tp.errs = append(tp.errs, msg)
	})
	t.Cleanup(func() {
		tp.stopAllWithin(context.Background(), 0)
		waitPool(t, tp.pool)
	})
	return tp
}

func (tp *testPool) exceptions() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return slices.Clone(tp.errs)
}

// trace is a goroutine-safe list of events.
type trace struct {
	mu     sync.Mutex
	events []string
	full   chan struct{}
	limit  int
}

func newTrace(limit int) *trace { return &trace{full: make(chan struct{}), limit: limit} }

func (tr *trace) add(e string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.events = append(tr.events, e)
	if len(tr.events) == tr.limit {
		close(tr.full)
	}
	return len(tr.events)
}

func (tr *trace) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.events)
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestTaskSets runs nested and sequential task sets and checks the exact
// order of tasks and hooks, interrupts and stop included.
func TestTaskSets(t *testing.T) {
	tr := newTrace(-1)
	done := make(chan struct{})
	var tasksRun atomic.Int64
	step := func(name string, ret error) Task {
		return Task{Name: name, Run: func(ctx context.Context) error {
			tr.add(name)
			if tasksRun.Add(1) >= 30 {
				select {
				case <-done:
				default:
					close(done)
				}
				return ErrStopUser
			}
			return ret
		}}
	}
	hook := func(name string) func(context.Context) error {
		return func(context.Context) error { tr.add(name); return nil }
	}
	class := Class("SetUser", func() *funcUser {
		return &funcUser{
			tasks: func(*funcUser) []Task {
				return []Task{{Name: "outer", Set: &TaskSet{
					Sequential: true,
					OnStart:    hook("outer.start"),
					OnStop:     hook("outer.stop"),
					Tasks: []Task{
						step("a", nil),
						{Name: "inner", Set: &TaskSet{
							Sequential: true,
							OnStart:    hook("inner.start"),
							OnStop:     hook("inner.stop"),
							Tasks:      []Task{step("b", nil), step("c", ErrInterrupt)},
						}},
						step("d", nil),
					},
				}}}
			},
			onStop: hook("user.stop"),
		}
	})
	tp := newTestPool(t, class)
	tp.setTarget(context.Background(), map[string]int64{"SetUser": 1})
	waitFor(t, done, "30 tasks")
	tp.stopAll(context.Background())

	period := []string{"a", "inner.start", "b", "c", "inner.stop", "d"}
	var want []string
	want = append(want, "outer.start")
	for range 8 { // 8 periods of 4 tasks cover the 30 tasks
		want = append(want, period...)
	}
	// The 30th task is the last; then the sets and the user unwind.
	got := tr.list()
	tasks := 0
	cut := 0
	for i, e := range want {
		if !strings.Contains(e, ".") {
			tasks++
		}
		if tasks == 30 {
			cut = i + 1
			break
		}
	}
	want = want[:cut]
	switch want[len(want)-1] {
	case "b", "c":
		want = append(want, "inner.stop")
	}
	want = append(want, "outer.stop", "user.stop")
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %v\nwant %v", got, want)
	}
	if errs := tp.exceptions(); len(errs) > 0 {
		t.Errorf("exceptions reported: %v", errs)
	}
}

// TestInterruptAtRootIsReported checks that ErrInterrupt from a user's own
// task, which has no parent to return to, is reported, not ignored.
func TestInterruptAtRootIsReported(t *testing.T) {
	ran := make(chan struct{})
	var once sync.Once
	class := Class("RootUser", func() *funcUser {
		return &funcUser{tasks: func(*funcUser) []Task {
			return []Task{{Name: "x", Run: func(ctx context.Context) error {
				once.Do(func() { close(ran) })
				return ErrInterrupt
			}}}
		}}
	}).Wait(Constant(time.Hour))
	tp := newTestPool(t, class)
	tp.setTarget(context.Background(), map[string]int64{"RootUser": 1})
	waitFor(t, ran, "the task")
	// The exception is reported as the task returns; a stop before that
	// would make the interrupt the stop's, not an exception.
	locusttest.Eventually(t, 5*time.Second, func() string {
		if len(tp.exceptions()) == 0 {
			return "no exception yet"
		}
		return ""
	})
	tp.stopAll(context.Background())
	if errs := tp.exceptions(); len(errs) != 1 || !strings.Contains(errs[0], "interrupt") {
		t.Errorf("exceptions %v, want one about the interrupt", errs)
	}
}

// TestCompileTasksTags checks tag selection through nested sets against
// Locust's rules: a set's tags apply to its tasks, and a set is kept when
// any task in it is.
func TestCompileTasksTags(t *testing.T) {
	leaf := func(name string, tags ...string) Task {
		return Task{Name: name, Tags: tags, Run: func(context.Context) error { return nil }}
	}
	tasks := []Task{
		leaf("plain"),
		leaf("browse", "web"),
		leaf("buy", "web", "checkout"),
		{Name: "admin", Tags: []string{"admin"}, Set: &TaskSet{Tasks: []Task{
			leaf("users"),
			leaf("audit", "slow"),
		}}},
		{Name: "mixed", Set: &TaskSet{Tasks: []Task{
			leaf("search", "web"),
			leaf("report", "slow"),
			{Name: "deep", Set: &TaskSet{Tasks: []Task{leaf("deepest", "checkout")}}},
		}}},
	}
	tests := []struct {
		name             string
		include, exclude []string
		want             []string
		wantErr          bool
	}{
		{name: "no filter", want: []string{"plain", "browse", "buy", "users", "audit", "search", "report", "deepest"}},
		{name: "include web", include: []string{"web"}, want: []string{"browse", "buy", "search"}},
		{name: "include admin selects the set", include: []string{"admin"}, want: []string{"users", "audit"}},
		{name: "include checkout reaches deep", include: []string{"checkout"}, want: []string{"buy", "deepest"}},
		{name: "exclude slow", exclude: []string{"slow"}, want: []string{"plain", "browse", "buy", "users", "search", "deepest"}},
		{name: "include web exclude checkout", include: []string{"web"}, exclude: []string{"checkout"}, want: []string{"browse", "search"}},
		{name: "exclude admin drops the set", include: []string{"slow", "admin"}, exclude: []string{"admin"}, want: []string{"report"}},
		{name: "nothing matches", include: []string{"nope"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := &setNode{}
			err := compile(root, tasks, &tagFilter{include: tt.include, exclude: tt.exclude})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, want one")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var walk func(n *setNode)
			walk = func(n *setNode) {
				for _, c := range n.nodes {
					if c.set != nil {
						walk(c.set)
					} else {
						got = append(got, c.task.Name)
					}
				}
			}
			walk(root)
			if !slices.Equal(got, tt.want) {
				t.Errorf("tasks %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCompileTasksErrors checks malformed task lists.
func TestCompileTasksErrors(t *testing.T) {
	run := func(context.Context) error { return nil }
	loop := &TaskSet{}
	loop.Tasks = []Task{{Name: "self", Set: loop}}
	tests := []struct {
		name  string
		tasks []Task
		want  string
	}{
		{"empty", nil, "no tasks"},
		{"no run", []Task{{Name: "x"}}, "neither"},
		{"both", []Task{{Name: "x", Run: run, Set: &TaskSet{}}}, "both"},
		{"negative weight", []Task{{Name: "x", Run: run, Weight: -1}}, "negative"},
		{"cycle", []Task{{Name: "loop", Set: loop}}, "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := compile(&setNode{}, tt.tasks, &tagFilter{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestTaskWeights checks that picks follow weights within a binomial
// bound.
func TestTaskWeights(t *testing.T) {
	run := func(context.Context) error { return nil }
	root := &setNode{}
	if err := compile(root, []Task{{Name: "a", Weight: 3, Run: run}, {Name: "b", Weight: 1, Run: run}, {Name: "c", Run: run}}, &tagFilter{}); err != nil {
		t.Fatal(err)
	}
	const n = 50000
	counts := map[string]int{}
	for range n {
		node, _ := root.pick(0)
		counts[node.task.Name]++
	}
	// p(a)=0.6, p(b)=p(c)=0.2; 5 sigma of a binomial with n=50000 is < 0.011.
	for name, p := range map[string]float64{"a": 0.6, "b": 0.2, "c": 0.2} {
		if got := float64(counts[name]) / n; got < p-0.011 || got > p+0.011 {
			t.Errorf("task %s picked %.4f of the time, want %.2f", name, got, p)
		}
	}
}

// TestStopTimeout runs a task that sleeps 2 s and stops the user while it
// sleeps: under a 5 s stop timeout the task completes, under 1 s it is
// cancelled, and OnStop runs in both cases.
func TestStopTimeout(t *testing.T) {
	tests := []struct {
		timeout       time.Duration
		wantCompleted bool
	}{
		{5 * time.Second, true},
		{1 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.timeout.String(), func(t *testing.T) {
			t.Parallel()
			started := make(chan time.Time, 1)
			result := make(chan string, 1)
			stopped := make(chan struct{})
			class := Class("Sleeper", func() *funcUser {
				return &funcUser{
					tasks: func(*funcUser) []Task {
						return []Task{{Name: "sleep", Run: func(ctx context.Context) error {
							started <- time.Now()
							select {
							case <-time.After(2 * time.Second):
								result <- "completed"
							case <-ctx.Done():
								result <- "cancelled"
							}
							return ctx.Err()
						}}}
					},
					onStop: func(ctx context.Context) error { close(stopped); return nil },
				}
			}).Wait(Constant(time.Hour))
			tp := newTestPool(t, class)
			tp.configure("", tt.timeout, tagFilter{})
			tp.setTarget(context.Background(), map[string]int64{"Sleeper": 1})
			var t0 time.Time
			select {
			case t0 = <-started:
			case <-time.After(10 * time.Second):
				t.Fatal("the task never started")
			}
			tp.stopAll(context.Background())
			elapsed := time.Since(t0)
			got := <-result
			want := "cancelled"
			if tt.wantCompleted {
				want = "completed"
			}
			if got != want {
				t.Errorf("stop_timeout %s: the 2 s task %s, want %s", tt.timeout, got, want)
			}
			select {
			case <-stopped:
			default:
				t.Errorf("stop_timeout %s: OnStop did not run", tt.timeout)
			}
			low, high := 2*time.Second, 3*time.Second
			if !tt.wantCompleted {
				low, high = tt.timeout, tt.timeout+time.Second
			}
			if elapsed < low || elapsed > high {
				t.Errorf("stop_timeout %s: stopping took %s after the task started, want %s to %s", tt.timeout, elapsed, low, high)
			}
			if len(tp.exceptions()) > 0 {
				t.Errorf("exceptions: %v", tp.exceptions())
			}
		})
	}
}

// TestStopWhileWaitingIsImmediate checks that a user in its wait stops at
// once, whatever the stop timeout, like Locust.
func TestStopWhileWaitingIsImmediate(t *testing.T) {
	ran := make(chan struct{}, 1)
	class := Class("Waiter", func() *funcUser {
		return &funcUser{tasks: func(*funcUser) []Task {
			return []Task{{Name: "x", Run: func(context.Context) error {
				select {
				case ran <- struct{}{}:
				default:
				}
				return nil
			}}}
		}}
	}).Wait(Constant(time.Hour))
	tp := newTestPool(t, class)
	tp.configure("", time.Minute, tagFilter{})
	tp.setTarget(context.Background(), map[string]int64{"Waiter": 1})
	waitFor(t, ran, "the task")
	start := time.Now()
	tp.stopAll(context.Background())
	if d := time.Since(start); d > time.Second {
		t.Errorf("stopping a waiting user took %s", d)
	}
}

// TestStopTest checks that StopTest reaches the pool's callback, and only
// logs without one.
func TestStopTest(t *testing.T) {
	asked := make(chan struct{}, 4)
	class := Class("Quitter", func() *funcUser {
		return &funcUser{tasks: func(*funcUser) []Task {
			return []Task{{Name: "quit", Run: func(ctx context.Context) error {
				StopTest(ctx)
				return ErrStopUser
			}}}
		}}
	})
	tp := newTestPool(t, class)
	tp.setStopTest(func() { asked <- struct{}{} })
	tp.setTarget(context.Background(), map[string]int64{"Quitter": 2})
	waitFor(t, asked, "the first StopTest")
	waitFor(t, asked, "the second StopTest")
	StopTest(context.Background()) // outside a user: nothing, no panic
}

// paceUser implements Waiter: it waits 10 ms after each task, counting
// calls in its own field.
type paceUser struct {
	calls int
	seen  chan int
}

func (u *paceUser) Tasks() []Task {
	return []Task{{Name: "t", Run: func(context.Context) error { return nil }}}
}

func (u *paceUser) WaitTime(time.Duration) time.Duration {
	u.calls++
	if u.calls == 3 {
		u.seen <- u.calls
	}
	return 10 * time.Millisecond
}

// TestWaiterOverridesClassWait checks that a user's own WaitTime method
// is used instead of the class's wait.
func TestWaiterOverridesClassWait(t *testing.T) {
	seen := make(chan int, 1)
	class := Class("PaceUser", func() *paceUser { return &paceUser{seen: seen} }).Wait(Constant(time.Hour))
	tp := newTestPool(t, class)
	tp.setTarget(context.Background(), map[string]int64{"PaceUser": 1})
	select {
	case n := <-seen:
		if n != 3 {
			t.Errorf("calls %d", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the user's WaitTime was not used (the class waits an hour)")
	}
}

// TestStopUserFromOnStart checks ErrStopUser from OnStart: no task runs,
// OnStop does.
func TestStopUserFromOnStart(t *testing.T) {
	stopped := make(chan struct{})
	var ran sync.WaitGroup
	class := Class("Early", func() *funcUser {
		return &funcUser{
			tasks: func(*funcUser) []Task {
				return []Task{{Name: "never", Run: func(context.Context) error { ran.Add(1); return errors.New("ran") }}}
			},
			onStart: func(context.Context) error { return ErrStopUser },
			onStop:  func(context.Context) error { close(stopped); return nil },
		}
	})
	tp := newTestPool(t, class)
	tp.setTarget(context.Background(), map[string]int64{"Early": 1})
	waitFor(t, stopped, "OnStop")
	if errs := tp.exceptions(); len(errs) > 0 {
		t.Errorf("exceptions %v: a task ran after ErrStopUser", errs)
	}
	// The stopped user no longer counts, and the next spawn replaces it.
	waitCount := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for tp.counts()["Early"] != want {
			if time.Now().After(deadline) {
				t.Fatalf("users of Early: %d, want %d", tp.counts()["Early"], want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCount(0)
	stopped = make(chan struct{})
	tp.setTarget(context.Background(), map[string]int64{"Early": 1})
	waitFor(t, stopped, "the replacement's OnStop")
	waitCount(0)
}
