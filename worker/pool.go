package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/stats"
)

// stopGrace bounds how long the pool waits for a user whose task ignores
// its cancelled context, and how long OnStop may run after a cancel.
const stopGrace = 2 * time.Second

// exceptionFunc receives an unexpected task error or panic.
type exceptionFunc func(msg, traceback string)

// pool runs users: one goroutine per user, grouped by class, brought to
// target counts on demand. Both the master session and the standalone
// runner drive a pool.
type pool struct {
	classes   map[string]*UserClass
	collector *stats.Collector
	logger    *slog.Logger
	exception exceptionFunc
	transport http.RoundTripper
	limiter   *logLimiter

	spawnMu sync.Mutex // serializes setTarget's and stopAllWithin's changes of the users

	mu          sync.Mutex
	running     map[string][]*userRun
	leaving     map[*userRun]struct{} // asked to stop, not yet exited
	extra       []string              // class names the last target asked for that the pool does not know
	host        string
	stopTimeout time.Duration
	tags        tagFilter
	stopTest    func()
	nextID      uint64
	users       sync.WaitGroup
}

// userRun is the runtime's handle on one user goroutine. It is one
// allocation per user, with the user's context (&r.userEnv) in it.
type userRun struct {
	userEnv
	cancel context.CancelFunc // cancels the user's context
	config *userConfig        // shared by the users started together
	user   User               // once made
	tasks  setNode            // the user's own tasks, once compiled
	// stopping is set to ask for a graceful stop, and pause is fired at
	// once after it (see stop): a waiting user waits on pause alone.
	stopping atomic.Bool
	pause    *time.Timer // the wait between tasks; stopped when not waiting

	// Guarded by pool.mu:
	listed   bool      // in pool.running
	exited   bool      // the goroutine has returned (or is about to)
	stopWait *stopWait // the stopRuns waiting for this user, if any
}

// userConfig is what users started by one setTarget share: the host their
// HTTP clients use and the tag filter that selects their tasks.
type userConfig struct {
	host string
	tags tagFilter
}

// stopWait counts the users one stopRuns waits for.
type stopWait struct {
	left int           // users still running; guarded by pool.mu
	done chan struct{} // closed when left reaches zero
}

func newPool(classes map[string]*UserClass, collector *stats.Collector, logger *slog.Logger, exception exceptionFunc) *pool {
	return &pool{
		classes:   classes,
		collector: collector,
		logger:    logger,
		exception: exception,
		transport: newHTTPTransport(),
		limiter:   newLogLimiter(time.Second),
		running:   make(map[string][]*userRun),
		leaving:   make(map[*userRun]struct{}),
	}
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

// requestStopTest is StopTest's way into the pool.
func (p *pool) requestStopTest(class *UserClass) {
	p.mu.Lock()
	f := p.stopTest
	p.mu.Unlock()
	if f == nil {
		p.logger.Error("a user asked to stop the test, but this runner cannot; ignoring", "class", class.name)
		return
	}
	p.logger.Info("a user asked to stop the test", "class", class.name)
	go f()
}

// setTarget starts and stops users until each class runs exactly the
// count target gives it. Classes target leaves out keep their users.
// Surplus users are stopped gracefully; setTarget returns once they are
// gone, or once ctx is done.
func (p *pool) setTarget(ctx context.Context, target map[string]int64) {
	p.spawnMu.Lock()
	p.mu.Lock()
	var surplus []*userRun
	p.extra = p.extra[:0]
	for _, name := range slices.Sorted(maps.Keys(target)) {
		want := target[name]
		class, ok := p.classes[name]
		if !ok {
			if want > 0 {
				p.logger.Error("the master asked for users of a class this worker does not have; running none",
					"class", name, "users", want, "known", slices.Sorted(maps.Keys(p.classes)))
			}
			p.extra = append(p.extra, name)
			continue
		}
		have := int64(len(p.running[name]))
		switch {
		case want > have:
			p.startLocked(class, int(want-have))
		case want < have:
			runs := p.running[name]
			cut := len(runs) - int(have-want)
			for _, r := range runs[cut:] {
				r.listed = false
			}
			surplus = append(surplus, runs[cut:]...)
			p.running[name] = slices.Clip(runs[:cut])
		}
	}
	timeout := p.stopTimeout
	p.mu.Unlock()
	p.spawnMu.Unlock()
	p.stopRuns(ctx, surplus, timeout)
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
		delete(p.running, name)
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
func (p *pool) counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.classes)+len(p.extra))
	for name := range p.classes {
		out[name] = int64(len(p.running[name]))
	}
	for _, name := range p.extra {
		out[name] = 0
	}
	return out
}

// wait blocks until every user goroutine ever started has returned.
func (p *pool) wait() { p.users.Wait() }

// waitWithin is wait for at most d. Users whose task ignores its
// cancelled context must not keep a worker or a test from ending: it logs
// them and reports false.
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

// startBatch is how many users startLocked starts before it lets go of
// p.mu for a moment, so that a spawn of a million users does not hold up
// counts (the reports) or exiting users for seconds.
const startBatch = 4096

