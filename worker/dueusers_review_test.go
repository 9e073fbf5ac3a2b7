package worker

// Hostile review of the due users' line (dueusers.go) and of how the
// pool's executors, stops, rate cap and open model go through it.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// reviewPoll waits, polling, until cond holds or within passes; it
// reports whether cond held.
func reviewPoll(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// reviewLineState returns the line's length, ready count, holding and
// looking.
func reviewLineState(d *dueUsers) (line, ready int, holding, looking bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.line.len(), d.ready, d.holding, d.looking
}

// reviewStopAll stops every user of tp, as stopAllWithin(timeout), in a
// goroutine of its own; the channel closes when it returns.
func reviewStopAll(tp *testPool, timeout time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() { tp.stopAllWithin(context.Background(), timeout); close(done) }()
	return done
}

// reviewWaitStopped waits for reviewStopAll's channel, at most 5 s after
// the requests that held the line were worked off.
func reviewWaitStopped(t *testing.T, stopped <-chan struct{}) {
	t.Helper()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stopAllWithin did not return 5 s after the requests were worked off")
	}
}

// reviewPlainUser has no OnStart or OnStop: its stop while it waits ends
// it in the stopping goroutine, without an executor.
type reviewPlainUser struct {
	HTTPUser
	run func(context.Context) error
}

func (u *reviewPlainUser) Tasks() []Task { return []Task{{Name: "plain", Run: u.run}} }

// TestDueUsersReviewHoldSeenAtBegunIsLookedAt: users wait in line behind
// an executor that is ready; when it begins, too many requests wait, so
// the line starts to hold. When the requests are worked off (by no step's
// end: a user's own goroutine sent them, as lookLaterLocked's comment
// says), a look must hand the line out.
func TestDueUsersReviewHoldSeenAtBegunIsLookedAt(t *testing.T) {
	var requests atomic.Int64
	handed := make(chan *userRun, 4)
	d := &dueUsers{max: 1, backlog: func() int { return int(requests.Load()) },
		hand: func(r *userRun) { handed <- r }}
	a, b := &userRun{}, &userRun{}
	if !d.admit(a) {
		t.Fatal("first user not admitted to an empty line")
	}
	if d.admit(b) {
		t.Fatal("second user admitted with one executor ready of max 1")
	}
	requests.Store(maxSpawnBacklog + 1)
	if r := d.begun(); r != nil { // a's executor begins: the line now holds
		t.Fatalf("begun handed out %p while %d requests wait", r, maxSpawnBacklog+1)
	}
	requests.Store(0) // worked off; no executor is ready, none ends a step
	select {
	case r := <-handed:
		if r != b {
			t.Fatalf("look handed out %p, want the user in line %p", r, b)
		}
	case <-time.After(100 * lookEvery):
		line, ready, holding, looking := reviewLineState(d)
		t.Fatalf("user still in line %v after the requests were worked off: line %d, ready %d, holding %v, looking %v "+
			"(the hold began in begun, which arms no look)", 100*lookEvery, line, ready, holding, looking)
	}
}

