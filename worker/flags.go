package worker

// This file owns the command line: the options, their LOCUST_*
// variables, parsing them with the configuration files into a config
// (parseArgs, parseSources) and the help text (WriteUsage). main.go runs
// what they say; custom options come from options.go, the files are
// read by configfile.go. Its errors are one line each, quoting at most
// maxQuoted bytes of a value (clipText, oneLine).

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// config is what the command line and the LOCUST_* environment variables
// say. parseArgs fills it in; command.execute runs it.
type config struct {
	// Users is -u/--users, the peak number of users (standalone).
	Users int
	// SpawnRate is -r/--spawn-rate, users started per second.
	SpawnRate float64
	// RunTime is -t/--run-time; 0 runs until stopped.
	RunTime time.Duration
	// Host is -H/--host, the target base URL.
	Host string
	// MasterHost is --master-host; set, the program runs as a worker.
	MasterHost string
	// MasterPort is --master-port.
	MasterPort int
	// Worker is --worker: run as a worker even without --master-host.
	Worker bool
	// Tags and ExcludeTags are -T/--tags and -E/--exclude-tags.
	Tags, ExcludeTags []string
	// StopTimeout is -s/--stop-timeout.
	StopTimeout time.Duration
	// CSVPrefix is --csv: write PREFIX_stats.csv and its siblings.
	CSVPrefix string
	// CSVFullHistory is --csv-full-history.
	CSVFullHistory bool
	// JSON is --json: print the final statistics as JSON on stdout.
	JSON bool
	// OnlySummary is --only-summary: no live table.
	OnlySummary bool
	// ResetStats is --reset-stats: forget what was measured while users
	// were still being started.
	ResetStats bool
	// ExitCodeOnError is --exit-code-on-error, the exit code when a
	// request failed or user code raised.
	ExitCodeOnError int
	// LogLevel is -L/--loglevel: DEBUG, INFO, WARNING or ERROR.
	LogLevel string
	// LogFile is --logfile; "" logs to stderr.
	LogFile string
	// Thresholds are the --threshold criteria.
	Thresholds []threshold
	// Insecure is --insecure: do not verify the target's TLS certificate.
	Insecure bool
	// CAFiles is --ca-file: PEM files of the CAs to trust instead of the
	// system's.
	CAFiles []string
	// ClientCert and ClientKey are --client-cert and --client-key: PEM
	// files of a client certificate and its key.
	ClientCert, ClientKey string
	// ConnectionPerUser is --connection-per-user: each user has its own
	// HTTP connections instead of the shared keep-alive pool.
	ConnectionPerUser bool
	// MaxRPS is --max-rps: a cap on task iterations per second.
	MaxRPS float64
	// ArrivalRate is --arrival-rate: the open model's iterations per
	// second (standalone).
	ArrivalRate float64
	// Iterations is --iterations: end after this many task iterations
	// (standalone).
	Iterations int64
	// Stages is --stages: linear ramps of users or of the arrival rate
	// (standalone).
	Stages Stages
	// ConfigFile is --config: a configuration file read under the
	// environment and the command line.
	ConfigFile string
	// HTMLFile is --html: write the run's report to FILE at the end.
	HTMLFile string
	// Prometheus is --prometheus: the address of a /metrics endpoint; ""
	// for none.
	Prometheus string
	// Pprof is --pprof: the address to serve Go's profiles on; "" for
	// none.
	Pprof string

	// given holds the long names of the options the command line, the
	// environment or a configuration file set.
	given map[string]bool
	// warnings are what the configuration files hold that golocust
	// ignores (Locust's options it has no use for), one line each, for
	// the log.
	warnings []string
}

// httpOptions returns the HTTP options the configuration asks for, the
// TLS files it names read, so that a file that cannot be read is a bad
// option.
func (cfg *config) httpOptions() (HTTPOptions, error) {
	return HTTPOptions{
		Insecure: cfg.Insecure, CAFiles: cfg.CAFiles, CertFile: cfg.ClientCert, KeyFile: cfg.ClientKey,
		ConnectionPerUser: cfg.ConnectionPerUser,
	}.resolved()
}

