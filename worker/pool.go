package worker

// This file owns the pool of users: starting and stopping them per class
// to reach the counts asked for, their hooks, and how their errors and
// panics are reported. Users run in userloop.go; their tasks are taskset.go's.

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// stopGrace bounds how long the pool waits for a user whose task ignores
// its cancelled context, and how long OnStop may run after a cancel.
const stopGrace = 2 * time.Second

// exceptionFunc receives an unexpected task error or panic.
type exceptionFunc func(msg, traceback string)

// pool runs users (on executors, see userloop.go), grouped by class, brought to
// target counts on demand. Both the master session and the standalone
// runner drive a pool.
type pool struct {
	classes   map[string]*UserClass
	collector *stats.Collector
	logger    *slog.Logger
	exception exceptionFunc
	transport *connections
	limiter   *logLimiter

	clock       clock       // the spawner's time source (spawn.go)
	backlogFunc func() int  // requests waiting for the worker; nil: the transport's (spawn.go)
	spawnHeld   atomic.Bool // spawning holds back for the backlog (spawn.go)
	spawnHolds  holdNotes   // spawn holds not yet logged (spawn.go)
	lineHolds   holdNotes   // holds of the due users' line not yet logged (dueusers.go)
	spawnMu     sync.Mutex  // serializes setTarget's and stopAllWithin's changes of the users

	// live counts each class's running users, as len(running[name]), so
	// that the session and the reports read counts without taking mu: a
	// spawn or a crowd of exiting users must never hold up a heartbeat or
	// a report. It is made once, for the classes the pool knows.
	live  map[string]*atomic.Int64
	extra atomic.Pointer[[]string] // class names the last target asked for that the pool does not know

	mu          sync.Mutex
	running     map[string][]*userRun // guarded by mu; change with setRunningLocked
	leaving     map[*userRun]struct{} // asked to stop, not yet exited
	host        string
	updates     map[string]classUpdate // by class name
	stopTimeout time.Duration
	tags        tagFilter
	stopTest    func()
	nextID      uint64
	users       sync.WaitGroup

	listen    func(stats.Sample)                 // every recorded request (Hooks.Request); nil: none
	messenger func(protocol.CustomMessage) error // SendMessage's way out; nil: none

	whenEmpty atomic.Pointer[func()] // called when the last running user exits (loadmodel.go)

	modelMu sync.Mutex                // serializes changes of load
	load    atomic.Pointer[loadModel] // rate cap, iteration budget, open model (loadmodel.go)

	idle         idleExecutors // executors waiting for a user (executors.go)
	due          dueUsers      // users waiting for an executor (dueusers.go)
	executorIdle time.Duration // how long an idle executor waits for a user, at least
}

// userRun is the runtime's handle on one user. It is one allocation per
// user, with the user's context (&r.userEnv) in it. A user has no
// goroutine of its own: executors run it (userloop.go).
type userRun struct {
	userEnv
	cancel context.CancelFunc // cancels the user's context
	config *userConfig        // shared by the users started together
	user   User               // once made
	tasks  setNode            // the user's own tasks, once compiled
	// stopping is set to ask for a graceful stop; stop then takes a
	// waiting user back from its wait (see userloop.go).
	stopping atomic.Bool
	state    atomic.Int32 // userRunning or userWaiting
	pause    *time.Timer  // the wait between tasks: wakes the user; stopped when not waiting

	// Owned by the executor running the user:
	frames   []setFrame  // the sets the user is in, its own tasks first; nil before it began
	frameBuf [1]setFrame // frames' room for users that never enter a nested set
	arrival  time.Time   // when the open model's iteration the user runs was due; zero: none (arrivals.go)
	capTurn  bool        // the rate cap gave the user its turn for the next task (loadmodel.go)
	begun    bool        // the user's first step has run (begin)
	done     bool        // the user has ended (exit ran)

	// Guarded by pool.mu (the bools next to the three above: a userRun
	// of 288 bytes, not 320, a million users' 32 MB):
	listed   bool // in pool.running, at index slot
	exited   bool // the user has ended (or is about to)
	slot     int
	stopWait *stopWait // the stopRuns waiting for this user, if any

	freeSlot int           // index in openModel.free, -1 when not there; guarded by openModel.mu
	inLine   *list.Element // in the rate cap's line; guarded by rateCap.mu
}