// TestDueUsersReviewLineInvariantModel drives the line with random
// admits, begins, step ends and backlogs, simulating its executors, and
// checks after each operation that it can make progress on its own
// (a user in line has an executor ready ahead of it or a look due), and
// at the end that every user was handed out exactly once, the line's
// users first due first.
func TestDueUsersReviewLineInvariantModel(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 77))
			var requests atomic.Int64
			var mu sync.Mutex
			var readyRuns, handedOrder []*userRun // guarded by mu
			give := func(r *userRun) {
				if r == nil {
					return
				}
				mu.Lock()
				readyRuns = append(readyRuns, r)
				handedOrder = append(handedOrder, r)
				mu.Unlock()
			}
			d := &dueUsers{max: 3, backlog: func() int { return int(requests.Load()) }, hand: give}
			var pushed []*userRun
			users := 0
			var ops []string
			violation := ""
			for step := range 600 {
				switch k := rng.IntN(20); {
				case k == 0:
					// Let a look that is due run (the looks' timers are
					// real): without this the operations all fall within
					// one look's lookEvery.
					reviewPoll(2*lookEvery, func() bool { _, _, _, looking := reviewLineState(d); return !looking })
					ops = append(ops, "settle")
				case k < 8:
					r := &userRun{userEnv: userEnv{id: uint64(users)}}
					users++
					if d.admit(r) {
						give(r)
						ops = append(ops, fmt.Sprintf("admit %d: in", r.id))
					} else {
						pushed = append(pushed, r)
						ops = append(ops, fmt.Sprintf("admit %d: line", r.id))
					}
				case k < 14:
					mu.Lock()
					if len(readyRuns) == 0 {
						mu.Unlock()
						continue
					}
					i := rng.IntN(len(readyRuns))
					r := readyRuns[i]
					readyRuns = append(readyRuns[:i], readyRuns[i+1:]...)
					mu.Unlock()
					next := d.begun()
					give(next)
					ops = append(ops, fmt.Sprintf("begun %d: %v", r.id, next != nil))
				case k < 18:
					next := d.stepped()
					give(next)
					ops = append(ops, fmt.Sprintf("stepped: %v", next != nil))
				default:
					v := []int64{0, maxSpawnBacklog/2 + 1, maxSpawnBacklog + 1}[rng.IntN(3)]
					requests.Store(v)
					ops = append(ops, fmt.Sprintf("backlog %d", v))
				}
				d.mu.Lock()
				mu.Lock()
				bad := ""
				switch {
				case d.ready < 0 || d.ready > d.max:
					bad = fmt.Sprintf("ready %d out of [0, %d]", d.ready, d.max)
				case d.ready != len(readyRuns):
					bad = fmt.Sprintf("ready %d, but %d executors handed a user not begun", d.ready, len(readyRuns))
				case d.line.len() > 0 && d.ready == 0 && !d.looking:
					bad = fmt.Sprintf("%d users in line, no executor ready, no look due (holding %v): only a new due user or a step's end hands them out",
						d.line.len(), d.holding)
				}
				mu.Unlock()
				d.mu.Unlock()
				if bad != "" && violation == "" {
					violation = fmt.Sprintf("step %d: %s; last operations %q", step, bad, ops[max(0, len(ops)-6):])
				}
			}
			if violation != "" {
				t.Error(violation)
			}
			// Drain: requests worked off, every executor begins.
			requests.Store(0)
			rescued := false
			deadline := time.Now().Add(2 * time.Second)
			for {
				mu.Lock()
				var r *userRun
				if len(readyRuns) > 0 {
					r = readyRuns[0]
					readyRuns = readyRuns[1:]
				}
				mu.Unlock()
				if r != nil {
					give(d.begun())
					continue
				}
				line, _, _, _ := reviewLineState(d)
				if line == 0 {
					break
				}
				if time.Now().After(deadline) && !rescued {
					rescued = true
					t.Errorf("drain: %d users left in line with no executor ready, 2 s after the requests were worked off", line)
					d.look() // rescue, to check the rest
				}
				time.Sleep(time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			seen := make(map[*userRun]int)
			for _, r := range handedOrder {
				seen[r]++
			}
			if len(handedOrder) != users || len(seen) != users {
				t.Errorf("%d users handed out %d times, %d distinct; want each once", users, len(handedOrder), len(seen))
			}
			inLine := make(map[*userRun]bool, len(pushed))
			for _, r := range pushed {
				inLine[r] = true
			}
			i := 0
			for _, r := range handedOrder {
				if inLine[r] {
					if pushed[i] != r {
						t.Errorf("line's %dth user out was user %d, want user %d (first due first)", i, r.id, pushed[i].id)
						break
					}
					i++
				}
			}
			if d.ready != 0 {
				t.Errorf("ready %d after every executor began", d.ready)
			}
		})
	}
}