// flagSpec is one option of the command line.
type flagSpec struct {
	short, long, env, meta, usage, group string
	value                                flag.Value
}

// flagGroups returns the groups of the help text, in order.
func flagGroups() []string {
	return []string{"Common options", "Load model options", "HTTP options", "Worker options", "Tag options", "Request statistics options", "Logging options", "Other options", "Custom options"}
}

func (cfg *config) specs(custom []option) []flagSpec {
	specs := []flagSpec{
		{"u", "users", "LOCUST_USERS", "N", "peak number of concurrent users", "Common options", intValue{&cfg.Users}},
		{"r", "spawn-rate", "LOCUST_SPAWN_RATE", "RATE", "users started per second, 1e-06 to 1e+09", "Common options", floatValue{&cfg.SpawnRate}},
		{"t", "run-time", "LOCUST_RUN_TIME", "TIME", "stop after this long, e.g. 300s, 20m, 1h30m; 0 runs until stopped", "Common options", durationValue{&cfg.RunTime}},
		{"H", "host", "LOCUST_HOST", "URL", "target base URL, e.g. http://10.21.32.33", "Common options", stringValue{&cfg.Host}},
		{"", "insecure", "LOCUST_INSECURE", "", "do not verify the target's TLS certificate (by default it is verified against the system's CAs)", "HTTP options", boolValue{&cfg.Insecure}},
		{"", "ca-file", "LOCUST_CA_FILE", "FILE,...", "trust the CAs in these PEM files instead of the system's", "HTTP options", listValue{&cfg.CAFiles}},
		{"", "client-cert", "LOCUST_CLIENT_CERT", "FILE", "present this PEM client certificate (its key in the same file unless --client-key)", "HTTP options", stringValue{&cfg.ClientCert}},
		{"", "client-key", "LOCUST_CLIENT_KEY", "FILE", "the PEM key of --client-cert", "HTTP options", stringValue{&cfg.ClientKey}},
		{"", "connection-per-user", "LOCUST_CONNECTION_PER_USER", "", "give each user HTTP connections of its own, as Python Locust users have, instead of the keep-alive connections all users share (for tests of a server's connection limits)", "HTTP options", boolValue{&cfg.ConnectionPerUser}},
		{"", "worker", "LOCUST_MODE_WORKER", "", "run as a worker of a Locust master (at 127.0.0.1 unless --master-host)", "Worker options", boolValue{&cfg.Worker}},
		{"", "master-host", "LOCUST_MASTER_NODE_HOST", "HOST", "run as a worker of the Locust master on this host", "Worker options", stringValue{&cfg.MasterHost}},
		{"", "master-port", "LOCUST_MASTER_NODE_PORT", "PORT", "the Locust master's port", "Worker options", intValue{&cfg.MasterPort}},
		{"T", "tags", "LOCUST_TAGS", "TAG,...", "run only tasks with one of these tags", "Tag options", listValue{&cfg.Tags}},
		{"E", "exclude-tags", "LOCUST_EXCLUDE_TAGS", "TAG,...", "skip tasks with any of these tags", "Tag options", listValue{&cfg.ExcludeTags}},
		{"", "csv", "LOCUST_CSV", "PREFIX", "write PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv and PREFIX_exceptions.csv", "Request statistics options", stringValue{&cfg.CSVPrefix}},
		{"", "csv-full-history", "LOCUST_CSV_FULL_HISTORY", "", "write every row, not only Aggregated, to PREFIX_stats_history.csv (needs --csv)", "Request statistics options", boolValue{&cfg.CSVFullHistory}},
		{"", "json", "LOCUST_JSON", "", "print the final statistics as JSON on stdout, as Locust's --json (tables go to stderr)", "Request statistics options", boolValue{&cfg.JSON}},
		{"", "only-summary", "LOCUST_ONLY_SUMMARY", "", "print only the final summary, not the live table", "Request statistics options", boolValue{&cfg.OnlySummary}},
		{"", "reset-stats", "LOCUST_RESET_STATS", "", "reset the statistics once all users are started", "Request statistics options", boolValue{&cfg.ResetStats}},
		{"", "threshold", "LOCUST_THRESHOLD", "[ROW:]METRIC<VALUE", "fail the run (exit code 3) unless METRIC (pNN, median, avg, min, max, fail_ratio, rps, requests, failures) meets it, e.g. p95<300ms, fail_ratio<1%, rps>=100, /cart:max<2s; repeatable (in the variable, separate with ;)", "Request statistics options", thresholdsValue{&cfg.Thresholds}},
		{"L", "loglevel", "LOCUST_LOGLEVEL", "LEVEL", "DEBUG, INFO, WARNING or ERROR", "Logging options", stringValue{&cfg.LogLevel}},
		{"", "logfile", "LOCUST_LOGFILE", "FILE", "write the log to FILE instead of stderr", "Logging options", stringValue{&cfg.LogFile}},
		{"", "max-rps", "LOCUST_MAX_RPS", "RATE", "cap task iterations per second over all users (per worker as a worker; a master's --max-rps, declared in its locustfile, wins)", "Load model options", floatValue{&cfg.MaxRPS}},
		{"", "arrival-rate", "LOCUST_ARRIVAL_RATE", "RATE", "open model: start task iterations RATE times a second whatever the response times; -u users are the pool that runs them (started at once unless -r); an iteration with no free user within 10s is dropped and counted", "Load model options", floatValue{&cfg.ArrivalRate}},
		{"", "iterations", "LOCUST_ITERATIONS", "N", "end the test after N task iterations over all users", "Load model options", int64Value{&cfg.Iterations}},
		{"", "stages", "LOCUST_STAGES", "DURATION:TARGET,...", "ramp linearly to TARGET users (with --arrival-rate: iterations per second) over DURATION, then the next stage; the test ends after the last, e.g. 30s:100,1m:100,30s:0", "Load model options", stagesValue{&cfg.Stages}},
		{"s", "stop-timeout", "LOCUST_STOP_TIMEOUT", "TIME", "how long users may finish their task when stopping, e.g. 10s; 0 stops them at once", "Other options", durationValue{&cfg.StopTimeout}},
		{"", "exit-code-on-error", "LOCUST_EXIT_CODE_ON_ERROR", "CODE", "exit code when a request failed or user code raised an error", "Other options", intValue{&cfg.ExitCodeOnError}},
		{"", "config", "LOCUST_CONFIG", "FILE", "read options from FILE, as Locust does: key = value lines like locust.conf, or the [tool.locust] table of a .toml file such as pyproject.toml; ~/.locust.conf and ./locust.conf are read first when they exist; the environment and the command line win; each file must be a regular file of at most 1 MiB", "Other options", stringValue{&cfg.ConfigFile}},
		{"", "html", "LOCUST_HTML", "FILE", "write an HTML report of the run (tables and charts over time) to FILE at the end, as Locust's --html", "Request statistics options", stringValue{&cfg.HTMLFile}},
		{"", "prometheus", "LOCUST_PROMETHEUS", "ADDR", "serve Prometheus metrics at http://ADDR/metrics, e.g. 0.0.0.0:9646: requests, failures and response times by method and name, users by class, state", "Request statistics options", stringValue{&cfg.Prometheus}},
		{"", "pprof", "LOCUST_PPROF", "ADDR", "serve Go's profiles (in net/http/pprof's layout) at http://ADDR/debug/pprof/, e.g. 127.0.0.1:6060 (port 0 picks one; the log says which)", "Other options", stringValue{&cfg.Pprof}},
	}
	for _, o := range custom {
		meta := "VALUE"
		if b, ok := o.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			meta = ""
		}
		specs = append(specs, flagSpec{long: o.optionName(), env: "LOCUST_" + strings.ToUpper(o.key()), meta: meta, usage: o.optionUsage(), group: "Custom options", value: o})
	}
	return specs
}

