package worker

// This file owns the open model (--arrival-rate): task iterations are due
// at a fixed rate whatever the response times, and the users are the pool
// that runs them. arrivalSchedule says when iterations are due and which
// are too late to start (a pure type: tests give it made-up times);
// arrivals hands due iterations to free users and measures each from its
// scheduled start. userloop.go sends a user here after each iteration,
// instead of its wait time; loadmodel.go holds the pool's model.
//
// An iteration that finds no free user waits for one, oldest first, at
// most arrivalMaxWait; then it is dropped and counted (so are those still
// waiting for a user when the test ends). Waiting is what
// makes the scheduled-start time honest: a stalled target holds every
// user, the iterations due meanwhile wait, and their time from the
// schedule shows the stall, where each request's own response time,
// started only when a user was free, would not (coordinated omission,
// as wrk2 measures it). Iterations still waiting when the test ends are
// dropped too.

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/stats"
)

// arrivalMaxWait is how long a due iteration waits for a free user before
// it is dropped.
const arrivalMaxWait = 10 * time.Second

// ArrivalMethod is the Type of the open model's rows: one per task, its
// times from each iteration's scheduled start, and DroppedName.
const ArrivalMethod = "ARRIVAL"

// DroppedName is the row of the open model's iterations that found no
// free user within 10 s: failures without a request.
const DroppedName = "(dropped: no free user)"

// Bounds of an arrival rate, per second: beyond them the schedule's time
// arithmetic would overflow or its arrivals lose meaning.
const (
	minArrivalRate = 1e-6
	maxArrivalRate = 1e9
)

// arrivalSegment is a stretch of the schedule at one rate, from begin:
// phase is the part of an arrival accumulated by begin (1 makes one due at
// begin), first the number of the next arrival, end the number of the
// first arrival of the next segment, or -1 in the last segment.
type arrivalSegment struct {
	begin      time.Time
	phase      float64
	first, end int64
	rate       float64 // per second; 0: no arrivals in the segment
}

// accumulated returns the arrivals accumulated in the segment by t, the
// phase included: arrival first+k is due once it reaches k+1.
func (g *arrivalSegment) accumulated(t time.Time) float64 {
	if t.Before(g.begin) {
		return g.phase
	}
	return g.phase + t.Sub(g.begin).Seconds()*g.rate
}

// whole returns the arrivals completed in acc. The epsilon keeps an
// arrival due at exactly the time acc was taken from being missed by a
// rounding of the product.
func whole(acc float64) float64 { return math.Floor(acc + 1e-9) }

// at returns when arrival n of the segment is due.
func (g *arrivalSegment) at(n int64) time.Time {
	wait := (float64(n-g.first) + 1 - g.phase) / g.rate
	return g.begin.Add(time.Duration(math.Round(max(wait, 0) * float64(time.Second))))
}

// dueBy returns the number of the first arrival of the segment not due
// by t (so the arrivals from g.first up to it are due).
func (g *arrivalSegment) dueBy(t time.Time) int64 {
	n := g.first + int64(whole(g.accumulated(t)))
	if g.end >= 0 {
		n = min(n, g.end)
	}
	return n
}

// arrivalSchedule numbers the open model's iterations and says when each
// is due. next is the first iteration neither started nor dropped.
type arrivalSchedule struct {
	segments []arrivalSegment // oldest first; those before next are gone
	next     int64
	dropped  int64
	maxWait  time.Duration
}

// newArrivalSchedule returns a schedule of perSecond arrivals from start,
// the first due at start.
func newArrivalSchedule(start time.Time, perSecond float64, maxWait time.Duration) *arrivalSchedule {
	return &arrivalSchedule{
		segments: []arrivalSegment{{begin: start, phase: 1, end: -1, rate: clampRate(perSecond)}},
		maxWait:  maxWait,
	}
}

// clampRate keeps a rate within what the schedule can compute: 0 below
// minArrivalRate (or for NaN), maxArrivalRate above it.
func clampRate(perSecond float64) float64 {
	switch {
	case !(perSecond >= minArrivalRate):
		return 0
	case perSecond > maxArrivalRate:
		return maxArrivalRate
	}
	return perSecond
}

// last is the open-ended segment.
func (s *arrivalSchedule) last() *arrivalSegment { return &s.segments[len(s.segments)-1] }

// rate returns the current arrivals per second.
func (s *arrivalSchedule) rate() float64 { return s.last().rate }