// TestDueUsersReviewStaleHoldStrandsPool: in a pool, users in line behind
// a ready executor are stranded when the line starts to hold as that
// executor begins and the requests are then worked off by no step's end:
// no user runs, and stopping them cannot end them (stopped users in line
// wait for an executor; only hooked waiting users go through submit).
func TestDueUsersReviewStaleHoldStrandsPool(t *testing.T) {
	const n = 20
	var requests atomic.Int64
	var started, stopped atomic.Int64
	class := Class("Stranded", func() *funcUser {
		return &funcUser{
			onStart: func(context.Context) error { started.Add(1); return nil },
			onStop:  func(context.Context) error { stopped.Add(1); return nil },
			tasks: func(*funcUser) []Task {
				return []Task{{Name: "t", Run: func(context.Context) error { return nil }}}
			},
		}
	}).Wait(Constant(time.Hour))
	tp := newTestPool(t, class)
	tp.backlogFunc = func() int { return int(requests.Load()) }
	tp.due.max = 1
	// An executor handed a user it has not begun yet (the window between
	// handOff and begun, widened): the users coming due wait in line.
	tp.due.mu.Lock()
	tp.due.ready = 1
	tp.due.mu.Unlock()
	t.Cleanup(func() { // before the pool's own cleanup: hand the line out
		requests.Store(0)
		tp.due.look()
	})
	tp.setTarget(context.Background(), map[string]int64{"Stranded": n})
	if line, _, _, _ := reviewLineState(&tp.due); line != n {
		t.Fatalf("setup: %d users in line, want %d", line, n)
	}
	requests.Store(maxSpawnBacklog + 1)
	if next := tp.due.begun(); next != nil { // the ready executor begins
		t.Fatalf("begun handed a user out while %d requests wait", maxSpawnBacklog+1)
	}
	requests.Store(0) // worked off by no step's end
	if !reviewPoll(100*lookEvery, func() bool { return started.Load() == n }) {
		line, ready, holding, looking := reviewLineState(&tp.due)
		t.Errorf("%d of %d users started %v after the requests were worked off: line %d, ready %d, holding %v, looking %v",
			started.Load(), n, 100*lookEvery, line, ready, holding, looking)
	}
	stopDone := reviewStopAll(tp, 0)
	waitFor(t, stopDone, "stopAllWithin")
	if !tp.waitWithin(500 * time.Millisecond) {
		line, _, _, _ := reviewLineState(&tp.due)
		t.Errorf("after stopAllWithin: users never exited (%d in line, OnStart %d, OnStop %d of %d)",
			line, started.Load(), stopped.Load(), n)
	}
}

// reviewHourlyClass is a class whose users count their OnStart, OnStop
// and tasks, and wait an hour between tasks.
func reviewHourlyClass(name string, started, stopped, tasks *atomic.Int64) *UserClass {
	return Class(name, func() *funcUser {
		return &funcUser{
			onStart: func(context.Context) error { started.Add(1); return nil },
			onStop:  func(context.Context) error { stopped.Add(1); return nil },
			tasks: func(*funcUser) []Task {
				return []Task{{Name: "t", Run: func(context.Context) error { tasks.Add(1); return nil }}}
			},
		}
	}).Wait(Constant(time.Hour))
}

// TestDueUsersReviewStopWhileHolding: users stopped while they wait in a
// held line (some never begun, some with OnStop waiting for an executor)
// all end once the requests are worked off, through the look: OnStart and
// OnStop once each, no task after the stop, and stopAllWithin returns
// without its timeout.
func TestDueUsersReviewStopWhileHolding(t *testing.T) {
	t.Run("never begun", func(t *testing.T) {
		const n = 30
		var requests atomic.Int64
		var spawnLooked atomic.Bool
		var started, stopped, tasks atomic.Int64
		class := reviewHourlyClass("Unbegun", &started, &stopped, &tasks)
		tp := newTestPool(t, class)
		requests.Store(maxSpawnBacklog + 1)
		tp.backlogFunc = func() int {
			if spawnLooked.CompareAndSwap(false, true) {
				return 0 // the spawn step's own look: it starts its users
			}
			return int(requests.Load()) // the requests pile up as they come due
		}
		tp.setTarget(context.Background(), map[string]int64{"Unbegun": n})
		if line, _, holding, looking := reviewLineState(&tp.due); line != n || !holding || !looking {
			t.Fatalf("setup: line %d, holding %v, looking %v; want %d, true, true", line, holding, looking, n)
		}
		stopDone := reviewStopAll(tp, 8*time.Second)
		if !reviewPoll(5*time.Second, func() bool {
			tp.due.mu.Lock()
			defer tp.due.mu.Unlock()
			for i := range tp.due.line.len() {
				q := &tp.due.line
				if !q.buf[(q.head+i)%len(q.buf)].stopping.Load() {
					return false
				}
			}
			return true
		}) {
			t.Fatal("the users in line were not asked to stop")
		}
		if started.Load() != 0 {
			t.Fatalf("%d users began while the line held", started.Load())
		}
		requests.Store(0)
		reviewWaitStopped(t, stopDone)
		waitPool(t, tp.pool)
		if started.Load() != n || stopped.Load() != n || tasks.Load() != 0 {
			t.Errorf("OnStart %d, OnStop %d, tasks %d; want %d, %d, 0", started.Load(), stopped.Load(), tasks.Load(), n, n)
		}
	})
	t.Run("OnStop waiting", func(t *testing.T) {
		const n = 30
		var requests atomic.Int64
		var started, stopped, tasks atomic.Int64
		class := reviewHourlyClass("Hooked", &started, &stopped, &tasks)
		tp := newTestPool(t, class)
		tp.backlogFunc = func() int { return int(requests.Load()) }
		tp.setTarget(context.Background(), map[string]int64{"Hooked": n})
		if !reviewPoll(5*time.Second, func() bool { return tasks.Load() == n }) {
			t.Fatalf("setup: %d of %d users ran their first task", tasks.Load(), n)
		}
		requests.Store(maxSpawnBacklog + 1)
		stopDone := reviewStopAll(tp, 8*time.Second)
		if !reviewPoll(5*time.Second, func() bool {
			line, _, _, _ := reviewLineState(&tp.due)
			return line == n
		}) {
			line, _, _, _ := reviewLineState(&tp.due)
			t.Fatalf("%d of %d stopped users with OnStop in line while the requests wait (OnStop ran %d times)", line, n, stopped.Load())
		}
		requests.Store(0)
		reviewWaitStopped(t, stopDone)
		waitPool(t, tp.pool)
		if started.Load() != n || stopped.Load() != n || tasks.Load() != n {
			t.Errorf("OnStart %d, OnStop %d, tasks %d; want %d, %d, %d", started.Load(), stopped.Load(), tasks.Load(), n, n, n)
		}
	})
}