// userConfig is what users started by one setTarget share: the host their
// HTTP clients use and the tag filter that selects their tasks.
type userConfig struct {
	host  string
	tags  tagFilter
	tasks []string // the names of the only top-level tasks to run; nil: all
}

// classUpdate is what a master's update_user_class changed of a class,
// for the users started after it (session_userclass.go).
type classUpdate struct {
	host  string   // "": unchanged
	tasks []string // nil: unchanged
}

// stopWait counts the users one stopRuns waits for.
type stopWait struct {
	left int           // users still running; guarded by pool.mu
	done chan struct{} // closed when left reaches zero
}

func newPool(classes map[string]*UserClass, collector *stats.Collector, logger *slog.Logger, exception exceptionFunc) *pool {
	live := make(map[string]*atomic.Int64, len(classes))
	for name := range classes {
		live[name] = new(atomic.Int64)
	}
	p := &pool{
		clock:        realClock{},
		live:         live,
		classes:      classes,
		collector:    collector,
		logger:       logger,
		exception:    exception,
		transport:    newConnections(HTTPOptions{}),
		limiter:      newLogLimiter(time.Second),
		running:      make(map[string][]*userRun),
		executorIdle: executorIdle,
		leaving:      make(map[*userRun]struct{}),
	}
	p.due.backlog, p.due.hand, p.due.onHold = p.backlog, p.handOff, p.noteLineHold
	p.load.Store(&loadModel{})
	return p
}

// configure sets what users started from now on use: the host (empty keeps
// each class's own), the stop timeout and the tag filter.
func (p *pool) configure(host string, stopTimeout time.Duration, tags tagFilter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.host = host
	p.stopTimeout = max(stopTimeout, 0)
	p.tags = tags
}

// setStopTest sets what [StopTest] calls to end the whole test. f runs in
// a goroutine of its own, once per StopTest call, so it may stop users
// (the calling one included) and wait for them; it must tolerate being
// called more than once. With no f, StopTest only logs an error.
func (p *pool) setStopTest(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopTest = f
}

// requestStopTest is StopTest's way into the pool; class is nil from a
// hook.
func (p *pool) requestStopTest(class *UserClass) {
	p.mu.Lock()
	f := p.stopTest
	p.mu.Unlock()
	who := "a hook"
	if class != nil {
		who = class.name
	}
	if f == nil {
		p.logger.Error("a user asked to stop the test, but this runner cannot; ignoring", "class", who)
		return
	}
	p.logger.Info("a user asked to stop the test", "class", who)
	go f()
}

// hookContext returns ctx as a context for hooks and message handlers: one
// that SendMessage, Record (with id 0's recorder) and StopTest work with.
func (p *pool) hookContext(ctx context.Context) context.Context {
	return &userEnv{Context: ctx, recorder: p.collector.Recorder(0).WithListener(p.listen), pool: p}
}

// setTarget starts and stops users until each class runs exactly the
// count target gives it, starting new users at once. Classes target leaves
// out keep their users. Surplus users are stopped gracefully; setTarget
// returns once they are gone, or once ctx is done.
func (p *pool) setTarget(ctx context.Context, target map[string]int64) {
	p.setTargetOver(ctx, target, 0)
}