// defaultConfig returns the configuration of an empty command line:
// Locust's defaults (one user, one per second, master port 5557, exit
// code 1 on error, log level INFO).
func defaultConfig() config {
	return config{Users: 1, SpawnRate: 1, MasterPort: 5557, ExitCodeOnError: 1, LogLevel: "INFO"}
}

// parseArgs reads a command line (without the program name), falling back
// to the LOCUST_* environment variables (read through getenv) and then to
// the file of --config or LOCUST_CONFIG for options not on it. It also
// sets the custom options of classes; an option no class attached is an
// unknown option. It returns an error wrapping flag.ErrHelp for -h or
// --help. It reads no default file: parseSources does.
func parseArgs(args []string, getenv func(string) string, classes ...*UserClass) (config, error) {
	return parseSources(args, getenv, nil, classes...)
}

// parseSources is parseArgs that also reads the default configuration
// files among defaults that exist, lowest precedence first. The sources
// rank as Locust's (ConfigArgParse's): defaults < file of --config <
// environment < command line; an option one source sets is not taken
// from a lower one, and thresholds, which add up within one source, are
// replaced as a whole by a higher source that gives any. An error's text
// is one line (oneLine), however long the value it quotes.
func parseSources(args []string, getenv func(string) string, defaults []string, classes ...*UserClass) (config, error) {
	cfg, err := parseAll(args, getenv, defaults, classes)
	return cfg, oneLine(err)
}

