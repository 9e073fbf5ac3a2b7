package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/golocust/golocust/stats"
)

// Standalone runs user classes without a master, like `locust --headless`:
// users start at the spawn rate, the test ends after the run time or when
// ctx is cancelled, and a summary is printed.
type Standalone struct {
	// Host is the target base URL; "" leaves each class's own host.
	Host string
	// Users is the number of users to reach; 0 means 1.
	Users int
	// SpawnRate is users started per second; 0 starts all at once.
	SpawnRate float64
	// RunTime ends the test after this long; 0 runs until ctx is done.
	RunTime time.Duration
	// StopTimeout is how long users may finish their task at the end.
	StopTimeout time.Duration
	// Tags and ExcludeTags select tasks by tag.
	Tags, ExcludeTags []string
	// Classes are the user classes to run.
	Classes []*UserClass
	// Logger receives log lines; nil means slog.Default().
	Logger *slog.Logger
	// Output receives the live table and the summary; nil means os.Stdout.
	Output io.Writer
	// OnlySummary prints the summary only, not the live table.
	OnlySummary bool
	// PrintInterval is how often the live table is printed; 0 means 2 s.
	PrintInterval time.Duration
}

// Result is what a standalone run measured.
type Result struct {
	// Stats are the cumulative statistics, as a master would show them.
	Stats *stats.Totals
	// Exceptions are the errors and panics of user code, by traceback.
	Exceptions []Exception
	// Duration is how long the test ran.
	Duration time.Duration
}

// Exception is an unexpected error or panic in user code, counted by
// traceback like Locust's exceptions table.
type Exception struct {
	Msg, Traceback string
	Count          int64
}

// Run runs the test and returns its result. It returns an error only when
// the test could not start.
func (s *Standalone) Run(ctx context.Context) (*Result, error) {
	classes, err := validateClasses(s.Classes)
	if err != nil {
		return nil, err
	}
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	out := s.Output
	if out == nil {
		out = os.Stdout
	}
	users := max(s.Users, 1)
	interval := s.PrintInterval
	if interval <= 0 {
		interval = 2 * time.Second
	}

	var exMu sync.Mutex
	exceptions := map[string]*Exception{}
	var order []string
	collector := stats.NewCollector()
	p := newPool(classes, collector, logger, func(msg, traceback string) {
		exMu.Lock()
		defer exMu.Unlock()
		e, ok := exceptions[traceback]
		if !ok {
			e = &Exception{Msg: msg, Traceback: traceback}
			exceptions[traceback] = e
			order = append(order, traceback)
		}
		e.Count++
	})
	p.configure(s.Host, s.StopTimeout, tagFilter{include: s.Tags, exclude: s.ExcludeTags})

	totals := stats.NewTotals()
	start := time.Now()
	runCtx := ctx
	if s.RunTime > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, s.RunTime)
		defer cancel()
	}
	logger.Info("starting test", "users", users, "spawn_rate", s.SpawnRate, "run_time", s.RunTime)

	rampDone := make(chan struct{})
	go func() {
		defer close(rampDone)
		s.ramp(runCtx, p, users, logger)
	}()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case now := <-ticker.C:
			totals.Merge(collector.Report(now))
			if !s.OnlySummary {
				printTable(out, totals, now)
			}
		}
	}
	<-rampDone
	logger.Info("stopping users", "stop_timeout", s.StopTimeout)
	p.stopAll(context.Background())
	p.wait()
	end := time.Now()
	totals.Merge(collector.Report(end))

	res := &Result{Stats: totals, Duration: end.Sub(start)}
	for _, tb := range order {
		res.Exceptions = append(res.Exceptions, *exceptions[tb])
	}
	printSummary(out, res, end)
	return res, nil
}

// ramp starts users in Locust's order at the spawn rate: batches of
// floor(rate) users (at least one) every batch/rate seconds.
func (s *Standalone) ramp(ctx context.Context, p *pool, users int, logger *slog.Logger) {
	next := userSequence(s.Classes)
	counts := classCounts(s.Classes, 0)
	batch, every := users, time.Duration(0)
	if s.SpawnRate > 0 {
		batch = max(1, int(math.Floor(s.SpawnRate)))
		every = time.Duration(float64(batch) / s.SpawnRate * float64(time.Second))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for started := 0; started < users; {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		for i := 0; i < batch && started < users; i++ {
			c := next()
			if c == nil {
				logger.Warn("no user class can take more users", "started", started)
				return
			}
			counts[c.name]++
			started++
		}
		p.setTarget(ctx, counts)
		if started == users {
			logger.Info("all users spawned", "users", counts)
			return
		}
		timer.Reset(every)
	}
}

func printTable(w io.Writer, t *stats.Totals, now time.Time) {
	fmt.Fprintf(w, "%-8s %-40s %9s %9s %8s %8s %9s\n", "Type", "Name", "# reqs", "# fails", "Avg", "Med", "req/s")
	row := func(e stats.Entry) {
		fmt.Fprintf(w, "%-8s %-40s %9d %9d %8d %8d %9.2f\n", e.Method, e.Name, e.NumRequests, e.NumFailures,
			e.Average().Milliseconds(), e.Median().Milliseconds(), e.CurrentRPS(now))
	}
	for _, e := range t.Entries() {
		row(e)
	}
	row(t.Total())
	fmt.Fprintln(w)
}

func printSummary(w io.Writer, r *Result, now time.Time) {
	fmt.Fprintf(w, "Test finished after %s\n", r.Duration.Round(time.Millisecond))
	printTable(w, r.Stats, now)
	if errs := r.Stats.Errors(); len(errs) > 0 {
		fmt.Fprintln(w, "Error report")
		for _, e := range errs {
			fmt.Fprintf(w, "%9d  %s %s: %s\n", e.Occurrences, e.Method, e.Name, e.Text)
		}
	}
	for _, e := range r.Exceptions {
		fmt.Fprintf(w, "%9d  exception: %s\n", e.Count, e.Msg)
	}
}
