package worker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exit codes of [RunCommand].
const (
	ExitOK      = 0 // the test ran and nothing failed
	ExitFailure = 1 // requests failed, or the worker could not run
	ExitUsage   = 2 // a bad flag or value
)

// Main is a whole user program's main function: it reads the command line
// and LOCUST_* environment variables, runs as a worker of a Locust master
// when --master-host or --worker is given and standalone otherwise, and
// exits. The first SIGINT or SIGTERM stops the test gracefully; a second
// one exits at once.
func Main(classes ...*UserClass) {
	ctx, stop := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-signals
		fmt.Fprintln(os.Stderr, "stopping gracefully; signal again to exit at once")
		stop()
		<-signals
		fmt.Fprintln(os.Stderr, "exiting at once")
		os.Exit(ExitFailure)
	}()
	os.Exit(RunCommand(ctx, os.Args[1:], os.Stdout, os.Stderr, classes...))
}

// config is what the command line says.
type config struct {
	users       int
	spawnRate   float64
	runTime     time.Duration
	host        string
	masterHost  string
	masterPort  int
	worker      bool
	tags        string
	excludeTags string
	stopTimeout time.Duration
	logLevel    string
	onlySummary bool
}

// RunCommand runs the program the way [Main] does, with the arguments,
// output streams and context given, and returns the exit code.
func RunCommand(ctx context.Context, args []string, stdout, stderr io.Writer, classes ...*UserClass) int {
	cfg, err := parseArgs(args, os.Getenv, stderr, classOptions(classes))
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return ExitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		fmt.Fprintf(stderr, "error: -L/--loglevel %q: want DEBUG, INFO, WARNING or ERROR\n", cfg.logLevel)
		return ExitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if cfg.masterHost != "" || cfg.worker {
		w := &Worker{MasterHost: cfg.masterHost, MasterPort: cfg.masterPort, Host: cfg.host, Classes: classes, Logger: logger}
		if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("worker failed", "err", err)
			return ExitFailure
		}
		return ExitOK
	}
	s := &Standalone{
		Host: cfg.host, Users: cfg.users, SpawnRate: cfg.spawnRate, RunTime: cfg.runTime,
		StopTimeout: cfg.stopTimeout, Tags: splitList(cfg.tags), ExcludeTags: splitList(cfg.excludeTags),
		Classes: classes, Logger: logger, Output: stdout, OnlySummary: cfg.onlySummary,
	}
	res, err := s.Run(ctx)
	if err != nil {
		logger.Error("test could not run", "err", err)
		return ExitFailure
	}
	if res.Stats.Total().NumFailures > 0 {
		return ExitFailure
	}
	return ExitOK
}

// parseArgs reads flags, falling back to LOCUST_* environment variables
// (read through getenv) for flags not given.
func parseArgs(args []string, getenv func(string) string, stderr io.Writer, custom []option) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("golocust", flag.ContinueOnError)
	fs.SetOutput(stderr)
	type spec struct {
		short, long, env, usage string
		value                   flag.Value
	}
	specs := []spec{
		{"u", "users", "LOCUST_USERS", "peak number of concurrent users (standalone)", intValue{&cfg.users}},
		{"r", "spawn-rate", "LOCUST_SPAWN_RATE", "users started per second (standalone)", floatValue{&cfg.spawnRate}},
		{"t", "run-time", "LOCUST_RUN_TIME", "stop after this long, e.g. 30s, 5m, 1h30m (standalone)", durationValue{&cfg.runTime}},
		{"H", "host", "LOCUST_HOST", "target base URL, e.g. http://127.0.0.1:8080", stringValue{&cfg.host}},
		{"", "master-host", "LOCUST_MASTER_NODE_HOST", "run as a worker of the Locust master on this host", stringValue{&cfg.masterHost}},
		{"", "master-port", "LOCUST_MASTER_NODE_PORT", "the Locust master's port", intValue{&cfg.masterPort}},
		{"", "worker", "LOCUST_MODE_WORKER", "run as a worker (of the master at 127.0.0.1 unless --master-host)", boolValue{&cfg.worker}},
		{"T", "tags", "LOCUST_TAGS", "comma-separated tags: run only tasks with one of them", stringValue{&cfg.tags}},
		{"E", "exclude-tags", "LOCUST_EXCLUDE_TAGS", "comma-separated tags: skip tasks with any of them", stringValue{&cfg.excludeTags}},
		{"s", "stop-timeout", "LOCUST_STOP_TIMEOUT", "how long users may finish their task when stopping, e.g. 10s", durationValue{&cfg.stopTimeout}},
		{"L", "loglevel", "LOCUST_LOGLEVEL", "DEBUG, INFO, WARNING or ERROR", stringValue{&cfg.logLevel}},
		{"", "only-summary", "LOCUST_ONLY_SUMMARY", "print only the final summary, not the live table", boolValue{&cfg.onlySummary}},
	}
	cfg.masterPort = 5557
	cfg.logLevel = "INFO"
	cfg.users = 1
	cfg.spawnRate = 1
	for _, s := range specs {
		fs.Var(s.value, s.long, s.usage)
		if s.short != "" {
			fs.Var(s.value, s.short, "short for --"+s.long)
		}
	}
	for _, o := range custom {
		fs.Var(o, o.optionName(), o.optionUsage())
		specs = append(specs, spec{long: o.optionName(), env: "LOCUST_" + strings.ToUpper(o.key()), value: o})
	}
	for _, s := range specs {
		if v := getenv(s.env); v != "" {
			if err := s.value.Set(v); err != nil {
				return cfg, fmt.Errorf("%s=%q: %w", s.env, v, err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case cfg.users < 0:
		return cfg, fmt.Errorf("-u/--users must not be negative")
	case cfg.spawnRate < 0:
		return cfg, fmt.Errorf("-r/--spawn-rate must not be negative")
	case cfg.masterPort < 1 || cfg.masterPort > 65535:
		return cfg, fmt.Errorf("--master-port %d out of range 1-65535", cfg.masterPort)
	}
	if cfg.logLevel == "WARNING" {
		cfg.logLevel = "WARN"
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parseRunTime reads a duration the way Locust's --run-time does: 90, 90s,
// 5m, 1h30m.
func parseRunTime(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 30s, 5m or 1h30m", s)
	}
	return d, nil
}

type intValue struct{ p *int }

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}
func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v.p = n
	return nil
}

type floatValue struct{ p *float64 }

func (v floatValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}
func (v floatValue) Set(s string) error {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*v.p = n
	return nil
}

type durationValue struct{ p *time.Duration }

func (v durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}
func (v durationValue) Set(s string) error {
	d, err := parseRunTime(s)
	if err != nil {
		return err
	}
	*v.p = d
	return nil
}

type stringValue struct{ p *string }

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v stringValue) Set(s string) error { *v.p = s; return nil }

type boolValue struct{ p *bool }

func (v boolValue) String() string   { return strconv.FormatBool(v.p != nil && *v.p) }
func (v boolValue) IsBoolFlag() bool { return true }
func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*v.p = b
	return nil
}
