package worker

// This file owns what the user loop asks before each task iteration
// beyond the user's own wait time: the cap on iterations per second
// (--max-rps) and the budget of iterations for the whole test
// (--iterations). The open model (--arrival-rate) is in arrivals.go,
// stages and shapes, which change users and rates over time, in shape.go.
// userloop.go calls pace and claim; an iteration is one task a user runs
// (a nested task set's own tasks count, entering the set does not).

import (
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// rateCap caps task iterations per second over all the pool's users, with
// a token bucket of one token: iterations are spaced 1/R apart rather
// than bunched at the start of each second.
type rateCap struct {
	limiter *rate.Limiter
}

// newRateCap returns a cap of perSecond iterations a second; 0 or less
// means no cap.
func newRateCap(perSecond float64) *rateCap {
	return &rateCap{limiter: rate.NewLimiter(capLimit(perSecond), 1)}
}

// capLimit is rate's form of perSecond: no limit for 0 or less.
func capLimit(perSecond float64) rate.Limit {
	if perSecond <= 0 || math.IsInf(perSecond, 1) {
		return rate.Inf
	}
	return rate.Limit(perSecond)
}

// set changes the cap from now on.
func (c *rateCap) set(now time.Time, perSecond float64) {
	c.limiter.SetLimitAt(now, capLimit(perSecond))
}

// delay reserves one iteration at now and returns how long the user must
// wait before running it. The reservation is kept even if the user is
// stopped meanwhile: the cap may then run slightly under R, never over.
func (c *rateCap) delay(now time.Time) time.Duration {
	return c.limiter.ReserveN(now, 1).DelayFrom(now)
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
// removes the cap.
func (p *pool) setMaxRPS(now time.Time, perSecond float64) {
	p.modelMu.Lock()
	defer p.modelMu.Unlock()
	m := *p.model()
	if m.cap == nil {
		if perSecond <= 0 {
			return
		}
		m.cap = newRateCap(perSecond)
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

// pace returns how long a user must wait before its next iteration for
// the rate cap; 0 runs it now.
func (m *loadModel) pace(now time.Time) time.Duration {
	if m.cap == nil {
		return 0
	}
	return m.cap.delay(now)
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
