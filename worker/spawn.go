package worker

// This file owns how a spawn step starts its users: spread evenly over the
// step rather than all at one instant. pool.go owns the users themselves
// and calls startSpread from setTargetOver; the session (worker mode) and
// Standalone.ramp decide how long a step is.
//
// Why spread: Locust's master sends one spawn message per dispatch step
// (about one per second at the spawn rate), and a Python worker starts a
// step's users within the step. Starting 10,000 users at one instant
// makes 10,000 goroutines runnable at once, each dialing its own
// connection because none is idle yet: the run queue, the target's accept
// queue and the file descriptors all take the burst, and the worker's own
// heartbeats wait behind it. Spread over the step, users start at the rate
// the master asked for and share the keep-alive connections.

import (
	"context"
	"sync"
	"time"
)

// clock is the spawner's time source; tests hand it a fake one.
type clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// minSpreadUsers is the smallest step that is spread: a few dozen users
// starting at once make no burst worth spreading, and a small test keeps
// its users in step, as a Python worker starts them.
const minSpreadUsers = 100

// spawnTick is the shortest pause between two batches of a spread step:
// at 10,000 users per second a batch is about 50 users.
const spawnTick = 5 * time.Millisecond

// maxSpawnStep caps how long one spawn step of the master is spread over.
// Locust's dispatcher sends steps at most one second apart when it starts
// more than one user per step, and the next step must not find the
// previous one unfinished.
const maxSpawnStep = 900 * time.Millisecond

// spawnStepSpread returns how long to spread a master's spawn step over,
// from the master's timestamps of this spawn and the previous one (0 when
// there was none): 90 % of the master's interval between its steps, at
// most maxSpawnStep, and maxSpawnStep for the first step of a test.
func spawnStepSpread(prev, this float64) time.Duration {
	gap := this - prev                       // seconds; NaN or infinite from a hostile master
	if prev <= 0 || !(gap > 0) || gap >= 1 { // 9/10 of a second or more: the most
		return maxSpawnStep
	}
	interval := time.Duration(gap * float64(time.Second))
	return min(interval*9/10, maxSpawnStep)
}

// maxSpawnBacklog is how many requests may wait for the worker (in the
// shared pool's request limit, requestlimit.go) before a spawn step holds
// back its users: a worker that cannot serve the users it has would only
// pile up more blocked users, each holding a goroutine's stack, until its
// memory ran out. Held-back users start once the backlog is worked off;
// the next spawn step counts from the users that run, so none is lost.
const maxSpawnBacklog = 10_000

// spreadPlan spreads n user starts evenly over a step that begins at
// start and lasts over: user i (from 0) is due at start + i*over/n, so the
// first starts at once and the last one step's share before the end.
type spreadPlan struct {
	start time.Time
	over  time.Duration
	n     int
}

// due returns how many of the plan's users are due at now.
func (p spreadPlan) due(now time.Time) int {
	elapsed := now.Sub(p.start)
	switch {
	case p.n <= 0:
		return 0
	case p.over <= 0 || elapsed >= p.over:
		return p.n
	case elapsed < 0:
		return 0
	}
	k := int(float64(elapsed) / float64(p.over) * float64(p.n))
	return min(k+1, p.n)
}

// at returns when user i (from 0) is due.
func (p spreadPlan) at(i int) time.Time {
	if p.n <= 0 {
		return p.start
	}
	return p.start.Add(time.Duration(float64(p.over) * float64(i) / float64(p.n)))
}

// batch returns the most users a spread step starts at one time: those
// due in two spawnTicks. A spawner that was held up (a busy process, a
// garbage collection) catches up at most twice as fast as planned, and
// finishes late if it must, rather than starting every user it owes at
// once: a burst would make the process busier still, and its heartbeats
// later.
func (p spreadPlan) batch() int {
	if p.over <= 0 {
		return max(p.n, 1)
	}
	return max(1, int(float64(p.n)*float64(2*spawnTick)/float64(p.over)+0.5))
}

// classStart is how many users of one class a step starts.
type classStart struct {
	class *UserClass
	n     int
}

// interleave returns a function yielding the classes of starts in a
// smooth weighted round-robin by their counts, so that every prefix of a
// step has the step's class split: a step cut short by the next spawn
// leaves no class behind. Over a whole step it yields each class exactly
// its count.
func interleave(starts []classStart) func() *UserClass {
	weights := make([]int, len(starts))
	for i, s := range starts {
		weights[i] = s.n
	}
	next := smoothRoundRobin(weights)
	return func() *UserClass { return starts[next()].class }
}