// parseAll is parseSources without cutting its errors to one line.
func parseAll(args []string, getenv func(string) string, defaults []string, classes []*UserClass) (config, error) {
	cfg := defaultConfig()
	specs := cfg.specs(classOptions(classes))
	fs, err := newFlagSet(specs)
	if err != nil {
		return cfg, err
	}
	cfg.given = map[string]bool{}
	// The command line first, as ConfigArgParse does: it names the file,
	// and -h reads no file.
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, flagError(err)
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[longName(specs, f.Name)] = true })
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %s", quoteClipped(fs.Arg(0)))
	}
	if err := cfg.applyLower(specs, getenv, defaults, onCommandLine); err != nil {
		return cfg, err
	}
	for name := range onCommandLine {
		cfg.given[name] = true
	}
	return cfg, cfg.check()
}

// applyLower applies, under the command line (whose options are in
// skip), the configuration files and then the environment.
func (cfg *config) applyLower(specs []flagSpec, getenv func(string) string, defaults []string, skip map[string]bool) error {
	named, label := cfg.ConfigFile, "--config"
	if !skip["config"] {
		named, label = getenv("LOCUST_CONFIG"), "LOCUST_CONFIG"
	}
	files, err := readConfigFiles(defaults, expandHome(named, getenv), label)
	if err != nil {
		return err
	}
	for _, entries := range files {
		err := cfg.layer(func() error {
			warnings, err := cfg.applyConfigFile(entries, specs, skip)
			cfg.warnings = append(cfg.warnings, warnings...)
			return err
		})
		if err != nil {
			return err
		}
	}
	return cfg.layer(func() error { return applyEnv(specs, getenv, cfg.given, skip) })
}

// layer applies one source of options over those before it: thresholds,
// the one option that adds up, are replaced by a source that gives any.
func (cfg *config) layer(apply func() error) error {
	before := cfg.Thresholds
	cfg.Thresholds = nil
	err := apply()
	if cfg.Thresholds == nil {
		cfg.Thresholds = before
	}
	return err
}

