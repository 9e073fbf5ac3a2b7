package worker

// This file owns how users run: on executor goroutines while they run a
// task, and on nothing but a timer while they wait. pool.go owns the users
// (start, stop, exit), taskset.go what a user's tasks are.
//
// A user spends nearly all its life waiting between tasks. Earlier, each
// user was a goroutine of its own: at least a 2 KB stack while it waited,
// grown to 8 or 16 KB by every HTTP request and shrunk again by the next
// garbage collection, and one stack more for the collector to scan. With
// 450,000 users that was 0.9 GB of stacks, 24 % of the CPU in copying
// stacks, and a run queue tens of thousands deep whenever many users woke
// at once. Now a waiting user is its userRun, its timer and its own
// values; when the timer fires the user is handed to an idle executor,
// whose stack is already grown, and the executor runs the user until its
// next wait.

import (
	"errors"
	"runtime"
	"runtime/debug"
	"time"
)

// States of a user, in userRun.state.
const (
	userRunning int32 = iota // on an executor
	userWaiting              // between tasks, or parked until stopped: no executor holds it
)

// executorIdle is how long an executor without a user waits for one
// before it exits: between one and two executorIdle.
const executorIdle = 2500 * time.Millisecond

// setFrame is one task set a user is in: the user's own tasks at the
// bottom, nested sets above.
type setFrame struct {
	node   *setNode
	wait   WaitTime // the wait after this set's tasks
	next   int      // the next task of a sequential set
	hooked bool     // the set has an OnStop to run when the user leaves it
}

// submit hands r to an executor, or puts it in line for one while many
// executors are ready to run (dueusers.go).
func (p *pool) submit(r *userRun) {
	if p.due.admit(r) {
		p.handOff(r)
	}
}

// handOff hands r to an idle executor, or to a new one.
func (p *pool) handOff(r *userRun) {
	if e := p.idle.take(); e != nil {
		e.next <- r
		return
	}
	go p.executor(r)
}

// executor runs users handed to it until it is told to exit, after
// between one and two executorIdle without a user (executors.go). As it
// begins a user and as it ends a step, it hands the first user in line,
// if there is room now, to an executor (dueusers.go).
func (p *pool) executor(r *userRun) {
	e := newExecutor()
	growStack(int(r.id))
	for r != nil {
		if next := p.due.begun(); next != nil {
			p.handOff(next)
		}
		r.step()
		p.idle.put(e, p.executorIdle)
		if next := p.due.stepped(); next != nil {
			p.handOff(next)
		}
		r = <-e.next
	}
}

// executorFrame is the stack room an executor makes for itself before it
// runs a user: user code (an HTTP request, fasthttp's or net/http's)
// needs 8 to 16 KB of stack.
const executorFrame = 12 << 10

// growStack makes executorFrame of stack room when an executor starts,
// while it is shallow. A goroutine starts with 2 KB and grows by doubling
// where it runs out; growing deep in a request copies and adjusts every
// frame there, up to three times. (The garbage collector may shrink an
// idle executor's stack again; it then grows where it must.)
//
//go:noinline
func growStack(i int) byte {
	var room [executorFrame]byte
	room[i%executorFrame] = byte(i)
	return room[(i*7)%executorFrame]
}

// step runs the user until its next wait, or to its end.
func (r *userRun) step() {
	defer r.recoverStep()
	var y yielder // when a user that never waits lets others run
	for {
		if !r.begun {
			// The first step begins the user even when it was asked to
			// stop meanwhile: every user started runs OnStart, and so
			// OnStop, as a Python worker's greenlets do.
			r.begun = true
			if !r.begin() {
				return
			}
			continue
		}
		if r.stopping.Load() {
			r.finish()
			return
		}
		if r.frames == nil { // parked: only its stop takes it back
			r.park()
			return
		}
		m := r.pool.model()
		if m.cap != nil && !r.capTurn {
			r.rest() // the turn may be long in coming
			if m.cap.wait(r) {
				return
			}
			continue // stopping: the loop ends it
		}
		if m.arrivals != nil && r.arrival.IsZero() {
			r.rest() // the next arrival may be long in coming
			due, free := m.arrivals.await(r, time.Now())
			if free {
				return
			}
			r.arrival = due // zero when the user is stopping: the loop ends it
			continue
		}
		pause, ok := r.next(m)
		if !ok {
			r.finish()
			return
		}
		if pause <= 0 {
			if y.due(time.Since(y.since)) {
				runtime.Gosched()
				y.reset(time.Now(), runtime.NumGoroutine())
			}
			continue
		}
		if pause >= restAfter {
			r.rest()
		}
		if r.sleep(pause) {
			return
		}
	}
}

