package worker

// This file owns what the user loop asks before each task iteration
// beyond the user's own wait time: the cap on iterations per second
// (--max-rps) and the budget of iterations for the whole test
// (--iterations). The open model (--arrival-rate) is in arrivals.go,
// stages and shapes, which change users and rates over time, in shape.go.
// userloop.go calls pace and claim; an iteration is one task a user runs
// (a nested task set's own tasks count, entering the set does not).

import (
	"container/list"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// rateCap caps task iterations per second over all the pool's users.
// Users wait for their turn in a line, first come first served, and one
// dispatcher hands out turns as a token bucket (golang.org/x/time/rate)
// allows them: spaced 1/R apart, with a burst of 10 ms of turns so that a
// late dispatcher loses none. A user that stops while it waits leaves the
// line, so no turn is held by a user that is gone. The dispatcher runs
// only while users wait.
type rateCap struct {
	limiter *rate.Limiter
	submit  func(*userRun) // starts a user on an executor

	mu      sync.Mutex
	line    list.List // of *userRun, oldest first
	running bool      // a dispatcher runs
}

// newRateCap returns a cap of perSecond iterations a second.
func newRateCap(perSecond float64, submit func(*userRun)) *rateCap {
	return &rateCap{limiter: rate.NewLimiter(capLimit(perSecond), capBurst(perSecond)), submit: submit}
}

// capLimit is rate's form of perSecond: no limit for 0 or less.
func capLimit(perSecond float64) rate.Limit {
	if !(perSecond > 0) || math.IsInf(perSecond, 1) {
		return rate.Inf
	}
	return rate.Limit(perSecond)
}

// capBurst is 10 ms of turns, at least one.
func capBurst(perSecond float64) int {
	if !(perSecond > 0) || perSecond > 1e9 {
		return 1
	}
	return max(1, int(math.Ceil(perSecond/100)))
}

// set changes the cap from now on.
func (c *rateCap) set(now time.Time, perSecond float64) {
	c.limiter.SetLimitAt(now, capLimit(perSecond))
	c.limiter.SetBurstAt(now, capBurst(perSecond))
}

// wait puts r in the line and reports whether its executor is free. A
// user asked to stop meanwhile goes on at once (false), as
// userRun.sleep does.
func (c *rateCap) wait(r *userRun) (free bool) {
	c.mu.Lock()
	r.state.Store(userWaiting)
	r.inLine = c.line.PushBack(r)
	if !c.running {
		c.running = true
		go c.dispatch()
	}
	c.mu.Unlock()
	if r.stopping.Load() && r.state.CompareAndSwap(userWaiting, userRunning) {
		c.leave(r)
		return false
	}
	return true
}

// leave takes r out of the line, if it is there.
func (c *rateCap) leave(r *userRun) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.inLine != nil {
		c.line.Remove(r.inLine)
		r.inLine = nil
	}
}

// dispatch hands out turns while users wait.
func (c *rateCap) dispatch() {
	for {
		now := time.Now()
		turn := c.limiter.ReserveN(now, 1)
		if d := turn.DelayFrom(now); d > 0 {
			time.Sleep(d)
		}
		r := c.next()
		if r == nil {
			turn.Cancel() // the line emptied: the turn goes back
			return
		}
		r.capTurn = true
		c.submit(r)
	}
}

// next takes the first user of the line that is still waiting; nil, and
// the dispatcher's end, when none is.
func (c *rateCap) next() *userRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.line.Front(); e != nil; e = c.line.Front() {
		r := c.line.Remove(e).(*userRun)
		r.inLine = nil
		if r.state.CompareAndSwap(userWaiting, userRunning) {
			return r
		}
	}
	c.running = false
	return nil
}

// iterationBudget ends the test after a fixed number of iterations over
// all users: the first limit claims run, later ones are refused (their
// user stops), and the iteration that finishes last calls done, once.
type iterationBudget struct {
	limit    int64
	claimed  atomic.Int64
	finished atomic.Int64
	done     func()
}

// claim reports whether one more iteration may run.
func (b *iterationBudget) claim() bool {
	return b.claimed.Add(1) <= b.limit
}

// finish counts a claimed iteration as finished.
func (b *iterationBudget) finish() {
	if b.finished.Add(1) == b.limit && b.done != nil {
		b.done()
	}
}

// loadModel is the pool's settings of this file and arrivals.go; the
// user loop reads it on every iteration, so it is swapped whole.
type loadModel struct {
	cap        *rateCap         // nil: no cap
	iterations *iterationBudget // nil: no budget
	arrivals   *openModel       // nil: the closed model (users loop on their own)
}

// model returns the pool's load model; newPool sets the closed model
// without cap or budget.
func (p *pool) model() *loadModel { return p.load.Load() }

// setMaxRPS caps the pool's task iterations per second from now on; 0
// removes the cap (users waiting for a turn get theirs at once).
func (p *pool) setMaxRPS(now time.Time, perSecond float64) {
	p.modelMu.Lock()
	defer p.modelMu.Unlock()
	m := *p.model()
	if m.cap == nil {
		if !(perSecond > 0) {
			return
		}
		m.cap = newRateCap(perSecond, p.submit)
	} else {
		m.cap.set(now, perSecond)
	}
	p.load.Store(&m)
}

// setIterations ends the test after n task iterations over all users,
// calling done when the last of them finishes.
func (p *pool) setIterations(n int64, done func()) {
	p.modelMu.Lock()
	defer p.modelMu.Unlock()
	m := *p.model()
	m.iterations = &iterationBudget{limit: n, done: done}
	p.load.Store(&m)
}

// setArrivals switches the pool to the open model.
func (p *pool) setArrivals(a *openModel) {
	p.modelMu.Lock()
	defer p.modelMu.Unlock()
	m := *p.model()
	m.arrivals = a
	p.load.Store(&m)
}

// claim reports whether the next iteration may run under the budget.
func (m *loadModel) claim() bool {
	return m.iterations == nil || m.iterations.claim()
}

// finished counts an iteration claim let run.
func (m *loadModel) finished() {
	if m.iterations != nil {
		m.iterations.finish()
	}
}