// hostError says what is wrong with a -H/--host that is not an http(s)
// URL, and how to write it.
func hostError(host string) error {
	if !strings.Contains(host, "://") {
		return fmt.Errorf("-H/--host %s is not a URL: give its scheme, e.g. http://%s", quoteClipped(host), clipText(strings.TrimPrefix(host, "//")))
	}
	return fmt.Errorf("-H/--host %s is not an http or https URL with a host, e.g. http://localhost:8080", quoteClipped(host))
}

// newFlagSet returns a flag set of specs, long and short forms, that
// prints nothing. Two specs of one name (a custom option named like one
// of Locust's, or two options of one name) are an error naming it.
func newFlagSet(specs []flagSpec) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet("golocust", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, s := range specs {
		for _, name := range []string{s.long, s.short} {
			if name == "" {
				continue
			}
			if fs.Lookup(name) != nil {
				return nil, fmt.Errorf("option --%s is declared twice (a custom option must not share a name with another or with one of Locust's)", name)
			}
			fs.Var(s.value, name, s.usage)
		}
	}
	return fs, nil
}

// longName returns the long name of the option called name (long or
// short).
func longName(specs []flagSpec, name string) string {
	for _, s := range specs {
		if s.short == name {
			return s.long
		}
	}
	return name
}

// applyEnv sets the options whose LOCUST_* variable getenv returns,
// except those in skip, and marks them given.
func applyEnv(specs []flagSpec, getenv func(string) string, given, skip map[string]bool) error {
	for _, s := range specs {
		v := getenv(s.env)
		if v == "" || skip[s.long] {
			continue
		}
		given[s.long] = true
		if t, ok := s.value.(thresholdsValue); ok {
			if err := t.setList(v); err != nil {
				return fmt.Errorf("%s: %w", s.env, err)
			}
			continue
		}
		if err := s.value.Set(v); err != nil {
			return fmt.Errorf("%s=%s: %w", s.env, quoteClipped(v), err)
		}
	}
	return nil
}

// check reports the first value out of its range, or options that need
// another.
func (cfg *config) check() error {
	switch {
	case cfg.Users < 0:
		return errors.New("-u/--users must not be negative")
	case cfg.MasterHost == "" && !cfg.Worker && !validSpawnRate(cfg.SpawnRate):
		return fmt.Errorf("-r/--spawn-rate %v: want 0 (all at once) or from %g to %g users a second", cfg.SpawnRate, minSpawnRate, maxSpawnRate)
	case cfg.RunTime < 0:
		return errors.New("-t/--run-time must not be negative")
	case cfg.StopTimeout < 0:
		return errors.New("-s/--stop-timeout must not be negative")
	case cfg.MasterPort < 1 || cfg.MasterPort > 65535:
		return fmt.Errorf("--master-port %d out of range 1-65535", cfg.MasterPort)
	case cfg.CSVFullHistory && cfg.CSVPrefix == "":
		return errors.New("--csv-full-history requires --csv")
	case cfg.ExitCodeOnError < 0 || cfg.ExitCodeOnError > 255:
		return fmt.Errorf("--exit-code-on-error %d out of range 0-255", cfg.ExitCodeOnError)
	case checkBase(cfg.Host) != nil:
		return hostError(cfg.Host)
	case cfg.ClientKey != "" && cfg.ClientCert == "":
		return errors.New("--client-key requires --client-cert")
	}
	if err := cfg.checkLoadModel(); err != nil {
		return err
	}
	_, err := parseLevel(cfg.LogLevel)
	return err
}

// validSpawnRate reports whether r is 0 (every user at once) or within
// minSpawnRate and maxSpawnRate. A worker takes its pace from the master
// and ignores -r, so that a LOCUST_SPAWN_RATE shared with the master is
// not checked there.
func validSpawnRate(r float64) bool {
	return r == 0 || r >= minSpawnRate && r <= maxSpawnRate // NaN: false
}

