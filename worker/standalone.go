package worker

// This file owns running without a master: Standalone, its ramp in
// Locust's order, the live table, the CSV files as the test goes, and its
// Result. The users themselves run in the pool (pool.go), as they do for a
// master.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/stats"
)

// Standalone runs user classes without a master, like `locust --headless`:
// users start at the spawn rate in the order Locust's dispatcher gives, the
// test ends after the run time or when ctx is cancelled, and the summary
// is printed.
//
// It is one of the advanced ways in, for programs that build the run
// themselves instead of from the command line (their own flags, a test
// in a Go test); [Main] runs it when no master is given.
type Standalone struct {
	// Host is the target base URL; "" leaves each class's own host.
	Host string
	// Users is the number of users to reach; 0 means 1.
	Users int
	// SpawnRate is users started per second, from 1e-6 to 1e9; 0 starts
	// all at once. NaN, infinite and negative rates are errors.
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
	// PrintInterval is how often the live table is printed; 0 means 2 s,
	// Locust's CONSOLE_STATS_INTERVAL_SEC.
	PrintInterval time.Duration
	// CSVPrefix, when set, writes Locust's four CSV files
	// PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv
	// and PREFIX_exceptions.csv, rewritten (the history appended) every
	// CSVInterval and at the end.
	CSVPrefix string
	// CSVFullHistory writes every row to the history file, not only the
	// Aggregated row (Locust's --csv-full-history).
	CSVFullHistory bool
	// CSVInterval is how often the CSV files are written; 0 means 1 s,
	// Locust's CSV_STATS_INTERVAL_SEC.
	CSVInterval time.Duration
	// HTMLFile, when set, writes the run's report to this file at the end
	// (Locust's --html): one HTML file that opens offline, with the
	// summary's tables and charts over time, a point every CSVInterval
	// (report_html.go). Run checks when it starts that the file can be
	// written, without changing one already there; the report goes to a
	// temporary file in the same directory, renamed over HTMLFile once
	// complete.
	HTMLFile string
	// ResetStats forgets the statistics once every user has started, like
	// Locust's --reset-stats.
	ResetStats bool
	// OnUsers, if set, is called after each spawn step with the number of
	// running users per class.
	OnUsers func(counts map[string]int64)
	// HTTP configures the users' HTTP connections: shared or one per
	// user, and TLS (certificates are verified by default).
	HTTP HTTPOptions

	// The load model (standalone_load.go); the zero values are Locust's
	// closed model, users looping over their tasks with their wait time.

	// MaxRPS caps task iterations per second over all users; 0: no cap.
	MaxRPS float64
	// ArrivalRate, when set, is the open model: task iterations start
	// this many times a second whatever the response times, Users is the
	// pool of users that run them, and the users' wait time is not used.
	// An iteration that finds no free user waits for one at most 10 s,
	// then is dropped and counted (Result.Arrivals).
	ArrivalRate float64
	// Iterations, when set, ends the test after this many task iterations
	// over all users.
	Iterations int64
	// Stages ramp the users (with ArrivalRate, the rate) linearly from
	// one target to the next, and end the test after the last.
	Stages Stages
	// Shape, when set, drives the users over time like a LoadTestShape;
	// Users and SpawnRate are then not used.
	Shape Shape

	// Prometheus, when set, is the address (e.g. 127.0.0.1:9646) of a
	// /metrics endpoint of the run's requests, users and state; at the
	// end the run waits up to 10 s for one last scrape of its final
	// figures.
	Prometheus string
}

// Result is what a standalone run measured.
type Result struct {
	// Stats are the cumulative statistics, as a master would show them.
	Stats *stats.Totals
	// Exceptions are the errors and panics of user code, one row per
	// traceback as in Locust's exceptions table, on the node "local" as
	// a standalone Locust says.
	Exceptions []stats.ExceptionRow
	// Duration is how long the test ran.
	Duration time.Duration
	// Users is the number of users of each class at the end of the ramp.
	Users map[string]int64
	// Arrivals, with an ArrivalRate, are the open model's rows: each
	// task's iterations timed from their scheduled start (method
	// ARRIVAL), and the dropped iterations as failures of the row
	// DroppedName. Nil for the closed model.
	Arrivals *stats.Totals
	// ArrivalCounts are the open model's counts at the end.
	ArrivalCounts ArrivalCounts
	// WriteErr, when not nil, is why the files written at the end (the
	// last CSV files, the HTML report) could not be written; it is
	// logged too. The rest of the Result holds all the same.
	WriteErr error
}

