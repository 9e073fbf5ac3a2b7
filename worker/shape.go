package worker

// This file owns load that changes over time in a standalone run: the Go
// equivalent of Locust's LoadTestShape (Shape, asked once a second) and
// --stages, linear ramps from one target to the next. The pure part,
// shapeStep, decides how far one tick moves the users; runShape applies
// it to the pool (pool.go) and the open model's rate (arrivals.go). As a
// worker, the master's own LoadTestShape drives the users through its
// spawn messages, and Shape is not used.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Shape drives a standalone test over time, like a LoadTestShape class of
// a locustfile: Tick is called once a second with the time since the test
// started and says where the users should be. ok false ends the test.
type Shape interface {
	Tick(elapsed time.Duration) (tick ShapeTick, ok bool)
}

// ShapeFunc adapts a function to a Shape.
type ShapeFunc func(elapsed time.Duration) (ShapeTick, bool)

// Tick calls f.
func (f ShapeFunc) Tick(elapsed time.Duration) (ShapeTick, bool) { return f(elapsed) }

// ShapeTick is what a Shape asks for at one tick, like the tuple a
// LoadTestShape's tick returns.
type ShapeTick struct {
	// Users is the number of users to move to, up or down.
	Users int
	// SpawnRate is how many users a second are started or stopped on the
	// way; 0 moves at once.
	SpawnRate float64
	// Classes, if set, are the only classes users are started of (by
	// their weights); nil means all the run's classes.
	Classes []*UserClass
	// ArrivalRate is the open model's iterations per second, for a run
	// with an arrival rate; ignored otherwise.
	ArrivalRate float64
}

// Stage is one stretch of a staged test: from the previous stage's
// target (0 before the first) to Target, linearly over Duration.
type Stage struct {
	Duration time.Duration
	// Target is users, or with an open model iterations per second.
	Target float64
}

// Stages is a Shape of linear ramps in users (Standalone.Stages with an
// ArrivalRate ramps the rate instead): during a stage it moves the users
// to the stage's target at the rate that gets there by the stage's end,
// and it ends the test after the last stage.
type Stages []Stage

// Tick implements Shape.
func (st Stages) Tick(elapsed time.Duration) (ShapeTick, bool) {
	i, _, prev := st.at(elapsed)
	if i < 0 {
		return ShapeTick{}, false
	}
	g := st[i]
	tick := ShapeTick{Users: int(math.Round(g.Target))}
	if g.Duration > 0 {
		tick.SpawnRate = math.Abs(g.Target-prev) / g.Duration.Seconds()
	}
	return tick, true
}

// value returns the target interpolated at elapsed; ok is false after the
// last stage.
func (st Stages) value(elapsed time.Duration) (v float64, ok bool) {
	i, into, prev := st.at(elapsed)
	if i < 0 {
		return 0, false
	}
	g := st[i]
	if g.Duration <= 0 {
		return g.Target, true
	}
	return prev + (g.Target-prev)*into.Seconds()/g.Duration.Seconds(), true
}

// at returns the stage elapsed falls in, how far into it, and the target
// before it; i is -1 after the last stage. A stage of no duration is
// never current: it sets the target the next one starts from.
func (st Stages) at(elapsed time.Duration) (i int, into time.Duration, prev float64) {
	var start time.Duration
	for i, g := range st {
		if elapsed < start+g.Duration {
			return i, elapsed - start, prev
		}
		start += g.Duration
		prev = g.Target
	}
	return -1, 0, prev
}

// ParseStages reads --stages: DURATION:TARGET pairs separated by commas,
// e.g. "30s:100,1m:100,30s:0" (durations as -t/--run-time takes them).
func ParseStages(s string) (Stages, error) {
	var st Stages
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		d, t, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("stage %q is not DURATION:TARGET, e.g. 30s:100", part)
		}
		dur, err := parseRunTime(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("stage %q: duration %w", part, err)
		}
		target, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil || math.IsNaN(target) || math.IsInf(target, 0) {
			return nil, fmt.Errorf("stage %q: target %q is not a number", part, t)
		}
		if dur < 0 || target < 0 {
			return nil, fmt.Errorf("stage %q: duration and target must not be negative", part)
		}
		if st.total() > maxRunTime-dur {
			return nil, fmt.Errorf("the stages last longer than %v", maxRunTime)
		}
		st = append(st, Stage{Duration: dur, Target: target})
	}
	if st.total() <= 0 {
		return nil, errors.New("the stages last no time")
	}
	return st, nil
}