// reviewToggleBacklog sets requests to random backlogs (none, fewer than
// half the hold's, in the hold's band, above it) every few milliseconds
// until stop is closed, then to none.
func reviewToggleBacklog(requests *atomic.Int64, seed uint64, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer requests.Store(0)
		rng := rand.New(rand.NewPCG(seed, 3))
		tick := time.NewTicker(3 * time.Millisecond)
		defer tick.Stop()
		levels := []int64{0, maxSpawnBacklog/2 - 1, maxSpawnBacklog/2 + 1, maxSpawnBacklog + 1}
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				requests.Store(levels[rng.IntN(len(levels))])
			}
		}
	}()
	return done
}

// reviewExclusive counts a user's tasks and any that ran while another of
// its tasks ran (the user on two executors at once).
type reviewExclusive struct {
	tasks, doubled atomic.Int64
	enough         chan struct{}
	want           int64
}

func (x *reviewExclusive) task(busy *atomic.Int32) func(context.Context) error {
	return func(context.Context) error {
		if busy.Add(1) != 1 {
			x.doubled.Add(1)
		}
		runtime.Gosched()
		busy.Add(-1)
		if x.tasks.Add(1) == x.want {
			close(x.enough)
		}
		return nil
	}
}

// reviewCountHolds counts the times the pool's line begins to hold, and
// notes them as the pool does.
func reviewCountHolds(tp *testPool) *atomic.Int64 {
	holds := new(atomic.Int64)
	tp.due.onHold = func(requests int) { holds.Add(1); tp.noteLineHold(requests) }
	return holds
}

// reviewCheckDrained checks that the pool's line is empty, no executor
// counts ready, and no look stays due.
func reviewCheckDrained(t *testing.T, d *dueUsers) {
	t.Helper()
	if !reviewPoll(time.Second, func() bool {
		line, ready, _, looking := reviewLineState(d)
		return line == 0 && ready == 0 && !looking
	}) {
		line, ready, holding, looking := reviewLineState(d)
		t.Errorf("after the pool ended: line %d, ready %d, holding %v, looking %v; want 0, 0, -, false", line, ready, holding, looking)
	}
}