// WriteJSON writes the final statistics the way Locust's --json prints
// them; see [stats.WriteJSON]. The open model's rows (Arrivals) follow
// the requests' rows.
func (r *Result) WriteJSON(w io.Writer) error {
	if r.Arrivals == nil {
		return stats.WriteJSON(w, r.Stats)
	}
	both := stats.NewTotals()
	both.Merge(stats.Report{Entries: append(r.Stats.Entries(), r.Arrivals.Entries()...), Total: r.Stats.Total()})
	return stats.WriteJSON(w, both)
}

// WriteSummary writes the final summary `locust --headless` prints: the
// statistics table with rates over the whole test, the percentile table,
// the failures and the exceptions.
func (r *Result) WriteSummary(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "Test finished after %s\n", r.Duration.Round(time.Millisecond)); err != nil {
		return err
	}
	if err := stats.WriteStatsTable(w, r.Stats, false); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if err := stats.WritePercentileTable(w, r.Stats, nil); err != nil {
		return err
	}
	if len(r.Stats.Errors()) > 0 {
		fmt.Fprintln(w)
		if err := stats.WriteFailuresTable(w, r.Stats); err != nil {
			return err
		}
	}
	if len(r.Exceptions) > 0 {
		fmt.Fprintln(w)
		if err := stats.WriteExceptionsTable(w, r.Exceptions); err != nil {
			return err
		}
	}
	if r.Arrivals != nil {
		fmt.Fprintln(w)
		return writeArrivals(w, r.Arrivals, r.ArrivalCounts, false)
	}
	return nil
}

// exceptionLog collects user-code exceptions by traceback, every one
// counted. Tracebacks are made stable first, as a worker's are
// (stableTraceback), so that the panics of one place share a row whatever
// their goroutine and argument values; the texts are bounded as a
// worker's. It keeps at most maxExceptionRows tracebacks: the exceptions
// of further ones are counted in one row, otherExceptions.
type exceptionLog struct {
	mu    sync.Mutex
	byTB  map[string]*stats.ExceptionRow
	order []string
}

const (
	maxExceptionRows = 1000
	otherExceptions  = "[other exceptions]"
)

func (l *exceptionLog) add(msg, traceback string) {
	msg, traceback = boundException(msg, traceback)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byTB == nil {
		l.byTB = map[string]*stats.ExceptionRow{}
	}
	e, ok := l.byTB[traceback]
	if !ok && len(l.byTB) >= maxExceptionRows {
		traceback = otherExceptions
		msg = fmt.Sprintf("exceptions of more than %d distinct tracebacks", maxExceptionRows)
		e, ok = l.byTB[traceback]
	}
	if !ok {
		e = &stats.ExceptionRow{Message: msg, Traceback: traceback, Nodes: []string{"local"}}
		l.byTB[traceback] = e
		l.order = append(l.order, traceback)
	}
	e.Count++
}

func (l *exceptionLog) list() []stats.ExceptionRow {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]stats.ExceptionRow, 0, len(l.order))
	for _, tb := range l.order {
		out = append(out, *l.byTB[tb])
	}
	return out
}