// setTargetOver is setTarget with the new users spread evenly over the
// duration `over` (see spawn.go). A spread step ends early, with fewer
// users than target, when ctx is done.
func (p *pool) setTargetOver(ctx context.Context, target map[string]int64, over time.Duration) {
	p.spawnMu.Lock()
	p.mu.Lock()
	surplus, starts := p.planLocked(target)
	timeout := p.stopTimeout
	p.mu.Unlock()
	var stopped chan struct{}
	if len(surplus) > 0 { // stop the surplus while the new users start
		stopped = make(chan struct{})
		go func() { defer close(stopped); p.stopRuns(ctx, surplus, timeout) }()
	}
	p.startSpread(ctx, starts, over)
	p.spawnMu.Unlock()
	if stopped != nil {
		<-stopped
	}
}

// planLocked compares target with the running users: it takes the surplus
// users out of the running ones and returns them, and returns how many
// users of each class to start. It logs the classes target names that the
// pool does not know.
func (p *pool) planLocked(target map[string]int64) (surplus []*userRun, starts []classStart) {
	var extra, asked []string
	for _, name := range slices.Sorted(maps.Keys(target)) {
		want := target[name]
		class, ok := p.classes[name]
		if !ok {
			if want > 0 {
				asked = append(asked, name)
			}
			extra = append(extra, name)
			continue
		}
		runs := p.running[name]
		have := int64(len(runs))
		switch {
		case want > have:
			starts = append(starts, classStart{class: class, n: int(want - have)})
		case want < have:
			cut := len(runs) - int(have-want)
			for _, r := range runs[cut:] {
				r.listed = false
			}
			surplus = append(surplus, runs[cut:]...)
			p.setRunningLocked(name, slices.Clip(runs[:cut]))
		}
	}
	p.extra.Store(&extra)
	p.logUnknownClasses(asked)
	return surplus, starts
}

// logUnknownClasses logs, in one line a second at most, the classes a
// target asks users of that the pool does not know: a few of their names
// (cut short: the master chose them) and how many there are.
func (p *pool) logUnknownClasses(asked []string) {
	if len(asked) == 0 || !p.limiter.allow("unknown-classes") {
		return
	}
	names := make([]string, 0, min(len(asked), 5))
	for _, name := range asked[:min(len(asked), 5)] {
		names = append(names, stats.Truncate(name, 64))
	}
	args := []any{"class", names[0], "known", slices.Sorted(maps.Keys(p.classes))}
	if len(asked) > 1 {
		args = append(args, "other_classes", names[1:], "count", len(asked))
	}
	p.logger.Error("the master asked for users of a class this worker does not have; running none", args...)
}

// unlistLocked takes a user that stopped itself out of the running users
// in constant time: the last running user of its class takes its slot, so
// that 200,000 users ending on their own cost 200,000 steps, not 200,000²
// (ErrStopUser).
func (p *pool) unlistLocked(r *userRun) {
	runs := p.running[r.class.name]
	last := runs[len(runs)-1]
	runs[r.slot], last.slot = last, r.slot
	runs[len(runs)-1] = nil
	p.setRunningLocked(r.class.name, runs[:len(runs)-1])
	r.listed = false
}

// ownConnectionUsers returns how many of target's users hold connections
// of their own (ConnectionPerUser), each a file descriptor.
func (p *pool) ownConnectionUsers(target map[string]int64) int64 {
	var n int64
	for name, want := range target {
		if c, ok := p.classes[name]; ok && (c.perUser || p.transport.perUser) {
			n += want
		}
	}
	return n
}

// setRunningLocked sets the running users of a class, and its count.
func (p *pool) setRunningLocked(name string, runs []*userRun) {
	if len(runs) == 0 {
		delete(p.running, name)
	} else {
		p.running[name] = runs
	}
	p.live[name].Store(int64(len(runs)))
}

// stopAll stops every user, gracefully within the stop timeout, and
// returns when all are gone or ctx is done.
func (p *pool) stopAll(ctx context.Context) {
	p.stopAllWithin(ctx, -1)
}