// setRate changes the rate at now. The arrivals due by now keep their
// times; the part of the next one accumulated so far carries over, so a
// rate that changes every second, a slow ramp, yields the arrivals its
// integral says.
func (s *arrivalSchedule) setRate(now time.Time, perSecond float64) {
	perSecond = clampRate(perSecond)
	g := s.last()
	if perSecond == g.rate || now.Before(g.begin) {
		return
	}
	acc := g.accumulated(now)
	first := g.first + int64(whole(acc))
	g.end = first
	s.segments = append(s.segments, arrivalSegment{begin: now, phase: max(acc-whole(acc), 0), first: first, end: -1, rate: perSecond})
	s.prune()
}

// dueBy returns the number of the first arrival not due by t.
func (s *arrivalSchedule) dueBy(t time.Time) int64 {
	for i := len(s.segments) - 1; i >= 0; i-- {
		if g := &s.segments[i]; !t.Before(g.begin) {
			return g.dueBy(t)
		}
	}
	return s.segments[0].first
}

// at returns when arrival n is due; n must not be before next.
func (s *arrivalSchedule) at(n int64) time.Time {
	for i := range s.segments {
		if g := &s.segments[i]; g.end < 0 || n < g.end {
			return g.at(n)
		}
	}
	return s.last().at(n)
}

// dropLate drops the iterations due more than maxWait before now and
// returns how many.
func (s *arrivalSchedule) dropLate(now time.Time) int64 {
	late := s.dueBy(now.Add(-s.maxWait))
	if late <= s.next {
		return 0
	}
	n := late - s.next
	s.next = late
	s.dropped += n
	s.prune()
	return n
}

// prune forgets the segments whose arrivals are all started or dropped.
func (s *arrivalSchedule) prune() {
	i := 0
	for i < len(s.segments)-1 && s.segments[i].end <= s.next {
		i++
	}
	s.segments = s.segments[i:]
}

// take starts the oldest iteration due by now that is not too late and
// returns when it was due; ok is false when none is waiting.
func (s *arrivalSchedule) take(now time.Time) (due time.Time, ok bool) {
	s.dropLate(now)
	if s.next >= s.dueBy(now) {
		return time.Time{}, false
	}
	due = s.at(s.next)
	s.next++
	s.prune()
	return due, true
}

// waiting returns how many iterations due by now wait for a user.
func (s *arrivalSchedule) waiting(now time.Time) int64 {
	s.dropLate(now)
	return max(s.dueBy(now)-s.next, 0)
}

// nextDue returns when the first iteration not yet due by now is due; ok
// is false at rate 0.
func (s *arrivalSchedule) nextDue(now time.Time) (t time.Time, ok bool) {
	g := s.last()
	if g.rate <= 0 {
		return time.Time{}, false
	}
	return g.at(g.dueBy(now)), true
}

// end closes the schedule at now, the test's end. The iterations still
// waiting are dropped when starved, no user being free; otherwise they
// came due in the instant before the end, not yet handed to the free
// users, and are not counted.
func (s *arrivalSchedule) end(now time.Time, starved bool) {
	s.dropLate(now)
	if n := s.dueBy(now); n > s.next {
		if starved {
			s.dropped += n - s.next
		}
		s.next = n
	}
	s.prune()
}

// openModel runs the open model for a pool: it hands due iterations to
// free users and records their times from the scheduled start.
type openModel struct {
	mu      sync.Mutex
	sched   *arrivalSchedule
	free    []*userRun // users waiting for an iteration; userRun.freeSlot is the index
	started int64
	ended   bool
	// droppedBefore is what the schedule had dropped at the last reset.
	droppedBefore int64
	kick          chan struct{} // wakes run: a user became free, or the rate changed

	collector *stats.Collector // each iteration's time from its scheduled start, per task
	reported  atomic.Int64     // dropped iterations already in a report
}

// newOpenModel returns the open model at perSecond from start.
func newOpenModel(start time.Time, perSecond float64) *openModel {
	return &openModel{
		sched:     newArrivalSchedule(start, perSecond, arrivalMaxWait),
		kick:      make(chan struct{}, 1),
		collector: stats.NewCollector(),
	}
}

// wake makes run look again.
func (a *openModel) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// setRate changes the arrivals per second from now on.
func (a *openModel) setRate(now time.Time, perSecond float64) {
	a.mu.Lock()
	a.sched.setRate(now, perSecond)
	a.mu.Unlock()
	a.wake()
}

// await is a user's way back after an iteration: it returns the due time
// of an iteration to run now, or, when none waits, sets the user waiting
// for one and reports free (its executor is free). A user asked to stop
// meanwhile goes on at once, without an iteration (the zero time), as
// userRun.sleep does.
func (a *openModel) await(r *userRun, now time.Time) (due time.Time, free bool) {
	a.mu.Lock()
	if !a.ended {
		if t, ok := a.sched.take(now); ok {
			a.started++
			a.mu.Unlock()
			return t, false
		}
	}
	r.state.Store(userWaiting)
	r.freeSlot = len(a.free)
	a.free = append(a.free, r)
	wasEmpty := len(a.free) == 1
	a.mu.Unlock()
	if wasEmpty {
		a.wake()
	}
	if r.stopping.Load() && r.state.CompareAndSwap(userWaiting, userRunning) {
		a.remove(r)
		return time.Time{}, false
	}
	return time.Time{}, true
}