// Run runs the test and returns its result. It returns an error only when
// the test could not start (bad classes, TLS files that cannot be read,
// CSV or HTML files that cannot be created, a Prometheus address that
// cannot be listened on); files that cannot be written at the end are the
// Result's WriteErr.
func (s *Standalone) Run(ctx context.Context) (*Result, error) {
	r, err := s.start()
	if err != nil {
		return nil, err
	}
	if r.csv != nil {
		defer r.csv.close()
	}
	start := time.Now()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	if s.RunTime > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(runCtx, s.RunTime)
		defer cancel()
	}
	r.stopRun = stopRun
	r.pool.setStopTest(stopRun) // StopTest from a user ends the run
	messagesCtx, stopMessages := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMessages() // after finish: TestStop hooks may send messages
	go r.messages.run(messagesCtx)
	r.hooks.start(runCtx)
	users := max(s.Users, 1)
	r.logger.Info("starting test", "users", users, "spawn_rate", s.SpawnRate, "run_time", s.RunTime)
	r.startLoadModel(runCtx, start, stopRun)
	rampDone := make(chan map[string]int64, 1)
	go func() {
		if sr := r.shapeRun(); sr != nil {
			rampDone <- sr.run(runCtx, stopRun)
			return
		}
		rampDone <- s.ramp(runCtx, r.pool, users, r.logger)
	}()
	spawned := r.loop(runCtx, rampDone)
	return r.finish(start, spawned), nil
}

// standaloneRun is one Run of a Standalone: its pool and what it reports.
type standaloneRun struct {
	*Standalone
	logger     *slog.Logger
	out        io.Writer
	pool       *pool
	collector  *stats.Collector
	totals     *stats.Totals
	csv        *csvFiles   // nil without CSVPrefix
	html       *htmlReport // nil without HTMLFile
	exceptions exceptionLog
	stopRun    func()       // ends the run
	exporter   *exporter    // nil without Prometheus
	state      atomic.Value // string: spawning, running, stopped (for Prometheus)
	hooks      *testHooks
	messages   *messageQueue
	open       *openModel    // nil: the closed model
	arrivals   *stats.Totals // the open model's rows; nil without open
}

// start checks the classes and options and makes the run's pool and CSV
// files.
func (s *Standalone) start() (_ *standaloneRun, err error) {
	classes, err := validateClasses(s.Classes)
	if err != nil {
		return nil, err
	}
	if err := s.checkLoadModel(); err != nil {
		return nil, err
	}
	httpOpts, err := s.HTTP.resolved()
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	r := &standaloneRun{Standalone: s, logger: s.Logger, out: s.Output, collector: stats.NewCollector(), totals: stats.NewTotals()}
	defer func() {
		if err != nil {
			r.exporter.close() // a later step failed: stop serving
		}
	}()
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if r.out == nil {
		r.out = os.Stdout
	}
	r.collector.SetLogger(r.logger)
	raiseFileLimit(r.logger)
	r.pool = newPool(classes, r.collector, r.logger, r.exceptions.add)
	r.pool.setHTTP(httpOpts)
	if err := r.setHooks(); err != nil {
		return nil, err
	}
	warnFileLimit(r.logger, r.pool.ownConnectionUsers(classCounts(s.Classes, max(s.Users, 1))))
	r.pool.configure(s.Host, s.StopTimeout, tagFilter{include: s.Tags, exclude: s.ExcludeTags})
	if s.HTMLFile != "" {
		if r.html, err = newHTMLReport(s.HTMLFile, time.Now()); err != nil {
			return nil, err
		}
	}
	if s.CSVPrefix != "" {
		if r.csv, err = createCSVFiles(s.CSVPrefix, s.CSVFullHistory); err != nil {
			return nil, &optionError{err}
		}
	}
	return r, nil
}