// A user that never waits would hold its executor's thread for whole
// 10 ms time slices; with thousands of them the worker's own goroutines
// (the master connection's reader, woken by the network) would wait
// seconds to run. So such a user yields its thread between tasks: after
// every task when the process has many goroutines, after up to
// maxTasksPerYield when it has few, and always once yieldSlice has passed
// since its last yield. A goroutine that becomes runnable waits for at
// most every runnable goroutine's turn, and there are no more runnable
// goroutines than goroutines: yieldBudget tasks' time (about 30 ms of
// 15 µs requests, the delay of a yield after every task with 2,000 busy
// users), or runnable goroutines × (yieldSlice and a task) when tasks
// are slow. Yielding after every task costs ~150 ns a request, 1 % of a
// fast request on one core.
const (
	yieldBudget      = 2048
	maxTasksPerYield = 8
	yieldSlice       = 100 * time.Microsecond
)

// yielder decides when a user that never waits yields its thread. The
// zero yielder yields after the first task.
type yielder struct {
	left  int       // tasks before the next yield
	since time.Time // the last yield
}

// due counts a task and reports whether the user must yield now, elapsed
// after its last yield.
func (y *yielder) due(elapsed time.Duration) bool {
	y.left--
	return y.left <= 0 || elapsed >= yieldSlice
}

// reset starts the count anew after a yield at now, in a process of
// goroutines goroutines.
func (y *yielder) reset(now time.Time, goroutines int) {
	y.left, y.since = tasksPerYield(goroutines), now
}

// tasksPerYield returns how many tasks a user that never waits runs
// between yields of its thread when the process has goroutines
// goroutines.
func tasksPerYield(goroutines int) int {
	return min(max(yieldBudget/max(goroutines, 1), 1), maxTasksPerYield)
}

// restAfter is the shortest wait before which a user's fast client gives
// back the memory it reuses between requests (about 4 KB, up to ~70 KB
// after large pages: bodies to 64 KiB are kept): users that run tasks
// back to back keep it, so that their requests allocate nothing, and the
// many users of a large run that wait between tasks cost no more than
// users that never sent a request. Waits for the load model (a rate
// cap's turn, an open model's arrival) and parking rest too.
const restAfter = time.Second

// rest lets the user's fast client, if it has one, give back the memory
// it reuses between requests.
func (r *userRun) rest() {
	if u, ok := r.user.(fastHTTPBinder); ok {
		u.restFastHTTP()
	}
}

// recoverStep ends the user when the runtime itself fails while running
// it: user code's panics are recovered where it is called (pool.call),
// so this is golocust's own bug, reported as an exception, never a crash.
func (r *userRun) recoverStep() {
	v := recover()
	if v == nil {
		return
	}
	r.pool.report(r.class, "runtime", &panicError{value: v, stack: debug.Stack()})
	if !r.done {
		r.done = true
		r.exit()
	}
}

// begin makes the user, runs its OnStart and compiles its tasks. It
// returns false when the user is parked or finished instead.
func (r *userRun) begin() bool {
	if !r.start() {
		r.park()
		return false
	}
	switch r.prepare() {
	case prepareStop:
		r.finish()
		return false
	case preparePark:
		r.park()
		return false
	}
	r.frameBuf[0] = setFrame{node: &r.tasks, wait: r.waitTime()}
	r.frames = r.frameBuf[:1]
	return true
}

// next runs the next task of the innermost set the user is in and returns
// the pause after it; ok is false when the user must stop. The load model
// m may refuse the task (the iteration budget is spent) or replace the
// user's wait (the open model); the rate cap's turn, which step waited
// for, is used up by the task.
func (r *userRun) next(m *loadModel) (pause time.Duration, ok bool) {
	f := &r.frames[len(r.frames)-1]
	var node *taskNode
	node, f.next = f.node.pick(f.next)
	if node.set != nil {
		return 0, r.enter(node.set, f.wait)
	}
	r.capTurn = false
	if !m.claim() {
		if m.arrivals != nil && !r.arrival.IsZero() {
			m.arrivals.unstart() // the iteration the user took does not run
		}
		return 0, false
	}
	waits := f.wait != nil && m.arrivals == nil // the open model has no wait time
	var start time.Time
	if waits { // a class without wait time needs no clock
		start = time.Now()
	}
	err := r.pool.call(r, node.task.Run)
	m.finished()
	if !r.arrival.IsZero() {
		m.arrivals.record(node.task.Name, r.arrival, time.Now())
		r.arrival = time.Time{}
	}
	if errors.Is(err, ErrInterrupt) && len(r.frames) > 1 {
		r.leave()
		return 0, true // the parent picks its next task at once
	}
	if r.handle(node.task.Name, err) {
		return 0, false
	}
	if waits {
		pause = r.nextWait(f.wait, time.Since(start))
	}
	return pause, true
}