// minSpawnRate and maxSpawnRate bound -r/--spawn-rate, as minArrivalRate
// and maxArrivalRate bound --arrival-rate: at the least a user in about
// 11.6 days, whose interval is far inside a time.Duration; NaN, infinite
// and negative rates are errors.
const (
	minSpawnRate = 1e-6
	maxSpawnRate = 1e9
)

// checkLoadModel checks the load model's options: rates and counts given
// must be positive, and some options exclude each other or a master.
func (cfg *config) checkLoadModel() error {
	positive := func(name string, v float64) error {
		if cfg.given[name] && !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("--%s %v must be a number more than 0", name, v)
		}
		return nil
	}
	if err := errors.Join(positive("max-rps", cfg.MaxRPS), positive("arrival-rate", cfg.ArrivalRate),
		positive("iterations", float64(cfg.Iterations))); err != nil {
		return err
	}
	switch {
	case cfg.ArrivalRate > 0 && (cfg.ArrivalRate < minArrivalRate || cfg.ArrivalRate > maxArrivalRate):
		return fmt.Errorf("--arrival-rate %v out of range %g-%g", cfg.ArrivalRate, minArrivalRate, maxArrivalRate)
	case cfg.MaxRPS > 0 && cfg.ArrivalRate > 0:
		return errors.New("--max-rps and --arrival-rate exclude each other: the arrival rate is the rate")
	case (cfg.MasterHost != "" || cfg.Worker) && (cfg.ArrivalRate > 0 || cfg.Iterations > 0 || cfg.Stages != nil):
		return errors.New("--arrival-rate, --iterations and --stages are for standalone runs: as a worker, the master's users (and its LoadTestShape) drive the load")
	}
	return nil
}

// spawnAtOnce reports whether the open model's pool starts at once: -r
// was not given with --arrival-rate (the pool is not the load).
func (cfg *config) spawnAtOnce() bool {
	return cfg.ArrivalRate > 0 && !cfg.given["spawn-rate"]
}

// parseLevel reads a Locust log level: DEBUG, INFO, WARNING, ERROR or
// CRITICAL, in any case; "" is INFO.
func parseLevel(s string) (slog.Level, error) {
	var level slog.Level
	name := strings.ToUpper(s)
	switch name {
	case "":
		return slog.LevelInfo, nil
	case "WARNING":
		name = "WARN"
	case "CRITICAL":
		name = "ERROR"
	}
	if err := level.UnmarshalText([]byte(name)); err != nil {
		return level, fmt.Errorf("-L/--loglevel %s: want DEBUG, INFO, WARNING or ERROR", quoteClipped(s))
	}
	return level, nil
}

// WriteUsage writes the help text [Main] prints for -h: every option, its
// short and long form together, its default and its environment
// variable, grouped like Locust's help, the custom options of classes
// last.
func WriteUsage(w io.Writer, name string, classes ...*UserClass) {
	writeUsage(w, name, nil, classes)
}

// writeUsage is WriteUsage showing as defaults the values that args, a
// command line up to its -h, sets: a program that puts defaults of its
// own before its command line shows them.
func writeUsage(w io.Writer, name string, args []string, classes []*UserClass) {
	cfg := defaultConfig()
	specs := cfg.specs(classOptions(classes))
	if fs, err := newFlagSet(specs); err == nil {
		fs.Parse(args) // stops at -h; errors show when the command runs
	}
	fmt.Fprintf(w, "Usage: %s [options]\n\n", name)
	fmt.Fprintln(w, "Runs the user classes standalone like `locust --headless`, or as a worker of a Locust")
	fmt.Fprintln(w, "master with --master-host. Every option may also come from the environment variable")
	fmt.Fprintln(w, "shown in brackets or from a configuration file (--config); the command line wins over")
	fmt.Fprintln(w, "the environment, which wins over the files.")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Exit codes: %d ok; --exit-code-on-error (default %d) when a request failed;\n", ExitOK, ExitFailure)
	fmt.Fprintf(w, "%d bad option; %d a --threshold was broken.\n", ExitUsage, ExitThreshold)
	for _, g := range flagGroups() {
		writeGroup(w, g, specs)
	}
	fmt.Fprintf(w, "\n  -h, --help                  show this help and exit\n")
}