// loop prints the live table and writes the CSV files until ctx ends the
// run, and returns the users per class the ramp reached.
func (r *standaloneRun) loop(ctx context.Context, rampDone <-chan map[string]int64) map[string]int64 {
	printTicker := time.NewTicker(orDefault(r.PrintInterval, 2*time.Second))
	defer printTicker.Stop()
	var csvTick <-chan time.Time // nil: never ready
	if r.csv != nil || r.html != nil {
		t := time.NewTicker(orDefault(r.CSVInterval, time.Second))
		defer t.Stop()
		csvTick = t.C
	}
	var spawned map[string]int64
	for {
		select {
		case <-ctx.Done():
			if rampDone != nil {
				select {
				case spawned = <-rampDone:
				case <-time.After(stopGrace):
					r.logger.Warn("the ramp or the shape did not return after the test ended; going on without it", "waited", stopGrace)
				}
			}
			return spawned
		case spawned = <-rampDone:
			rampDone = nil
			r.state.Store(stateRunning)
			r.rampFinished()
			if r.ResetStats && ctx.Err() == nil && !r.shaped() { // not when the ramp was cut short, nor at a shape's end
				r.resetStats(time.Now())
				r.logger.Info("resetting stats")
			}
		case now := <-printTicker.C:
			r.merge(now)
			if !r.OnlySummary {
				if err := stats.WriteStatsTable(r.out, r.totals, true); err != nil {
					r.logger.Warn("printing the live table", "err", err)
				}
				r.printArrivals(now)
				fmt.Fprintln(r.out)
			}
		case now := <-csvTick:
			r.merge(now)
			r.recordInterval(now)
		}
	}
}

// orDefault returns d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// finish stops the users, takes the last statistics, writes the CSV files
// and the summary, and returns the result.
func (r *standaloneRun) finish(start time.Time, spawned map[string]int64) *Result {
	r.logger.Info("stopping users", "stop_timeout", r.StopTimeout)
	r.pool.whenEmpty.Store(nil) // the end stops every user
	if r.open != nil {
		r.open.stop(time.Now()) // no iteration starts after the test's end
	}
	r.pool.stopAll(context.Background())
	r.pool.waitWithin(stopGrace) // stopping gave up on stuck users already
	r.hooks.stop(context.Background())
	r.messages.waitHandled(context.Background(), r.messages.mark(), stopGrace) // what users and hooks sent
	r.state.Store(stateStopped)
	end := time.Now()
	r.merge(end)
	res := &Result{Stats: r.totals, Duration: end.Sub(start), Exceptions: r.exceptions.list(), Users: spawned, Arrivals: r.arrivals}
	if r.open != nil {
		res.ArrivalCounts = r.open.counts(end)
	}
	if r.csv != nil {
		if err := r.csv.write(r.totals, r.arrivals, res.Exceptions, 0, end); err != nil {
			r.logger.Error("writing the CSV files", "err", err)
			res.WriteErr = err
		}
	}
	res.WriteErr = errors.Join(res.WriteErr, r.writeHTML(res, start, end))
	if err := res.WriteSummary(r.out); err != nil {
		r.logger.Warn("printing the summary", "err", err)
	}
	r.lastScrape()
	return res
}

// ramp starts users in Locust's order at the spawn rate, as Locust's
// dispatcher does: batches of max(1, floor(rate)) users, the k-th batch
// k*batch/rate seconds after the start (so the last user starts about
// one batch interval before users/rate seconds). It returns the users per
// class it reached.
func (s *Standalone) ramp(ctx context.Context, p *pool, users int, logger *slog.Logger) map[string]int64 {
	next := userSequence(s.Classes)
	counts := classCounts(s.Classes, 0)
	batch, every := users, time.Duration(0)
	if s.SpawnRate > 0 {
		batch = max(1, int(math.Floor(s.SpawnRate)))
		every = time.Duration(float64(batch) / s.SpawnRate * float64(time.Second))
	}
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k, started := 0, 0; started < users; k++ {
		select {
		case <-ctx.Done():
			return counts
		case <-timer.C:
		}
		inStep := 0
		for i := 0; i < batch && started < users; i++ {
			c := next()
			if c == nil {
				logger.Warn("no user class can take more users", "started", started)
				return counts
			}
			counts[c.name]++
			started++
			inStep++
		}
		// The step's users start spread over the step: a whole batch over
		// the batch interval, a last partial one over its share of it.
		p.setTargetOver(ctx, counts, every*time.Duration(inStep)/time.Duration(batch))
		if s.OnUsers != nil {
			s.OnUsers(p.counts())
		}
		if started == users {
			logger.Info("all users spawned", "users", counts)
			return counts
		}
		timer.Reset(time.Until(start.Add(time.Duration(k+1) * every)))
	}
	return counts
}
