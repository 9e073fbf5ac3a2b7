package worker

// This file owns a standalone run's load model and hooks: checking the Standalone
// fields of the rate cap, the open model, the iteration budget, stages and
// shapes; setting them on the pool (loadmodel.go, arrivals.go); and the
// open model's part of the live table and summary. standalone.go owns the
// run itself, shape.go the shapes.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// checkLoadModel reports the first load-model field out of its range, or
// two that exclude each other.
func (s *Standalone) checkLoadModel() error {
	bad := func(v float64) bool { return v < 0 || math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case !validSpawnRate(s.SpawnRate):
		return fmt.Errorf("worker: SpawnRate %v: want 0 (all at once) or from %g to %g users a second", s.SpawnRate, minSpawnRate, maxSpawnRate)
	case bad(s.MaxRPS):
		return fmt.Errorf("worker: MaxRPS %v must be a number, not negative", s.MaxRPS)
	case bad(s.ArrivalRate):
		return fmt.Errorf("worker: ArrivalRate %v must be a number, not negative", s.ArrivalRate)
	case s.ArrivalRate > 0 && (s.ArrivalRate < minArrivalRate || s.ArrivalRate > maxArrivalRate):
		return fmt.Errorf("worker: ArrivalRate %v out of range %g-%g", s.ArrivalRate, minArrivalRate, maxArrivalRate)
	case s.Iterations < 0:
		return fmt.Errorf("worker: Iterations %d must not be negative", s.Iterations)
	case s.MaxRPS > 0 && s.ArrivalRate > 0:
		return errors.New("worker: MaxRPS and ArrivalRate exclude each other: the arrival rate is the rate")
	case s.Shape != nil && s.Stages != nil:
		return errors.New("worker: Shape and Stages exclude each other")
	}
	return nil
}

// startLoadModel sets the run's cap, budget and open model on the pool;
// stop ends the run.
func (r *standaloneRun) startLoadModel(ctx context.Context, start time.Time, stop func()) {
	if r.MaxRPS > 0 {
		r.pool.setMaxRPS(start, r.MaxRPS)
	}
	if r.Iterations > 0 {
		r.pool.setIterations(r.Iterations, func() {
			r.logger.Info("all iterations done", "iterations", r.Iterations)
			stop()
		})
	}
	if r.ArrivalRate > 0 {
		rate := r.ArrivalRate
		if r.Stages != nil {
			rate, _ = r.Stages.value(0)
		}
		r.open = newOpenModel(start, rate)
		r.arrivals = stats.NewTotals()
		r.pool.setArrivals(r.open)
		go r.open.run(ctx, r.pool.submit)
	}
}

// rampFinished ends a run with an iteration budget once no user is left:
// users that all stopped themselves (ErrStopUser, a failed OnStart) must
// not leave it waiting for iterations no one will run. The ramp is over,
// so no user is coming.
func (r *standaloneRun) rampFinished() {
	if r.Iterations <= 0 {
		return
	}
	end := func() {
		r.logger.Warn("every user stopped before the iterations were done; ending the test",
			"iterations", r.Iterations, "done", r.pool.model().iterations.finished.Load())
		r.stopRun()
	}
	r.pool.whenEmpty.Store(&end)
	if r.pool.running0() {
		end()
	}
}

// shapeRun returns the run's shape, or nil for the plain ramp.
func (r *standaloneRun) shapeRun() *shapeRun {
	if !r.shaped() {
		return nil
	}
	sr := &shapeRun{shape: r.Shape, classes: r.Classes, pool: r.pool, open: r.open, poolSize: max(r.Users, 1), poolRate: r.SpawnRate,
		onUsers: r.OnUsers, logger: r.logger, interval: shapeInterval}
	if r.Shape == nil {
		sr.shape = r.Stages
		if r.open != nil {
			sr.rates = r.Stages
		}
	}
	return sr
}

// shaped reports whether a shape or stages drive the run.
func (r *standaloneRun) shaped() bool { return r.Shape != nil || r.Stages != nil }

// resetStats forgets what was measured so far (--reset-stats), the open
// model's rows and counts too.
func (r *standaloneRun) resetStats(now time.Time) {
	r.merge(now)
	r.totals.Reset()
	if r.open != nil {
		r.open.reset(now)
		r.arrivals.Reset()
	}
}

// merge takes the statistics recorded since the last merge.
func (r *standaloneRun) merge(now time.Time) {
	r.totals.Merge(r.collector.Report(now))
	if r.open != nil {
		r.arrivals.Merge(r.open.report(now))
	}
}

// printArrivals prints the open model's part of the live table.
func (r *standaloneRun) printArrivals(now time.Time) {
	if r.open == nil {
		return
	}
	fmt.Fprintln(r.out)
	if err := writeArrivals(r.out, r.arrivals, r.open.counts(now), true); err != nil {
		r.logger.Warn("printing the live table", "err", err)
	}
}

// writeArrivals writes the open model's counts and its rows: the table of
// the live view (current) or the summary's with percentiles.
func writeArrivals(w io.Writer, t *stats.Totals, c ArrivalCounts, current bool) error {
	fmt.Fprintf(w, "Open model: %g iterations/s asked; %d started, %d dropped (no free user within %s), %d waiting\n",
		c.Rate, c.Started, c.Dropped, arrivalMaxWait, c.Waiting)
	fmt.Fprintln(w, "Iteration times from their scheduled start (free of coordinated omission):")
	if err := stats.WriteStatsTable(w, t, current); err != nil {
		return err
	}
	if current {
		return nil
	}
	fmt.Fprintln(w)
	return stats.WritePercentileTable(w, t, nil)
}

// setHooks gives the run its classes' hooks: the request listener, the
// test's start and stop, and a message queue that SendMessage feeds, as
// Locust's local runner hands messages to its own handlers; and the
// Prometheus endpoint, whose address may be bad.
func (r *standaloneRun) setHooks() error {
	hooks := runHooks(r.Classes)
	r.state.Store(stateSpawning)
	var promListen func(stats.Sample)
	if r.Prometheus != "" {
		r.exporter = newExporter(r.pool.counts, func() string { return r.state.Load().(string) })
		if err := r.exporter.start(r.Prometheus, r.logger); err != nil {
			return &optionError{fmt.Errorf("worker: %w", err)}
		}
		promListen = r.exporter.listen
	}
	r.pool.listen = joinListeners(requestListener(hooks), promListen)
	r.hooks = &testHooks{hooks: hooks, logger: r.logger, env: r.pool.hookContext}
	r.messages = newMessageQueue(hooks, r.pool.hookContext, r.logger)
	r.pool.messenger = func(m protocol.CustomMessage) error {
		// Through the wire's form, so that handlers see what a master's
		// message gives them (int64, map[string]any), and what a master
		// could not take is refused here too.
		body, err := protocol.Encode("local", m)
		if err != nil {
			return fmt.Errorf("worker: message %q: %w", m.MessageType, err)
		}
		env, err := protocol.Decode(body)
		if err != nil {
			return fmt.Errorf("worker: message %q: %w", m.MessageType, err)
		}
		wire := env.Message.(protocol.CustomMessage)
		return r.messages.push(Message{Type: wire.MessageType, Data: wire.Data})
	}
	return nil
}

// lastScrape waits, with --prometheus, for a scrape of the final figures
// (at most finalScrapeWait), then stops serving.
func (r *standaloneRun) lastScrape() {
	if r.exporter == nil {
		return
	}
	if !r.exporter.awaitScrape(finalScrapeWait) {
		r.logger.Warn("no Prometheus scrape of the final figures", "waited", finalScrapeWait)
	}
	r.exporter.close()
}