// writeGroup writes the help lines of the options of group g, if any.
func writeGroup(w io.Writer, g string, specs []flagSpec) {
	var lines [][2]string
	for _, s := range specs {
		if s.group != g {
			continue
		}
		left := "    --" + s.long
		if s.short != "" {
			left = "-" + s.short + ", --" + s.long
		}
		if s.meta != "" {
			left += " " + s.meta
		}
		right := s.usage
		if def := s.value.String(); def != "" && def != "false" && def != "[]" && def != "0s" && def != "0" {
			right += " (default " + def + ")"
		}
		right += " [" + s.env + "]"
		lines = append(lines, [2]string{left, right})
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", g)
	for _, l := range lines {
		text := wrapWords(l[1], 70)
		if len(l[0]) > 26 {
			fmt.Fprintf(w, "  %s\n", l[0])
			l[0] = ""
		}
		for i, t := range text {
			if i > 0 {
				l[0] = ""
			}
			fmt.Fprintf(w, "  %-26s  %s\n", l[0], t)
		}
	}
}

// wrapWords splits s into lines of at most width bytes, at spaces.
func wrapWords(s string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > width:
			lines = append(lines, line)
			line = word
		default:
			line += " " + word
		}
	}
	return append(lines, line)
}

// flagError rewrites the flag package's errors in the command line's
// terms: "--name" for long options.
func flagError(err error) error {
	msg := err.Error()
	msg = strings.Replace(msg, "flag provided but not defined: ", "unknown option ", 1)
	msg = strings.Replace(msg, "flag needs an argument: ", "option needs a value: ", 1)
	if strings.HasPrefix(msg, "invalid ") {
		msg = strings.Replace(msg, " for flag ", " for ", 1)
		msg = strings.Replace(msg, "invalid boolean value ", "invalid value ", 1)
		msg = clipFlagValue(msg)
	}
	// "-name" -> "--name" for long options.
	fields := strings.SplitAfter(msg, " ")
	for i, f := range fields {
		name := strings.TrimRight(strings.TrimSpace(f), ":")
		if strings.HasPrefix(name, "-") && !strings.HasPrefix(name, "--") && len(name) > 2 {
			fields[i] = "-" + f
		}
	}
	return errors.New(strings.Join(fields, ""))
}

// clipFlagValue clips the value the flag package quotes whole in msg,
// "invalid value "VALUE" for -name: why".
func clipFlagValue(msg string) string {
	const prefix = "invalid value "
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return msg
	}
	value, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return msg
	}
	text, err := strconv.Unquote(value)
	if err != nil {
		return msg
	}
	return prefix + quoteClipped(text) + rest[len(value):]
}

// maxQuoted is the most bytes of a value or a line an error message
// quotes: a bad value in a file may be a megabyte long.
const maxQuoted = 80

