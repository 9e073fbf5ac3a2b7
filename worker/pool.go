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

	mu          sync.Mutex
	running     map[string][]*userRun
	extra       []string // class names the last target asked for that the pool does not know
	host        string
	stopTimeout time.Duration
	tags        tagFilter
	stopTest    func()
	nextID      uint64
	users       sync.WaitGroup
}

// userRun is the runtime's handle on one user goroutine.
type userRun struct {
	class    *UserClass
	cancel   context.CancelFunc // cancels the user's context
	stopping chan struct{}      // closed to ask for a graceful stop
	done     chan struct{}      // closed when the goroutine has returned
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
			for range want - have {
				p.running[name] = append(p.running[name], p.startLocked(class))
			}
		case want < have:
			runs := p.running[name]
			cut := len(runs) - int(have-want)
			surplus = append(surplus, runs[cut:]...)
			p.running[name] = slices.Clip(runs[:cut])
		}
	}
	timeout := p.stopTimeout
	p.mu.Unlock()
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
	p.mu.Lock()
	var all []*userRun
	for name, runs := range p.running {
		all = append(all, runs...)
		delete(p.running, name)
	}
	if timeout < 0 {
		timeout = p.stopTimeout
	}
	p.mu.Unlock()
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

func (p *pool) startLocked(class *UserClass) *userRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &userRun{class: class, cancel: cancel, stopping: make(chan struct{}), done: make(chan struct{})}
	p.nextID++
	env := &userEnv{id: p.nextID, class: class, recorder: p.collector.Recorder(p.nextID), pool: p}
	host := p.host
	if host == "" {
		host = class.host
	}
	tags := p.tags
	p.users.Add(1)
	go p.runUser(withEnv(ctx, env), r, host, tags)
	return r
}

// stopRuns asks runs to stop, cancels the ones still busy after timeout
// and waits for them, at most stopGrace after the cancel.
func (p *pool) stopRuns(ctx context.Context, runs []*userRun, timeout time.Duration) {
	if len(runs) == 0 {
		return
	}
	for _, r := range runs {
		close(r.stopping)
	}
	cancelled := false
	cancelAll := func() {
		for _, r := range runs {
			r.cancel()
		}
		cancelled = true
	}
	if timeout == 0 {
		cancelAll()
		timeout = stopGrace
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
next:
	for i, r := range runs {
		for {
			select {
			case <-r.done:
				continue next
			case <-deadline.C:
				if cancelled {
					p.logger.Error("users did not return after their context was cancelled; giving up on them",
						"users", len(runs)-i, "grace", stopGrace)
					return
				}
				cancelAll()
				deadline.Reset(stopGrace)
			case <-ctx.Done():
				cancelAll()
				return
			}
		}
	}
}

// runUser is the body of one user goroutine.
func (p *pool) runUser(ctx context.Context, r *userRun, host string, tags tagFilter) {
	defer p.users.Done()
	defer close(r.done)
	defer r.cancel()
	defer p.forget(r)

	user, err := p.newUser(r.class)
	if err != nil {
		p.report(r.class, "constructor", err)
		<-r.stopping
		return
	}
	if b, ok := user.(fastHTTPBinder); ok {
		b.bindFastHTTP(host, envFrom(ctx).recorder)
	} else if b, ok := user.(httpBinder); ok {
		b.bindHTTP(newHTTPClient(host, p.transport, envFrom(ctx).recorder))
	}
	defer p.onStop(ctx, r, user)

	if s, ok := user.(Starter); ok {
		if p.handle(ctx, r, "on_start", p.call(ctx, s.OnStart)) {
			return
		}
	}
	var tasks []Task
	if err := p.call(ctx, func(context.Context) error { tasks = user.Tasks(); return nil }); err != nil {
		p.report(r.class, "Tasks", err)
	}
	root, err := compileTasks(tasks, tags)
	if err != nil {
		if p.limiter.allow("no-tasks:" + r.class.name) {
			p.logger.Error("user has nothing to do", "class", r.class.name, "err", err)
		}
		<-r.stopping
		return
	}
	var wait WaitTime
	if w, ok := user.(Waiter); ok {
		wait = WaitTimeFunc(w.WaitTime)
	} else if r.class.wait != nil {
		wait = perUser(r.class.wait)
	}
	pause := time.NewTimer(time.Hour)
	pause.Stop()
	defer pause.Stop()
	l := &loop{p: p, r: r, pause: pause}
	l.runSet(ctx, root, wait, 0)
}

// forget removes a user whose goroutine is ending from the running
// users, so that a user that stopped itself (ErrStopUser) no longer
// counts, as in Locust, and the next spawn replaces it.
func (p *pool) forget(r *userRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	runs := p.running[r.class.name]
	if i := slices.Index(runs, r); i >= 0 {
		p.running[r.class.name] = slices.Delete(runs, i, i+1)
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

func (p *pool) onStop(ctx context.Context, r *userRun, user User) {
	if s, ok := user.(Stopper); ok {
		p.runStopHook(ctx, r, "on_stop", s.OnStop)
	}
}

// runStopHook runs an on_stop hook. It runs even when the user was
// cancelled, with a fresh context that ends stopGrace later.
func (p *pool) runStopHook(ctx context.Context, r *userRun, what string, hook func(context.Context) error) {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopGrace)
	defer cancel()
	err := p.call(stopCtx, hook)
	if err != nil && !errors.Is(err, ErrStopUser) && !errors.Is(err, ErrInterrupt) && !isRecorded(err) && stopCtx.Err() == nil {
		p.report(r.class, what, err)
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
func (p *pool) handle(ctx context.Context, r *userRun, what string, err error) (stop bool) {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrStopUser):
		return true
	case ctx.Err() != nil:
		return true // cancelled by a stop; the request, if any, is recorded already
	case isRecorded(err):
		return false // a failed request, already in the statistics
	}
	p.report(r.class, what, err)
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

func (f tagFilter) match(tags []string) bool {
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