// enter puts the user in a nested set, with the set's own wait or else
// its parent's, and runs the set's OnStart. It returns false when the user
// must stop.
func (r *userRun) enter(n *setNode, parentWait WaitTime) bool {
	f := setFrame{node: n, wait: parentWait}
	if o := n.opts; o != nil {
		if o.wait != nil {
			f.wait = perUser(o.wait) // a fresh schedule each time the set is entered
		}
		f.hooked = o.onStop != nil
	}
	r.frames = append(r.frames, f)
	if n.opts == nil || n.opts.onStart == nil {
		return true
	}
	err := r.pool.call(r, n.opts.onStart)
	if errors.Is(err, ErrInterrupt) {
		r.leave()
		return true
	}
	return !r.handle("TaskSet.on_start", err)
}

// leave takes the user out of its innermost set, running the set's
// OnStop.
func (r *userRun) leave() {
	f := r.frames[len(r.frames)-1]
	r.frames[len(r.frames)-1] = setFrame{}
	r.frames = r.frames[:len(r.frames)-1]
	if f.hooked {
		r.runStopHook("TaskSet.on_stop", f.node.opts.onStop)
	}
}

// finish leaves every set the user is in, innermost first, and ends the
// user (its OnStop, the pool's books).
func (r *userRun) finish() {
	for len(r.frames) > 1 {
		r.leave()
	}
	r.done = true
	r.exit()
}

// sleep sets the user waiting for pause and reports whether its executor
// is free. A user asked to stop meanwhile goes on at once (false).
//
// The user is marked waiting before its timer is set, and looks at
// stopping after: whichever of stop and sleep comes second finds the
// other's mark, and exactly one of the timer, stop and sleep takes the
// user back from waiting (the compare-and-swap), so it runs on one
// executor at a time.
func (r *userRun) sleep(pause time.Duration) (free bool) {
	r.state.Store(userWaiting)
	r.pause.Reset(pause)
	if r.stopping.Load() && r.state.CompareAndSwap(userWaiting, userRunning) {
		r.pause.Stop()
		return false
	}
	return true
}

// park leaves the user waiting for nothing but its stop: it could not
// start, or has nothing to do.
func (r *userRun) park() {
	r.rest()
	r.state.Store(userWaiting)
	if r.stopping.Load() && r.state.CompareAndSwap(userWaiting, userRunning) {
		r.finish()
	}
}

// wake is the pause timer's function: the user's wait is over.
func (r *userRun) wake() {
	if r.state.CompareAndSwap(userWaiting, userRunning) {
		r.pool.submit(r)
	}
}

// stop asks the user to stop gracefully. It is called from other
// goroutines than the user's, more than once when a stop overtakes a
// ramp-down. A waiting user is taken back from its wait and ends at once;
// a running one ends after its task.
//
// A waiting user with no stop hook to run ends right here, in the
// stopping goroutine: stopping 450,000 waiting users must not start
// 450,000 executors at once. One with hooks (OnStop, a task set's
// OnStop) runs them on an executor, concurrently with the others, as
// Locust runs on_stop.
func (r *userRun) stop() {
	r.stopping.Store(true)
	if !r.state.CompareAndSwap(userWaiting, userRunning) {
		return
	}
	r.pause.Stop()
	if r.hasStopHooks() {
		r.pool.submit(r)
		return
	}
	r.finish()
}

// hasStopHooks reports whether ending the user runs user code. It is
// called only by the goroutine that took the user from waiting.
func (r *userRun) hasStopHooks() bool {
	if _, ok := r.user.(stopper); ok {
		return true
	}
	for _, f := range r.frames {
		if f.hooked {
			return true
		}
	}
	return false
}

// prepared is what prepare found.
type prepared int

const (
	prepareRun  prepared = iota // the user has tasks to run
	prepareStop                 // OnStart said the user must stop
	preparePark                 // the user has nothing to do: it waits for its stop
)