// stopAllWithin is stopAll with the stop timeout replaced by timeout when
// timeout is not negative.
func (p *pool) stopAllWithin(ctx context.Context, timeout time.Duration) {
	p.spawnMu.Lock()
	p.mu.Lock()
	var all []*userRun
	for name, runs := range p.running {
		for _, r := range runs {
			r.listed = false
		}
		all = append(all, runs...)
		p.setRunningLocked(name, nil)
	}
	for r := range p.leaving { // surplus of an earlier spawn, still finishing
		all = append(all, r)
	}
	if timeout < 0 {
		timeout = p.stopTimeout
	}
	p.mu.Unlock()
	p.spawnMu.Unlock()
	p.stopRuns(ctx, all, timeout)
}

// counts returns the running users per class: every class the pool knows,
// plus classes the last target named that it does not know, at zero.
//
// It takes no lock: a spawn or stop in progress never delays it.
func (p *pool) counts() map[string]int64 {
	var extra []string
	if e := p.extra.Load(); e != nil {
		extra = *e
	}
	out := make(map[string]int64, len(p.live)+len(extra))
	for name, n := range p.live {
		out[name] = n.Load()
	}
	for _, name := range extra {
		out[name] = 0
	}
	return out
}

// running0 reports whether no user runs.
func (p *pool) running0() bool {
	for _, n := range p.live {
		if n.Load() > 0 {
			return false
		}
	}
	return true
}

// waitWithin waits at most d for every user ever started to end. Users
// whose task ignores its cancelled context must not keep a worker or a
// test from ending: it logs them and reports false.
func (p *pool) waitWithin(d time.Duration) bool {
	done := make(chan struct{})
	go func() { p.users.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		p.logger.Warn("some users did not return after their context was cancelled; leaving them behind")
		return false
	}
}

// startOneLocked starts one user of class with config. It is called
// with p.mu held.
func (p *pool) startOneLocked(class *UserClass, config *userConfig) {
	p.nextID++
	r := &userRun{
		userEnv:  userEnv{id: p.nextID, class: class, recorder: p.collector.Recorder(p.nextID).WithListener(p.listen), pool: p},
		config:   config,
		listed:   true,
		freeSlot: -1,
	}
	r.pause = time.AfterFunc(time.Hour, r.wake)
	r.pause.Stop()
	r.Context, r.cancel = context.WithCancel(context.Background())
	r.slot = len(p.running[class.name])
	p.setRunningLocked(class.name, append(p.running[class.name], r))
	p.users.Add(1)
	p.submit(r)
}

// stopRuns asks runs to stop, cancels the ones still busy after timeout
// and waits for them, at most stopGrace after the cancel. When ctx is done
// first, stopRuns returns at once but the users keep their graceful stop:
// a ramp-down cut short by the next spawn must not cancel tasks that
// stop_timeout lets finish. Users already stopping are waited for again,
// with the new timeout.
func (p *pool) stopRuns(ctx context.Context, runs []*userRun, timeout time.Duration) {
	w := &stopWait{done: make(chan struct{})}
	live := make([]*userRun, 0, len(runs))
	p.mu.Lock()
	for _, r := range runs {
		if r.exited {
			continue
		}
		if old := r.stopWait; old != nil {
			old.release() // this waiter takes over
		}
		r.stopWait = w
		w.left++
		p.leaving[r] = struct{}{}
		live = append(live, r)
	}
	if w.left == 0 {
		close(w.done)
	}
	p.mu.Unlock()
	for _, r := range live {
		r.stop()
	}
	cancelled := make(chan struct{})
	cancelAll := func() {
		for _, r := range live {
			r.cancel()
		}
		close(cancelled)
	}
	if timeout <= 0 {
		cancelAll()
	} else {
		deadline := time.AfterFunc(timeout, cancelAll)
		select {
		case <-w.done:
			deadline.Stop()
			return
		case <-ctx.Done():
			return // deadline still cancels them in time
		case <-cancelled:
		}
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-w.done:
	case <-ctx.Done():
	case <-grace.C:
		p.mu.Lock()
		left := w.left
		p.mu.Unlock()
		p.logger.Error("users did not return after their context was cancelled; giving up on them",
			"users", left, "grace", stopGrace)
	}
}