// remove takes r off the free users, if it is there.
func (a *openModel) remove(r *userRun) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.removeLocked(r)
}

func (a *openModel) removeLocked(r *userRun) {
	i := r.freeSlot
	if i < 0 || i >= len(a.free) || a.free[i] != r {
		return
	}
	last := len(a.free) - 1
	a.free[i] = a.free[last]
	a.free[i].freeSlot = i
	a.free[last] = nil
	a.free = a.free[:last]
	r.freeSlot = -1
}

// run hands due iterations to free users until ctx is done, then drops
// the iterations still waiting. submit starts a user on an executor.
func (a *openModel) run(ctx context.Context, submit func(*userRun)) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := a.dispatch(time.Now(), submit)
		var tick <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			a.stop(time.Now())
			return
		case <-a.kick:
		case <-tick:
		}
	}
}

// dispatch hands the iterations due by now to free users and returns how
// long to wait before the next is due, or -1 to wait for a kick (no free
// user, or no arrivals).
func (a *openModel) dispatch(now time.Time, submit func(*userRun)) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return -1
	}
	for len(a.free) > 0 && a.sched.waiting(now) > 0 {
		r := a.free[len(a.free)-1]
		a.removeLocked(r)
		if !r.state.CompareAndSwap(userWaiting, userRunning) {
			continue // being stopped: its stop ends it
		}
		r.arrival, _ = a.sched.take(now)
		a.started++
		submit(r)
	}
	if len(a.free) == 0 {
		return -1
	}
	next, ok := a.sched.nextDue(now)
	if !ok {
		return -1
	}
	return max(next.Sub(now), 0)
}

// stop ends the schedule: iterations still waiting are dropped, and no
// user gets another.
func (a *openModel) stop(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ended {
		a.ended = true
		a.sched.end(now, len(a.free) == 0)
	}
}

// record measures an iteration of task that was due at due and ended at
// now.
func (a *openModel) record(task string, due, now time.Time) {
	a.collector.Record(stats.Sample{Method: ArrivalMethod, Name: task, Duration: now.Sub(due), At: now})
}

// ArrivalCounts are the open model's counts so far.
type ArrivalCounts struct {
	// Rate is the arrivals per second asked for now.
	Rate float64
	// Started counts the iterations handed to a user.
	Started int64
	// Dropped counts the iterations that found no free user in time.
	Dropped int64
	// Waiting counts the iterations due that wait for a free user.
	Waiting int64
}

// unstart takes back an iteration a user took but did not run (the
// iteration budget was spent).
func (a *openModel) unstart() {
	a.mu.Lock()
	a.started--
	a.mu.Unlock()
}

// reset forgets the counts and times so far (--reset-stats), keeping the
// schedule.
func (a *openModel) reset(now time.Time) {
	a.collector.Report(now)
	a.mu.Lock()
	a.started = 0
	a.sched.dropLate(now)
	a.droppedBefore = a.sched.dropped
	a.mu.Unlock()
	a.reported.Store(0)
}

// counts returns the counts at now.
func (a *openModel) counts(now time.Time) ArrivalCounts {
	a.mu.Lock()
	defer a.mu.Unlock()
	var waiting int64
	if !a.ended {
		waiting = a.sched.waiting(now)
	}
	return ArrivalCounts{Rate: a.sched.rate(), Started: a.started, Dropped: a.sched.dropped - a.droppedBefore, Waiting: waiting}
}

// report returns the delta of the iterations' times since the last
// report, with the iterations dropped since then as failures of the row
// DroppedName.
func (a *openModel) report(now time.Time) stats.Report {
	rep := a.collector.Report(now)
	dropped := a.counts(now).Dropped
	delta := dropped - a.reported.Swap(dropped)
	if delta <= 0 {
		return rep
	}
	e := stats.Entry{
		Key:           stats.Key{Method: ArrivalMethod, Name: DroppedName},
		NumFailures:   delta,
		ResponseTimes: map[int64]int64{},
		NumReqsPerSec: map[int64]int64{},
		NumFailPerSec: map[int64]int64{now.Unix(): delta},
		StartTime:     rep.Total.StartTime,
	}
	rep.Entries = append(rep.Entries, e)
	rep.Total.NumFailures += delta
	rep.Total.NumFailPerSec[now.Unix()] += delta
	return rep
}
