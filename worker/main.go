package worker

// This file owns the program's way in from the command line: Main,
// RunCommand, the exit codes, the signals, and running what the command
// line says as a worker or standalone. flags.go reads the command line;
// thresholds.go judges the result.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/golocust/golocust/stats"
)

// Exit codes of [Main] and [RunCommand].
const (
	// ExitOK: the test ran, no request failed and every threshold held.
	ExitOK = 0
	// ExitFailure: the test could not run, a report (--json, --csv,
	// --html) could not be written at its end, or a second signal ended
	// it at once. It is also the default of --exit-code-on-error.
	ExitFailure = 1
	// ExitUsage: a bad flag, value or environment variable, including a
	// value found bad only when the run starts: an --html or --csv file
	// that cannot be created, a --prometheus or --pprof address that
	// cannot be listened on.
	ExitUsage = 2
	// ExitThreshold: at least one --threshold was broken. It takes
	// precedence over --exit-code-on-error (a report that could not be
	// written at the end, ExitFailure, takes precedence over it).
	ExitThreshold = 3
)

// Main is a whole user program's main function: it reads the command line
// (Locust's flags; -h lists them), LOCUST_* environment variables and
// configuration files (--config FILE, ~/.locust.conf, ./locust.conf),
// runs as a worker of a Locust master when --master-host or --worker is
// given and standalone otherwise, and exits with the code [RunCommand]
// returns. The first SIGINT or SIGTERM stops the test gracefully (the
// stop timeout, then OnStop); a second one exits at once with
// [ExitFailure].
func Main(classes ...*UserClass) {
	ctx, stop := SignalContext(context.Background(), os.Stderr)
	defer stop()
	code := RunCommand(ctx, os.Args[1:], os.Stdout, os.Stderr, classes...)
	stop()
	os.Exit(code)
}

// RunCommand runs the program the way [Main] does, with the arguments
// (without the program name), output streams and context given, and
// returns the exit code: [ExitOK]; --exit-code-on-error (default
// [ExitFailure]) when a request failed or user code raised an exception;
// [ExitThreshold] when a threshold was broken; [ExitUsage] for a bad
// flag or value; [ExitFailure] when the test could not run or a report
// could not be written at its end (this one wins). -h prints the options
// and returns ExitOK. Cancelling ctx stops the test gracefully; nil
// writers mean os.Stdout and os.Stderr.
//
// It is for programs that do more than [Main]: that serve something
// while the test runs, run a test from a test, or have defaults of their
// own, which go before the command line's arguments so that these
// override them (and -h shows them as the defaults; being on the
// command line, they also win over LOCUST_* variables and configuration
// files):
//
//	args := append([]string{"-u", "20", "-r", "10", "-t", "10s"}, os.Args[1:]...)
//	ctx, stop := worker.SignalContext(context.Background(), os.Stderr)
//	code := worker.RunCommand(ctx, args, os.Stdout, os.Stderr, classes...)
//	stop()
//	os.Exit(code)
func RunCommand(ctx context.Context, args []string, stdout, stderr io.Writer, classes ...*UserClass) int {
	return (&command{classes: classes, stdout: stdout, stderr: stderr}).run(ctx, args)
}

// SignalContext returns a context that is cancelled at the first SIGINT or
// SIGTERM, for a graceful stop; at the second the process exits at once
// with [ExitFailure]. A note on each goes to w. Calling stop releases the
// signals.
func SignalContext(parent context.Context, w io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-signals:
		case <-done:
			return
		}
		fmt.Fprintln(w, "stopping gracefully; signal again to exit at once")
		cancel()
		select {
		case <-signals:
		case <-done:
			return
		}
		fmt.Fprintln(w, "exiting at once")
		os.Exit(ExitFailure)
	}()
	var once bool
	return ctx, func() {
		if once {
			return
		}
		once = true
		signal.Stop(signals)
		close(done)
		cancel()
	}
}

// command is one run of the program from a command line.
type command struct {
	classes []*UserClass
	// name is the program name in help and errors; "" means the base
	// name of os.Args[0].
	name string
	// stdout receives the tables, the summary and --json; stderr logs,
	// errors and help text. nil means os.Stdout and os.Stderr.
	stdout, stderr io.Writer
	// getenv reads environment variables; nil means os.Getenv.
	getenv func(string) string
	// configDefaults returns the configuration files read when they
	// exist, before --config's; nil means defaultConfigFiles
	// (~/.locust.conf and ./locust.conf, as Locust 2.12.1).
	configDefaults func(getenv func(string) string) []string
}

func (c *command) out() io.Writer {
	if c.stdout != nil {
		return c.stdout
	}
	return os.Stdout
}

func (c *command) errOut() io.Writer {
	if c.stderr != nil {
		return c.stderr
	}
	return os.Stderr
}

func (c *command) programName() string {
	if c.name != "" {
		return c.name
	}
	return filepath.Base(os.Args[0])
}

// usageError reports a bad option on stderr and returns [ExitUsage].
func (c *command) usageError(err error) int {
	fmt.Fprintf(c.errOut(), "%s: error: %v\n", c.programName(), err)
	return ExitUsage
}

// optionError is a bad option value that a run finds only when it
// starts: an --html or --csv file it cannot create, a --prometheus
// address it cannot listen on. The command exits with [ExitUsage] for it.
type optionError struct{ err error }

func (e *optionError) Error() string { return e.err.Error() }
func (e *optionError) Unwrap() error { return e.err }

// badOption reports whether err, from a run that could not start, is a
// bad option value (an *optionError).
func badOption(err error) bool {
	var opt *optionError
	return errors.As(err, &opt)
}