// release counts one user out of w; it is called with pool.mu held.
func (w *stopWait) release() {
	if w.left--; w.left == 0 {
		close(w.done)
	}
}

// start makes the user and gives it its HTTP client. It returns false
// when the constructor fails.
func (r *userRun) start() bool {
	user, err := r.pool.newUser(r.class)
	if err != nil {
		r.pool.report(r.class, "constructor", err)
		return false
	}
	r.pool.transport.bind(r, user)
	r.user = user
	return true
}

// prepare runs OnStart and compiles the user's tasks into r.tasks.
func (r *userRun) prepare() prepared {
	if r.onStart() {
		return prepareStop
	}
	tasks := r.userTasks()
	selected := selectTasks(tasks, r.config.tasks)
	if len(selected) == 0 && len(tasks) > 0 {
		r.idle(fmt.Errorf("the master's update_user_class selected the tasks %q, and the class has none of them", r.config.tasks))
		return preparePark
	}
	if err := compile(&r.tasks, selected, &r.config.tags); err != nil {
		r.idle(err)
		return preparePark
	}
	return prepareRun
}

// onStart runs the user's OnStart, if it has one, and reports whether the
// user must stop.
func (r *userRun) onStart() (stop bool) {
	s, ok := r.user.(starter)
	return ok && r.handle("on_start", r.pool.call(r, s.OnStart))
}

// userTasks returns the user's tasks, reporting a panic in Tasks.
func (r *userRun) userTasks() (tasks []Task) {
	defer func() {
		if v := recover(); v != nil {
			r.pool.report(r.class, "Tasks", recovered(v))
		}
	}()
	return r.user.Tasks() // not through pool.call: a closure would cost each user an allocation
}

// waitTime returns the user's wait time: its WaitTime method or its
// class's. It calls no user code (nextWait does, recovering panics).
func (r *userRun) waitTime() WaitTime {
	if w, ok := r.user.(waiter); ok {
		return waiterWait{w}
	}
	if r.class.wait != nil {
		return perUser(r.class.wait)
	}
	return nil
}

// idle logs why the user has nothing to do.
func (r *userRun) idle(err error) {
	if r.pool.limiter.allow("no-tasks:" + r.class.name) {
		r.pool.logger.Error("user has nothing to do", "class", r.class.name, "err", err)
	}
}

// exit is the last thing a user does (see finish). It runs the user's
// OnStop, takes the user out of the running users, so that a user that
// stopped itself (ErrStopUser) no longer counts, as in Locust, and the
// next spawn replaces it, and tells a stopRuns waiting for the user.
func (r *userRun) exit() {
	if r.user != nil {
		r.onStop()
	}
	r.cancel()
	r.pause.Stop()
	p := r.pool
	if m := p.model(); m.arrivals != nil {
		m.arrivals.remove(r)
	} else if m.cap != nil {
		m.cap.leave(r)
	}
	p.mu.Lock()
	if r.listed {
		p.unlistLocked(r)
	}
	r.exited = true
	delete(p.leaving, r)
	if w := r.stopWait; w != nil {
		w.release()
	}
	p.mu.Unlock()
	p.users.Done()
	if f := p.whenEmpty.Load(); f != nil && p.running0() {
		(*f)()
	}
}

func (p *pool) newUser(class *UserClass) (user User, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	user = class.newUser()
	if user == nil {
		return nil, errors.New("constructor returned nil")
	}
	return user, nil
}

// onStop runs the user's OnStop, if it has one.
func (r *userRun) onStop() {
	if s, ok := r.user.(stopper); ok {
		r.runStopHook("on_stop", s.OnStop)
	}
}