// TestDueUsersReviewStressThroughHolds: many users waiting a millisecond
// or less between tasks, a short line and a backlog that jumps in and out
// of the hold: no user runs on two executors at once, every user begins
// and ends once, and the line, its ready count and its look are empty
// after the stop. With GOMAXPROCS=1 and the default line too.
func TestDueUsersReviewStressThroughHolds(t *testing.T) {
	cases := []struct {
		name  string
		procs int
		max   int // 0: the default
	}{
		{"max 2", 0, 2},
		{"GOMAXPROCS 1, default max", 1, 0},
	}
	for ci, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.procs > 0 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tc.procs))
			}
			const n = 300
			var started, stopped atomic.Int64
			x := &reviewExclusive{enough: make(chan struct{}), want: 8000}
			class := Class("Busy", func() *funcUser {
				busy := new(atomic.Int32)
				return &funcUser{
					onStart: func(context.Context) error { started.Add(1); return nil },
					onStop:  func(context.Context) error { stopped.Add(1); return nil },
					tasks:   func(*funcUser) []Task { return []Task{{Name: "t", Run: x.task(busy)}} },
				}
			}).Wait(Between(0, time.Millisecond))
			tp := newTestPool(t, class)
			var requests atomic.Int64
			tp.backlogFunc = func() int { return int(requests.Load()) }
			holds := reviewCountHolds(tp)
			if tc.max > 0 {
				tp.due.max = tc.max
			}
			tp.setTarget(context.Background(), map[string]int64{"Busy": n})
			stopToggle := make(chan struct{})
			toggled := reviewToggleBacklog(&requests, uint64(ci), stopToggle)
			waitFor(t, x.enough, "8,000 tasks through a line that holds and lets go")
			close(stopToggle)
			<-toggled
			stopDone := reviewStopAll(tp, 5*time.Second)
			waitFor(t, stopDone, "stopAllWithin")
			waitPool(t, tp.pool)
			if x.doubled.Load() != 0 {
				t.Errorf("%d tasks ran while their user ran another on a second executor", x.doubled.Load())
			}
			if started.Load() != n || stopped.Load() != n {
				t.Errorf("OnStart %d, OnStop %d; want %d each", started.Load(), stopped.Load(), n)
			}
			reviewCheckDrained(t, &tp.due)
			if holds.Load() == 0 {
				t.Error("the line never held: the test did not exercise holds")
			}
			if tc.max == 0 && tp.due.max != readyPerCPU*tc.procs {
				t.Errorf("default max %d with GOMAXPROCS %d, want %d", tp.due.max, tc.procs, readyPerCPU*tc.procs)
			}
		})
	}
}

// reviewModelRun is a pool of n users of one class whose tasks note
// doubled runs, with a line of max 2 whose backlog the test toggles.
type reviewModelRun struct {
	tp               *testPool
	x                *reviewExclusive
	started, stopped atomic.Int64
	requests         atomic.Int64
	holds            *atomic.Int64
	n                int64
	class            string
}

func newReviewModelRun(t *testing.T, class string, n int64, want int64) *reviewModelRun {
	m := &reviewModelRun{x: &reviewExclusive{enough: make(chan struct{}), want: want}, n: n, class: class}
	c := Class(class, func() *funcUser {
		busy := new(atomic.Int32)
		return &funcUser{
			onStart: func(context.Context) error { m.started.Add(1); return nil },
			onStop:  func(context.Context) error { m.stopped.Add(1); return nil },
			tasks:   func(*funcUser) []Task { return []Task{{Name: "t", Run: m.x.task(busy)}} },
		}
	})
	m.tp = newTestPool(t, c)
	m.tp.backlogFunc = func() int { return int(m.requests.Load()) }
	m.holds = reviewCountHolds(m.tp)
	m.tp.due.max = 2
	return m
}

// start starts the users and toggles the backlog until they ran enough
// iterations.
func (m *reviewModelRun) start(t *testing.T, seed uint64) {
	m.tp.setTarget(context.Background(), map[string]int64{m.class: m.n})
	stopToggle := make(chan struct{})
	toggled := reviewToggleBacklog(&m.requests, seed, stopToggle)
	waitFor(t, m.x.enough, "iterations through holds")
	close(stopToggle)
	<-toggled
}

// stopAndCheck stops the pool and checks that no task ran doubled, every
// user started and stopped once, the line drained, and it held at all.
func (m *reviewModelRun) stopAndCheck(t *testing.T) {
	stopDone := reviewStopAll(m.tp, 5*time.Second)
	waitFor(t, stopDone, "stopAllWithin")
	waitPool(t, m.tp.pool)
	if m.x.doubled.Load() != 0 {
		t.Errorf("%d tasks ran while their user ran another", m.x.doubled.Load())
	}
	if m.started.Load() != m.n || m.stopped.Load() != m.n {
		t.Errorf("OnStart %d, OnStop %d; want %d each", m.started.Load(), m.stopped.Load(), m.n)
	}
	reviewCheckDrained(t, &m.tp.due)
	if m.holds.Load() == 0 {
		t.Error("the line never held: the test did not exercise holds")
	}
}