// clipText returns s cut to maxQuoted bytes at a character's start, with
// an ellipsis when it was cut.
func clipText(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// quoteClipped returns s clipped (clipText) and quoted as Go quotes it.
func quoteClipped(s string) string { return strconv.Quote(clipText(s)) }

// maxErrorLine is the most bytes of an error message of an option, a
// variable or a file: one line, whatever text another package quoted
// into it.
const maxErrorLine = 512

// lineError is an error whose text is cut to one line of at most
// maxErrorLine bytes.
type lineError struct {
	text string
	err  error
}

func (e *lineError) Error() string { return e.text }
func (e *lineError) Unwrap() error { return e.err }

// oneLine returns err with its text made one line: control characters
// escaped, invalid UTF-8 replaced, and a text over maxErrorLine bytes cut
// in its middle, keeping where (its start) and why (its end).
func oneLine(err error) error {
	if err == nil {
		return nil
	}
	text := strings.ToValidUTF8(err.Error(), "\uFFFD")
	if strings.IndexFunc(text, unicode.IsControl) >= 0 {
		var b strings.Builder
		for _, r := range text {
			if unicode.IsControl(r) {
				q := strconv.QuoteRune(r)
				b.WriteString(q[1 : len(q)-1])
				continue
			}
			b.WriteRune(r)
		}
		text = b.String()
	}
	if len(text) > maxErrorLine {
		const mark = " … "
		head, tail := (maxErrorLine-len(mark))*3/4, (maxErrorLine-len(mark))/4
		for head > 0 && !utf8.RuneStart(text[head]) {
			head--
		}
		from := len(text) - tail
		for from < len(text) && !utf8.RuneStart(text[from]) {
			from++
		}
		text = text[:head] + mark + text[from:]
	}
	if text == err.Error() {
		return err
	}
	return &lineError{text: text, err: err}
}

// maxRunTime is the longest duration an option takes: a hundred years,
// well inside time.Duration.
const maxRunTime = 100 * 365 * 24 * time.Hour

// parseRunTime reads a duration the way Locust's --run-time does: 90, 90s,
// 5m, 1h30m.
func parseRunTime(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if math.Abs(n) > maxRunTime.Seconds() || math.IsNaN(n) {
			return 0, fmt.Errorf("%s is too long: at most %v", quoteClipped(s), maxRunTime)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration like 30s, 5m or 1h30m", quoteClipped(s))
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
		return fmt.Errorf("%s is not a whole number", quoteClipped(s))
	}
	*v.p = n
	return nil
}

type int64Value struct{ p *int64 }

func (v int64Value) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatInt(*v.p, 10)
}
func (v int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not a whole number", quoteClipped(s))
	}
	*v.p = n
	return nil
}

type stagesValue struct{ p *Stages }

func (v stagesValue) String() string {
	if v.p == nil {
		return ""
	}
	parts := make([]string, len(*v.p))
	for i, g := range *v.p {
		parts[i] = fmt.Sprintf("%s:%g", g.Duration, g.Target)
	}
	return strings.Join(parts, ",")
}
func (v stagesValue) Set(s string) error {
	st, err := ParseStages(s)
	if err != nil {
		return err
	}
	*v.p = st
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
		return fmt.Errorf("%s is not a number", quoteClipped(s))
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

type listValue struct{ p *[]string }

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}
func (v listValue) Set(s string) error {
	*v.p = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*v.p = append(*v.p, part)
		}
	}
	return nil
}

type boolValue struct{ p *bool }

func (v boolValue) String() string   { return strconv.FormatBool(v.p != nil && *v.p) }
func (v boolValue) IsBoolFlag() bool { return true }
func (v boolValue) Set(s string) error {
	switch strings.ToLower(s) {
	case "yes", "on":
		s = "true"
	case "no", "off":
		s = "false"
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%s is not true or false", quoteClipped(s))
	}
	*v.p = b
	return nil
}

// thresholdsValue collects repeated --threshold flags.
type thresholdsValue struct{ p *[]threshold }

func (v thresholdsValue) String() string {
	if v.p == nil {
		return ""
	}
	var texts []string
	for _, t := range *v.p {
		texts = append(texts, t.Text)
	}
	return strings.Join(texts, ";")
}
func (v thresholdsValue) Set(s string) error {
	t, err := parseThreshold(s)
	if err != nil {
		return err
	}
	*v.p = append(*v.p, t)
	return nil
}

// setList reads the environment variable's form: thresholds separated by
// semicolons.
func (v thresholdsValue) setList(s string) error {
	for _, part := range strings.Split(s, ";") {
		if part = strings.TrimSpace(part); part != "" {
			if err := v.Set(part); err != nil {
				return err
			}
		}
	}
	return nil
}