// total is how long the stages last.
func (st Stages) total() time.Duration {
	var d time.Duration
	for _, g := range st {
		d += g.Duration
	}
	return d
}

// shapeInterval is how often a shape is asked, as Locust's shape greenlet
// asks every second.
const shapeInterval = time.Second

// shapeStep returns where one tick of length interval moves users from
// current for tick, over how long the moved users start, and the part of
// a user the spawn rate owes the next tick: SpawnRate*interval users a
// tick (plus what earlier ticks owed), all of them at rate 0 or an
// infinite rate, so that a ramp slower than a user a tick follows its
// line.
func shapeStep(current int, tick ShapeTick, interval time.Duration, owed float64) (users int, over time.Duration, carry float64) {
	target := max(tick.Users, 0)
	if !(tick.SpawnRate > 0) || tick.SpawnRate*interval.Seconds() >= float64(math.MaxInt32) || target == current {
		return target, 0, 0
	}
	budget := tick.SpawnRate*interval.Seconds() + owed
	step := int(math.Floor(budget))
	diff := target - current
	if diff > step {
		diff = step
	} else if diff < -step {
		diff = -step
	} else {
		budget = float64(absInt(diff)) // reached: nothing owed
	}
	moved := float64(absInt(diff))
	return current + diff, min(time.Duration(moved/tick.SpawnRate*float64(time.Second)), interval), budget - moved
}

// shapeRun is one standalone run driven by a shape.
type shapeRun struct {
	shape    Shape
	classes  []*UserClass
	pool     *pool
	open     *openModel // nil: closed model
	rates    Stages     // with open and --stages: the rate's stages (users stay at poolSize)
	poolSize int
	poolRate float64 // the spawn rate of the open model's pool
	onUsers  func(map[string]int64)
	logger   *slog.Logger
	interval time.Duration
}

// run asks the shape every interval and applies its tick until the shape
// ends (it then calls stop) or ctx is done. It returns the users per
// class at the end.
func (sr *shapeRun) run(ctx context.Context, stop func()) map[string]int64 {
	start := time.Now()
	current, owed := 0, 0.0
	counts := classCounts(sr.classes, 0)
	for k := 0; ; k++ {
		elapsed := time.Since(start)
		tick, ok := sr.tick(elapsed)
		if !ok {
			sr.logger.Info("the shape ended the test", "elapsed", elapsed.Round(time.Millisecond))
			stop()
			return counts
		}
		if sr.open != nil {
			sr.open.setRate(time.Now(), tick.ArrivalRate)
		}
		var users int
		var over time.Duration
		users, over, owed = shapeStep(current, tick, sr.interval, owed)
		if users != current || k == 0 {
			counts = shapeCounts(sr.classes, tick.Classes, users)
			sr.pool.setTargetOver(ctx, counts, over)
			current = users
			if sr.onUsers != nil {
				sr.onUsers(sr.pool.counts())
			}
		}
		select {
		case <-ctx.Done():
			return counts
		case <-time.After(time.Until(start.Add(time.Duration(k+1) * sr.interval))):
		}
	}
}

// tick asks the shape, or with the open model and stages, the rate's
// stages. A shape that panics ends the test: the panic is logged.
func (sr *shapeRun) tick(elapsed time.Duration) (tick ShapeTick, ok bool) {
	if sr.rates != nil {
		rate, ok := sr.rates.value(elapsed)
		return ShapeTick{Users: sr.poolSize, SpawnRate: sr.poolRate, ArrivalRate: rate}, ok
	}
	defer func() {
		if v := recover(); v != nil {
			sr.logger.Error("the shape's Tick panicked; ending the test", "panic", fmt.Sprint(v), "stack", string(recovered(v).stack))
			tick, ok = ShapeTick{}, false
		}
	}()
	return sr.shape.Tick(elapsed)
}

// shapeCounts returns the users per class of all for n users of the
// classes only (all of them when only is empty): the others get none.
// Classes of only that are nil or not in the run are left out.
func shapeCounts(all, only []*UserClass, n int) map[string]int64 {
	only = slices.DeleteFunc(slices.Clone(only), func(c *UserClass) bool { return c == nil || !slices.Contains(all, c) })
	if len(only) == 0 {
		return classCounts(all, n)
	}
	counts := classCounts(all, 0)
	for name, c := range classCounts(only, n) {
		counts[name] = c
	}
	return counts
}

func absInt(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