// runStopHook runs an on_stop hook. It runs even when the user was
// cancelled, with a fresh context that ends stopGrace later.
func (r *userRun) runStopHook(what string, hook func(context.Context) error) {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(r), stopGrace)
	defer cancel()
	err := r.pool.call(stopCtx, hook)
	if err != nil && !errors.Is(err, ErrStopUser) && !errors.Is(err, ErrInterrupt) && !isRecorded(err) && stopCtx.Err() == nil {
		r.pool.report(r.class, what, err)
	}
}

// call runs fn, turning a panic into a *panicError.
func (p *pool) call(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = recovered(v)
		}
	}()
	return fn(ctx)
}

// recovered returns the panic v, just recovered by a deferred function,
// with the stack where it happened.
func recovered(v any) *panicError { return &panicError{value: v, stack: debug.Stack()} }

// handle deals with what a task or hook returned and reports whether the
// user must stop.
func (r *userRun) handle(what string, err error) (stop bool) {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrStopUser):
		return true
	case r.Err() != nil:
		return true // cancelled by a stop; the request, if any, is recorded already
	case isRecorded(err):
		return false // a failed request, already in the statistics
	}
	r.pool.report(r.class, what, err)
	return false
}

// report passes an unexpected error or panic on as an exception.
func (p *pool) report(class *UserClass, what string, err error) {
	msg := err.Error()
	trace := fmt.Sprintf("%s.%s: %s", class.name, what, msg)
	var pe *panicError
	if errors.As(err, &pe) {
		trace = fmt.Sprintf("panic in %s.%s: %v\n%s", class.name, what, pe.value, pe.stack)
	}
	// The log has a line a second per hook; each line counts the
	// exceptions it stands for, so the log keeps the true count.
	if ok, skipped := p.limiter.allowAt("exception:"+class.name+"."+what, time.Now()); ok {
		p.logger.Error("user code failed", "class", class.name, "in", what, "err", stats.Truncate(msg, maxExceptionMsg), "count", skipped+1)
	}
	if p.exception != nil {
		p.exception(msg, trace)
	}
}

// panicError is a recovered panic with the stack where it happened.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// tagFilter selects tasks by tags, like Locust's --tags and --exclude-tags.
type tagFilter struct {
	include, exclude []string
}

func (f *tagFilter) match(tags []string) bool {
	for _, t := range tags {
		if slices.Contains(f.exclude, t) {
			return false
		}
	}
	if len(f.include) == 0 {
		return true
	}
	for _, t := range tags {
		if slices.Contains(f.include, t) {
			return true
		}
	}
	return false
}

// logLimiter lets one log line per key through per interval, and counts
// the lines it holds back.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]*limited
}

// limited is a logLimiter key's state.
type limited struct {
	at      time.Time // when a line last went through
	skipped int64     // lines held back since
}

// maxLimiterKeys bounds a logLimiter's keys: beyond it, keys idle for an
// interval are forgotten (a key's first line always goes through).
const maxLimiterKeys = 1024

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, last: make(map[string]*limited)}
}

// allow reports whether a line with key may be logged now.
func (l *logLimiter) allow(key string) bool {
	ok, _ := l.allowAt(key, time.Now())
	return ok
}

// allowAt reports whether a line with key may be logged at now and, when
// it may, how many lines with key it held back since the previous one.
func (l *logLimiter) allowAt(key string, now time.Time) (ok bool, skipped int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, found := l.last[key]; found {
		if now.Sub(s.at) < l.every {
			s.skipped++
			return false, 0
		}
		skipped, s.at, s.skipped = s.skipped, now, 0
		return true, skipped
	}
	if len(l.last) >= maxLimiterKeys {
		for k, s := range l.last {
			if now.Sub(s.at) >= l.every {
				delete(l.last, k)
			}
		}
		if len(l.last) >= maxLimiterKeys { // all busy: forget the held-back counts
			clear(l.last)
		}
	}
	l.last[key] = &limited{at: now}
	return true, 0
}