// run parses args and the LOCUST_* variables, runs the test, and returns
// the exit code, as RunCommand documents.
func (c *command) run(ctx context.Context, args []string) int {
	getenv := c.getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	defaults := c.configDefaults
	if defaults == nil {
		defaults = defaultConfigFiles
	}
	cfg, err := parseSources(args, getenv, defaults(getenv), c.classes...)
	if errors.Is(err, flag.ErrHelp) {
		writeUsage(c.out(), c.programName(), args, c.classes)
		return ExitOK
	}
	if err != nil {
		return c.usageError(fmt.Errorf("%w (see -h)", err))
	}
	return c.execute(ctx, cfg)
}

// execute runs a parsed configuration and returns the exit code.
func (c *command) execute(ctx context.Context, cfg config) int {
	logger, closeLog, err := cfg.logger(c.errOut())
	if err != nil {
		return c.usageError(err)
	}
	defer closeLog()
	for _, w := range cfg.warnings {
		logger.Warn(w)
	}
	httpOpts, err := cfg.httpOptions()
	if err != nil {
		return c.usageError(err)
	}
	if cfg.Pprof != "" {
		p, err := startPprof(cfg.Pprof)
		if err != nil {
			return c.usageError(err)
		}
		defer p.Close()
		logger.Info("serving Go's profiles", "url", p.URL())
	}
	if cfg.MasterHost != "" || cfg.Worker {
		return c.runWorker(ctx, cfg, logger, httpOpts)
	}
	return c.runStandalone(ctx, cfg, logger, httpOpts)
}

// logger returns the logger -L and --logfile ask for (stderr unless
// --logfile) and what closes its file.
func (cfg *config) logger(stderr io.Writer) (*slog.Logger, func(), error) {
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return nil, nil, err
	}
	out, closeLog := stderr, func() {}
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("--logfile: %w", err)
		}
		out, closeLog = f, func() { f.Close() }
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level})), closeLog, nil
}

// runWorker serves a master until it says quit or ctx is cancelled.
func (c *command) runWorker(ctx context.Context, cfg config, logger *slog.Logger, httpOpts HTTPOptions) int {
	if cfg.CSVPrefix != "" || cfg.JSON || len(cfg.Thresholds) > 0 || cfg.HTMLFile != "" {
		logger.Warn("--csv, --json, --html and --threshold apply to standalone runs; as a worker, the master writes the reports")
	}
	w := &Worker{MasterHost: cfg.MasterHost, MasterPort: cfg.MasterPort, Host: cfg.Host, Classes: c.classes, Logger: logger, HTTP: httpOpts, MaxRPS: cfg.MaxRPS, Prometheus: cfg.Prometheus}
	if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		if badOption(err) {
			return c.usageError(err)
		}
		logger.Error("worker failed", "err", err)
		return ExitFailure
	}
	return ExitOK
}

// runStandalone runs the test without a master, writes the reports the
// configuration asks for, and returns the exit code.
func (c *command) runStandalone(ctx context.Context, cfg config, logger *slog.Logger, httpOpts HTTPOptions) int {
	// With --json, stdout carries the JSON only; the tables go to stderr.
	tables := c.out()
	if cfg.JSON {
		tables = c.errOut()
	}
	s := &Standalone{
		Host: cfg.Host, Users: cfg.Users, SpawnRate: cfg.SpawnRate, RunTime: cfg.RunTime,
		StopTimeout: cfg.StopTimeout, Tags: cfg.Tags, ExcludeTags: cfg.ExcludeTags,
		Classes: c.classes, Logger: logger, Output: tables, OnlySummary: cfg.OnlySummary,
		CSVPrefix: cfg.CSVPrefix, CSVFullHistory: cfg.CSVFullHistory, ResetStats: cfg.ResetStats, HTTP: httpOpts,
		MaxRPS: cfg.MaxRPS, ArrivalRate: cfg.ArrivalRate, Iterations: cfg.Iterations, Stages: cfg.Stages,
		Prometheus: cfg.Prometheus, HTMLFile: cfg.HTMLFile,
	}
	if cfg.spawnAtOnce() {
		s.SpawnRate = 0
	}
	res, err := s.Run(ctx)
	if err != nil && badOption(err) {
		return c.usageError(err)
	}
	if err != nil {
		logger.Error("test could not run", "err", err)
		return ExitFailure
	}
	if cfg.JSON {
		if err := res.WriteJSON(c.out()); err != nil {
			logger.Error("writing --json", "err", err)
			return ExitFailure
		}
	}
	code := ExitOK
	cut := cutShort(res.Stats)
	if cut > 0 {
		logger.Info("requests were cut short when the test ended; they are failures in the tables but do not set the exit code",
			"requests", cut, "hint", "-s/--stop-timeout lets them finish")
	}
	if res.Stats.Total().NumFailures > cut || len(res.Exceptions) > 0 {
		code = cfg.ExitCodeOnError
	}
	if !printVerdicts(tables, checkThresholds(res.Stats, cfg.Thresholds)) {
		code = ExitThreshold
	}
	if res.WriteErr != nil { // logged by the run
		code = ExitFailure
	}
	logger.Info("shutting down", "exit_code", code)
	return code
}

// cutShort counts the failures that are requests cancelled because their
// user was stopping: with a stop timeout of 0 the end of every test cuts
// some short, which says nothing about the system under test.
func cutShort(t *stats.Totals) int64 {
	var n int64
	for _, e := range t.Errors() {
		if strings.HasPrefix(e.Text, kindRequestCancelled+"(") {
			n += e.Occurrences
		}
	}
	return n
}