// startLocked starts n users of class. It is called with p.mu held, and
// with p.spawnMu held so that no other change of the users comes in while
// it lets go of p.mu between batches.
func (p *pool) startLocked(class *UserClass, n int) {
	config := &userConfig{host: p.host, tags: p.tags}
	if config.host == "" {
		config.host = class.host
	}
	p.running[class.name] = slices.Grow(p.running[class.name], n)
	for started := 0; started < n; started++ {
		if started > 0 && started%startBatch == 0 {
			p.mu.Unlock()
			p.mu.Lock()
		}
		p.nextID++
		r := &userRun{
			userEnv: userEnv{id: p.nextID, class: class, recorder: p.collector.Recorder(p.nextID), pool: p},
			config:  config,
			pause:   time.NewTimer(time.Hour),
			listed:  true,
		}
		r.pause.Stop()
		r.Context, r.cancel = context.WithCancel(context.Background())
		p.running[class.name] = append(p.running[class.name], r)
		p.users.Add(1)
		go r.run()
	}
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

// run is the body of one user goroutine.
//
// A user spends its life waiting between tasks, and a waiting user must
// fit in the 2 KB stack a goroutine starts with: one that outgrows it
// gets a 4 KB stack, which it keeps, and growing was most of the cost of
// starting a user. So a waiting user has few and small frames (run and
// runTasks, which waits on one channel), and everything else runs in
// calls that return before the first wait (start, prepare, runTask, task
// sets, exit). Few frames also make the garbage collector's scan of a
// million waiting users' stacks cheaper.
func (r *userRun) run() {
	defer r.exit()
	if !r.start() {
		return
	}
	if root, wait := r.prepare(); root != nil {
		r.runTasks(root, wait, 0) // the user's own tasks: a set with no wait or hooks of its own
	}
}

// start makes the user and gives it its HTTP client. It returns false,
// once the user is asked to stop, when the constructor fails.
func (r *userRun) start() bool {
	user, err := r.pool.newUser(r.class)
	if err != nil {
		r.pool.report(r.class, "constructor", err)
		r.awaitStop()
		return false
	}
	if b, ok := user.(fastHTTPBinder); ok {
		b.bindFastHTTP(r.config.host, r.recorder)
	} else if b, ok := user.(httpBinder); ok {
		b.bindHTTP(newHTTPClient(r.config.host, r.pool.transport, r.recorder))
	}
	r.user = user
	return true
}

// prepare runs OnStart and compiles the user's tasks. It returns a nil
// root when the user must stop: at once when OnStart says so, once the
// user is asked to stop when it has nothing to do.
func (r *userRun) prepare() (root *setNode, wait WaitTime) {
	if r.onStart() {
		return nil, nil
	}
	if err := compile(&r.tasks, r.userTasks(), &r.config.tags); err != nil {
		r.idle(err)
		return nil, nil
	}
	return &r.tasks, r.waitTime()
}

// onStart runs the user's OnStart, if it has one, and reports whether the
// user must stop.
func (r *userRun) onStart() (stop bool) {
	s, ok := r.user.(Starter)
	return ok && r.handle("on_start", r.pool.call(r, s.OnStart))
}

// userTasks returns the user's tasks, reporting a panic in Tasks.
func (r *userRun) userTasks() (tasks []Task) {
	if err := r.pool.call(r, func(context.Context) error { tasks = r.user.Tasks(); return nil }); err != nil {
		r.pool.report(r.class, "Tasks", err)
	}
	return tasks
}

// waitTime returns the user's wait time: its WaitTime method or its
// class's.
func (r *userRun) waitTime() WaitTime {
	if w, ok := r.user.(Waiter); ok {
		return WaitTimeFunc(w.WaitTime)
	}
	if r.class.wait != nil {
		return perUser(r.class.wait)
	}
	return nil
}

// idle logs why the user has nothing to do and returns once it is asked
// to stop.
func (r *userRun) idle(err error) {
	if r.pool.limiter.allow("no-tasks:" + r.class.name) {
		r.pool.logger.Error("user has nothing to do", "class", r.class.name, "err", err)
	}
	r.awaitStop()
}

// stop asks the user to stop gracefully. It is called from other
// goroutines than the user's, more than once when a stop overtakes a
// ramp-down. A user between tasks waits for its pause
// timer only, so stop fires the timer at once. The user sets the timer
// after each task and then looks at stopping (see runTasks), so whichever
// of the two Resets comes last, the user sees the stop.
func (r *userRun) stop() {
	r.stopping.Store(true)
	r.pause.Reset(0)
}

// awaitStop returns once the user is asked to stop.
func (r *userRun) awaitStop() {
	for !r.stopping.Load() {
		<-r.pause.C
	}
}

// exit is the last thing a user goroutine does. It runs the user's
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
	p.mu.Lock()
	if r.listed {
		runs := p.running[r.class.name]
		if i := slices.Index(runs, r); i >= 0 {
			p.running[r.class.name] = slices.Delete(runs, i, i+1)
		}
		r.listed = false
	}
	r.exited = true
	delete(p.leaving, r)
	if w := r.stopWait; w != nil {
		w.release()
	}
	p.mu.Unlock()
	p.users.Done()
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
	if s, ok := r.user.(Stopper); ok {
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
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}

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
	if p.limiter.allow("exception:" + class.name + "." + what) {
		p.logger.Error("user code failed", "class", class.name, "in", what, "err", msg)
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

// logLimiter lets one log line per key through per interval.
type logLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, last: make(map[string]time.Time)}
}

func (l *logLimiter) allow(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.last[key]; ok && now.Sub(last) < l.every {
		return false
	}
	if len(l.last) > 1024 {
		clear(l.last)
	}
	l.last[key] = now
	return true
}