// TestDueUsersReviewLoadModelsThroughHolds: the rate cap's dispatcher and
// the open model's submit users into a line that holds and lets go: no
// user is lost or doubled, iterations go on after the holds, and the
// pool stops clean.
func TestDueUsersReviewLoadModelsThroughHolds(t *testing.T) {
	t.Run("rate cap", func(t *testing.T) {
		m := newReviewModelRun(t, "Capped", 50, 400)
		m.tp.setMaxRPS(time.Now(), 1000)
		m.start(t, 11)
		m.stopAndCheck(t)
	})
	t.Run("open model", func(t *testing.T) {
		m := newReviewModelRun(t, "Open", 20, 200)
		open := newOpenModel(time.Now(), 500)
		m.tp.setArrivals(open)
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() { open.run(ctx, m.tp.submit); close(ran) }()
		defer func() { cancel(); <-ran }()
		m.start(t, 12)
		cancel()
		<-ran
		m.stopAndCheck(t)
	})
}

// TestDueUsersReviewLookEndsWithTheHold: a look armed by a hold stops
// re-arming once the line is empty, even while the requests stay in the
// hold's band: no timer keeps the pool alive after its users.
func TestDueUsersReviewLookEndsWithTheHold(t *testing.T) {
	var requests atomic.Int64
	requests.Store(maxSpawnBacklog + 1)
	handed := make(chan *userRun, 4)
	d := &dueUsers{max: 4, backlog: func() int { return int(requests.Load()) },
		hand: func(r *userRun) { handed <- r }}
	r := &userRun{}
	if d.admit(r) {
		t.Fatal("admitted while too many requests wait")
	}
	if _, _, holding, looking := reviewLineState(d); !holding || !looking {
		t.Fatalf("holding %v, looking %v; want true, true", holding, looking)
	}
	requests.Store(maxSpawnBacklog/2 - 1)
	select {
	case got := <-handed:
		if got != r {
			t.Fatalf("handed %p, want %p", got, r)
		}
	case <-time.After(100 * lookEvery):
		t.Fatal("the held user was not handed out after the requests fell below half")
	}
	requests.Store(maxSpawnBacklog/2 + 1) // in the band; the line is empty
	if !reviewPoll(time.Second, func() bool { _, _, _, looking := reviewLineState(d); return !looking }) {
		t.Error("a look is still due a second after the line emptied")
	}
}

// TestDueUsersReviewPlainUsersStopInLine: users without hooks that wait
// in a held line when stopped cannot be ended by their stop (they are not
// waiting): they end when handed out; a line that holds for good (the
// requests stay) keeps stopAllWithin to its timeout and stopGrace. This
// checks that they do end, once each, as soon as the requests go.
func TestDueUsersReviewPlainUsersStopInLine(t *testing.T) {
	const n = 25
	var requests atomic.Int64
	var tasks atomic.Int64
	gate := make(chan struct{})
	class := Class("Plain", func() *reviewPlainUser {
		return &reviewPlainUser{run: func(context.Context) error {
			if tasks.Add(1) <= n {
				<-gate // every user's first task waits, so that all are due at once after it
			}
			return nil
		}}
	}).Wait(Constant(time.Millisecond))
	tp := newTestPool(t, class)
	tp.backlogFunc = func() int { return int(requests.Load()) }
	tp.setTarget(context.Background(), map[string]int64{"Plain": n})
	if !reviewPoll(5*time.Second, func() bool { return tasks.Load() == n }) {
		t.Fatalf("setup: %d of %d users in their first task", tasks.Load(), n)
	}
	requests.Store(maxSpawnBacklog + 1)
	close(gate) // every user ends its task, and comes due a millisecond later
	if !reviewPoll(5*time.Second, func() bool { line, _, _, _ := reviewLineState(&tp.due); return line == n }) {
		line, _, _, _ := reviewLineState(&tp.due)
		t.Fatalf("%d of %d users in the held line", line, n)
	}
	stopDone := reviewStopAll(tp, 8*time.Second)
	if !reviewPoll(5*time.Second, func() bool {
		tp.pool.mu.Lock() // the pool's, not testPool's own mu
		defer tp.pool.mu.Unlock()
		return len(tp.leaving) == n
	}) {
		t.Fatal("the users were not asked to stop")
	}
	before := tasks.Load()
	requests.Store(0)
	reviewWaitStopped(t, stopDone)
	waitPool(t, tp.pool)
	if tasks.Load() != before {
		t.Errorf("%d tasks ran after the stop", tasks.Load()-before)
	}
	reviewCheckDrained(t, &tp.due)
}