// startSpread starts the users of starts spread evenly over `over` (at
// once when over is 0, or when they are fewer than minSpreadUsers). A spread step ends early when ctx is done: the
// users not yet started are not started, and the next setTarget counts
// from the users that run. It is called with spawnMu held and mu not held.
func (p *pool) startSpread(ctx context.Context, starts []classStart, over time.Duration) {
	total := 0
	for _, s := range starts {
		total += s.n
	}
	if total == 0 {
		return
	}
	if total < minSpreadUsers {
		over = 0
	}
	plan := spreadPlan{start: p.clock.Now(), over: over, n: total}
	batch := plan.batch()
	next := interleave(starts)
	configs := p.userConfigs(starts)
	for started := 0; ; {
		now := p.clock.Now()
		if due := min(plan.due(now), started+batch); due > started && !p.holdSpawn() {
			p.startUsers(next, configs, due-started)
			started = due
		}
		if started == total {
			return
		}
		wait := max(plan.at(started).Sub(now), spawnTick)
		select {
		case <-ctx.Done():
			return
		case <-p.clock.After(wait):
		}
	}
}

// backlog returns how many requests wait for the worker.
func (p *pool) backlog() int {
	if p.backlogFunc != nil {
		return p.backlogFunc()
	}
	return p.transport.backlog()
}

// holdSpawn reports whether spawning must wait for the backlog to be
// worked off (backlogHolds).
func (p *pool) holdSpawn() bool {
	n := p.backlog()
	hold := backlogHolds(n, p.spawnHeld.Load())
	if p.spawnHeld.Swap(hold) != hold && hold {
		p.noteHold(p.clock.Now(), n)
	}
	return hold
}

// backlogHolds reports whether waiting requests for the worker hold back
// new work (a spawn step, the due users' line): from when more than
// maxSpawnBacklog wait until fewer than half as many do; held is whether
// they held at the last look.
func backlogHolds(waiting int, held bool) bool {
	return waiting > maxSpawnBacklog || held && waiting > maxSpawnBacklog/2
}

// holdLogEvery spaces the lines that say spawning holds back.
const holdLogEvery = 10 * time.Second

// noteHold counts a hold and logs it, at most once per holdLogEvery.
func (p *pool) noteHold(now time.Time, waiting int) {
	if holds, ok := p.spawnHolds.note(now); ok {
		p.logger.Warn("spawning held back: the worker cannot keep up with its users' requests",
			"requests_waiting", waiting, "holds", holds)
	}
}

// holdNotes counts holds, of spawning or of the due users' line, for a
// log line at most once per holdLogEvery.
type holdNotes struct {
	mu sync.Mutex
	at time.Time // the last line
	n  int       // holds since
}

// note counts a hold at now and reports whether to log it now, with the
// holds since the last line, this one included.
func (h *holdNotes) note(now time.Time) (holds int, log bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	if !h.at.IsZero() && now.Sub(h.at) < holdLogEvery {
		return 0, false
	}
	holds = h.n
	h.at, h.n = now, 0
	return holds, true
}

// userConfigs returns the config users of each class started now get.
func (p *pool) userConfigs(starts []classStart) map[*UserClass]*userConfig {
	p.mu.Lock()
	defer p.mu.Unlock()
	configs := make(map[*UserClass]*userConfig, len(starts))
	for _, s := range starts {
		c := &userConfig{host: p.host, tags: p.tags}
		if c.host == "" {
			c.host = s.class.host
		}
		if u, ok := p.updates[s.class.name]; ok {
			if u.host != "" {
				c.host = u.host
			}
			c.tasks = u.tasks
		}
		configs[s.class] = c
	}
	return configs
}

// startBatch is how many users startUsers starts before it lets go of
// p.mu for a moment, so that a spawn of a million users at once does not
// hold up exiting users for seconds.
const startBatch = 4096

// startUsers starts n users, each of the class next yields.
func (p *pool) startUsers(next func() *UserClass, configs map[*UserClass]*userConfig, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range n {
		if i > 0 && i%startBatch == 0 {
			p.mu.Unlock()
			p.mu.Lock()
		}
		class := next()
		p.startOneLocked(class, configs[class])
	}
}
