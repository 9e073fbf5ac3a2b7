package worker

// This file tests the command line end to end: exit codes, thresholds,
// bad flags, help, the environment, signals, --csv, --json and the
// standalone ramp.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs the command in-process and returns its exit code and output.
func run(t *testing.T, args []string, classes ...*UserClass) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = (&command{classes: classes, name: "golocust", stdout: &out, stderr: &errOut, getenv: func(string) string { return "" },
		configDefaults: noConfigDefaults}).run(context.Background(), args)
	return code, out.String(), errOut.String()
}

// webUser gets "/" from the target until stopped.
type webUser struct{ HTTPUser }

func (u *webUser) Tasks() []Task {
	return []Task{{Name: "get", Run: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/"); return err }}}
}

// raisingUser's task returns an error that is not a request failure: an
// exception.
type raisingUser struct{}

func (raisingUser) Tasks() []Task {
	return []Task{{Name: "raise", Run: func(context.Context) error { return errors.New("kaboom") }}}
}

// fixedUser records one fixed set of samples on row "op" and stops: 10,
// 20 and 300 ms successes and a 40 ms failure.
type fixedUser struct{}

func (fixedUser) Tasks() []Task {
	return []Task{{Name: "once", Run: func(ctx context.Context) error {
		Record(ctx, "custom", "op", 10*time.Millisecond, 100, nil)
		Record(ctx, "custom", "op", 20*time.Millisecond, 100, nil)
		Record(ctx, "custom", "op", 300*time.Millisecond, 100, nil)
		Record(ctx, "custom", "op", 40*time.Millisecond, 0, errors.New("bad answer"))
		return ErrStopUser
	}}}
}

func TestExitCodes(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(ok.Close)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(failing.Close)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // answers only after the test has ended
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	web := func() *UserClass {
		return Class("WebUser", func() *webUser { return &webUser{} }).Wait(Constant(20 * time.Millisecond))
	}
	// -s: users finish their request when the run ends; a request cut
	// short would count as a failure.
	short := []string{"-u", "2", "-r", "100", "-t", "600ms", "-s", "2s", "--only-summary"}
	cases := []struct {
		name    string
		args    []string
		classes []*UserClass
		want    int
	}{
		{"clean run", append([]string{"-H", ok.URL}, short...), []*UserClass{web()}, ExitOK},
		{"failed requests", append([]string{"-H", failing.URL}, short...), []*UserClass{web()}, 1},
		{"failed requests, --exit-code-on-error 7", append([]string{"-H", failing.URL, "--exit-code-on-error", "7"}, short...), []*UserClass{web()}, 7},
		{"failed requests, --exit-code-on-error 0", append([]string{"-H", failing.URL, "--exit-code-on-error", "0"}, short...), []*UserClass{web()}, ExitOK},
		{"exception in user code", short, []*UserClass{Class("Raiser", func() raisingUser { return raisingUser{} }).Wait(Constant(50 * time.Millisecond))}, 1},
		{"threshold broken beats failures", append([]string{"-H", failing.URL, "--threshold", "fail_ratio<0.5"}, short...), []*UserClass{web()}, ExitThreshold},
		{"thresholds kept, clean", append([]string{"-H", ok.URL, "--threshold", "fail_ratio<=0", "--threshold", "requests>0"}, short...), []*UserClass{web()}, ExitOK},
		// Requests cut short by the end of the test are failures in the
		// tables (RequestCancelled) but say nothing about the target.
		{"requests cut short by the end, -s 0", []string{"-H", slow.URL, "-u", "2", "-r", "100", "-t", "300ms", "-s", "0", "--only-summary"}, []*UserClass{web()}, ExitOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, c.args, c.classes...)
			if code != c.want {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.want, stdout, stderr)
			}
			if !strings.Contains(stdout, "Test finished after") {
				t.Errorf("no summary on stdout:\n%s", stdout)
			}
			if strings.Contains(c.name, "cut short") && !strings.Contains(stdout, "RequestCancelled(") {
				t.Errorf("the cut-short requests are not in the failures table:\n%s", stdout)
			}
		})
	}
}

// TestThresholdExitCodes checks every threshold kind once kept and once
// broken, on samples whose statistics are known exactly: four users each
// record 10, 20, 300 ms and a failed 40 ms request.
func TestThresholdExitCodes(t *testing.T) {
	cases := []struct {
		threshold string
		pass      bool
	}{
		{"p95>250ms", true}, {"p95<250ms", false},
		{"p50<=40ms", true}, {"p50<10ms", false},
		{"median<=40ms", true}, {"median<10ms", false},
		{"avg<100ms", true}, {"avg<90ms", false}, // 92.5 ms
		{"min>=10ms", true}, {"min>10ms", false},
		{"max<=300ms", true}, {"max<0.3s", false},
		{"max<=300", true}, {"max<300", false}, // bare numbers are milliseconds
		{"fail_ratio<=25%", true}, {"fail_ratio<0.25", false},
		{"rps>0", true}, {"rps>1000000", false},
		{"requests>=16", true}, {"requests>16", false},
		{"failures<=4", true}, {"failures<4", false},
		{"op:max<=300ms", true}, {"op:max<1ms", false},
		{"nope:p50<1s", false}, // no such row
	}
	for _, c := range cases {
		t.Run(c.threshold, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := run(t, []string{"-u", "4", "-r", "100", "-t", "300ms", "--only-summary",
				"--exit-code-on-error", "0", "--threshold", c.threshold},
				Class("Fixed", func() fixedUser { return fixedUser{} }))
			want, verdict := ExitOK, "PASS  "+c.threshold
			if !c.pass {
				want, verdict = ExitThreshold, "FAIL  "+c.threshold
			}
			if code != want {
				t.Errorf("exit code %d, want %d\n%s\n%s", code, want, stdout, stderr)
			}
			if !strings.Contains(stdout, verdict) {
				t.Errorf("stdout lacks the verdict %q:\n%s", verdict, stdout)
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{args: []string{"--no-such-flag"}, want: "unknown option"},
		{args: []string{"-u", "many"}, want: `"many" is not a whole number`},
		{args: []string{"-u", "-3"}, want: "must not be negative"},
		{args: []string{"-r", "fast"}, want: `"fast" is not a number`},
		{args: []string{"-t", "soon"}, want: "not a duration"},
		{args: []string{"--master-port", "70000"}, want: "out of range"},
		{args: []string{"--csv-full-history"}, want: "requires --csv"},
		{args: []string{"--threshold", "p95~300ms"}, want: "want METRIC<VALUE"},
		{args: []string{"--threshold", "latency<3s"}, want: "unknown metric"},
		{args: []string{"--threshold", "p95<fast"}, want: "not a duration"},
		{args: []string{"--threshold", "fail_ratio<lots"}, want: "not a ratio"},
		{args: []string{"-L", "LOUD"}, want: "--loglevel"},
		{args: []string{"extra"}, want: `unexpected argument "extra"`},
		{env: map[string]string{"LOCUST_USERS": "x"}, want: "LOCUST_USERS"},
		{env: map[string]string{"LOCUST_THRESHOLD": "p95<1s;bogus"}, want: "LOCUST_THRESHOLD"},
		{args: []string{"-H", "localhost:8080"}, want: `-H/--host "localhost:8080" is not a URL: give its scheme, e.g. http://localhost:8080`},
		{env: map[string]string{"LOCUST_HOST": "shop.example.com"}, want: "e.g. http://shop.example.com"},
		{args: []string{"-H", "ftp://127.0.0.1:8080"}, want: `-H/--host "ftp://127.0.0.1:8080" is not an http or https URL with a host, e.g. http://localhost:8080`},
		{args: []string{"-H", "http://"}, want: "is not an http or https URL with a host"},
		{args: []string{"--client-key", "k.pem"}, want: "--client-key requires --client-cert"},
		{args: []string{"--ca-file", "/nonexistent/ca.pem"}, want: "TLS options: CA file: open /nonexistent/ca.pem"},
		{args: []string{"--client-cert", "/nonexistent/c.pem"}, want: "TLS options: client certificate"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		cmd := &command{classes: []*UserClass{Class("A", func() fixedUser { return fixedUser{} })}, name: "golocust",
			stdout: &out, stderr: &errOut, getenv: func(k string) string { return c.env[k] }, configDefaults: noConfigDefaults}
		code := cmd.run(context.Background(), c.args)
		if code != ExitUsage {
			t.Errorf("%v %v: exit code %d, want %d", c.args, c.env, code, ExitUsage)
		}
		msg := errOut.String()
		if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "golocust: error: ") || !strings.Contains(msg, c.want) {
			t.Errorf("%v %v: stderr %q, want one line with %q", c.args, c.env, msg, c.want)
		}
		if out.Len() != 0 {
			t.Errorf("%v: stdout %q, want nothing", c.args, out.String())
		}
	}
}

// TestOptionNameClash: a custom option named like one of Locust's, or two
// of one name, is one line and exit 2, not a panic.
func TestOptionNameClash(t *testing.T) {
	for _, opts := range [][]option{
		{StringOption("host", "", "clashes with -H/--host")},
		{IntOption("dup", 1, "one"), IntOption("dup", 2, "two")},
	} {
		class := Class("A", func() fixedUser { return fixedUser{} }).Options(opts...)
		code, _, stderr := run(t, []string{"-t", "1s"}, class)
		if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "is declared twice") {
			t.Errorf("options %v: exit code %d, stderr %q; want %d and one line saying it is declared twice", opts, code, stderr, ExitUsage)
		}
	}
}

func TestHelp(t *testing.T) {
	opt := NewOption("think", 2*time.Second, "time users think")
	class := Class("A", func() fixedUser { return fixedUser{} }).Options(opt)
	for _, arg := range []string{"-h", "--help"} {
		code, stdout, stderr := run(t, []string{arg}, class)
		if code != ExitOK || stderr != "" {
			t.Fatalf("%s: exit code %d, stderr %q", arg, code, stderr)
		}
		for _, want := range []string{
			"Usage: golocust [options]",
			"-u, --users N", "(default 1) [LOCUST_USERS]",
			"-r, --spawn-rate RATE", "[LOCUST_SPAWN_RATE]",
			"-t, --run-time TIME", "[LOCUST_RUN_TIME]",
			"-H, --host URL", "[LOCUST_HOST]",
			"--master-host HOST", "[LOCUST_MASTER_NODE_HOST]",
			"--master-port PORT", "(default 5557) [LOCUST_MASTER_NODE_PORT]",
			"-T, --tags TAG,...", "[LOCUST_TAGS]",
			"-E, --exclude-tags TAG,...", "[LOCUST_EXCLUDE_TAGS]",
			"-s, --stop-timeout TIME", "[LOCUST_STOP_TIMEOUT]",
			"--csv PREFIX", "[LOCUST_CSV]",
			"--csv-full-history", "[LOCUST_CSV_FULL_HISTORY]",
			"--json", "--only-summary", "--reset-stats",
			"--exit-code-on-error CODE", "[LOCUST_EXIT_CODE_ON_ERROR]",
			"-L, --loglevel LEVEL", "(default INFO) [LOCUST_LOGLEVEL]",
			"--logfile FILE", "[LOCUST_LOGFILE]",
			"--threshold [ROW:]METRIC<VALUE",
			"HTTP options:", "--insecure", "[LOCUST_INSECURE]", "--ca-file FILE,...", "[LOCUST_CA_FILE]",
			"--client-cert FILE", "[LOCUST_CLIENT_CERT]", "--client-key FILE", "[LOCUST_CLIENT_KEY]",
			"--connection-per-user", "[LOCUST_CONNECTION_PER_USER]",
			"Custom options:", "--think VALUE", "time users think (default 2s) [LOCUST_THINK]",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s: help lacks %q:\n%s", arg, want, stdout)
			}
		}
		if strings.Contains(stdout, "short for") {
			t.Errorf("help lists short forms separately:\n%s", stdout)
		}
	}
}

// TestHelpShowsProgramDefaults: a program's own defaults, put before the
// command line as RunCommand's doc says, show in -h as the defaults.
func TestHelpShowsProgramDefaults(t *testing.T) {
	code, stdout, _ := run(t, []string{"-u", "20", "-t", "10s", "-h"}, Class("A", func() fixedUser { return fixedUser{} }))
	if code != ExitOK || !strings.Contains(stdout, "(default 20) [LOCUST_USERS]") || !strings.Contains(stdout, "(default 10s) [LOCUST_RUN_TIME]") {
		t.Errorf("exit code %d; help does not show -u 20 and -t 10s as defaults:\n%s", code, stdout)
	}
}

func TestParseArgsEnvironment(t *testing.T) {
	env := map[string]string{
		"LOCUST_USERS": "30", "LOCUST_SPAWN_RATE": "2.5", "LOCUST_RUN_TIME": "1h30m", "LOCUST_HOST": "http://x",
		"LOCUST_TAGS": "a, b", "LOCUST_STOP_TIMEOUT": "10", "LOCUST_CSV": "out", "LOCUST_CSV_FULL_HISTORY": "true",
		"LOCUST_ONLY_SUMMARY": "1", "LOCUST_RESET_STATS": "yes", "LOCUST_EXIT_CODE_ON_ERROR": "9",
		"LOCUST_LOGLEVEL": "warning", "LOCUST_THRESHOLD": "p95<300ms; fail_ratio<1%", "LOCUST_MASTER_NODE_PORT": "6000",
	}
	cfg, err := parseArgs([]string{"-u", "40"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Users != 40 || cfg.SpawnRate != 2.5 || cfg.RunTime != 90*time.Minute || cfg.Host != "http://x" ||
		!slices.Equal(cfg.Tags, []string{"a", "b"}) || cfg.StopTimeout != 10*time.Second || cfg.CSVPrefix != "out" ||
		!cfg.CSVFullHistory || !cfg.OnlySummary || !cfg.ResetStats || cfg.ExitCodeOnError != 9 || cfg.MasterPort != 6000 ||
		len(cfg.Thresholds) != 2 || cfg.Thresholds[1].Value != 0.01 {
		t.Errorf("config %+v", cfg)
	}
	// Thresholds on the command line replace the environment's.
	cfg, err = parseArgs([]string{"--threshold", "rps>1"}, func(k string) string { return env[k] })
	if err != nil || len(cfg.Thresholds) != 1 || cfg.Thresholds[0].Metric != "rps" {
		t.Errorf("thresholds %+v, %v", cfg.Thresholds, err)
	}
}

// TestParseArgsHTTPOptions reads the HTTP options from flags and the
// environment, and turns them into the HTTPOptions a run gets.
func TestParseArgsHTTPOptions(t *testing.T) {
	env := map[string]string{"LOCUST_INSECURE": "true", "LOCUST_CA_FILE": "a.pem, b.pem", "LOCUST_CONNECTION_PER_USER": "1"}
	cfg, err := parseArgs([]string{"--client-cert", "c.pem", "--client-key", "k.pem"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Insecure || !slices.Equal(cfg.CAFiles, []string{"a.pem", "b.pem"}) || cfg.ClientCert != "c.pem" || cfg.ClientKey != "k.pem" || !cfg.ConnectionPerUser {
		t.Errorf("config %+v", cfg)
	}
	cfg, err = parseArgs([]string{"--insecure", "--connection-per-user"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cfg.httpOptions()
	if err != nil || opts.TLS == nil || !opts.TLS.InsecureSkipVerify || !opts.ConnectionPerUser {
		t.Errorf("HTTP options %+v, %v; want insecure TLS and a connection per user", opts, err)
	}
	def := defaultConfig()
	if opts, err := def.httpOptions(); err != nil || opts.TLS != nil || opts.ConnectionPerUser {
		t.Errorf("default HTTP options %+v, %v; want verified TLS and shared connections", opts, err)
	}
}

// TestHTTPOptionsFilesOverTLS: the file options of HTTPOptions change a
// copy of its TLS configuration, never the caller's, and keep the rest.
func TestHTTPOptionsFilesOverTLS(t *testing.T) {
	own := &tls.Config{ServerName: "shop.example", MinVersion: tls.VersionTLS13}
	opts, err := HTTPOptions{TLS: own, Insecure: true, ConnectionPerUser: true}.resolved()
	if err != nil {
		t.Fatal(err)
	}
	if got := opts.TLS; got == own || !got.InsecureSkipVerify || got.ServerName != "shop.example" || got.MinVersion != tls.VersionTLS13 {
		t.Errorf("resolved TLS %+v; want a copy of the caller's, insecure", got)
	}
	if own.InsecureSkipVerify || !opts.ConnectionPerUser || opts.Insecure {
		t.Errorf("caller's TLS changed (%v), or options %+v lost ConnectionPerUser or kept the files", own.InsecureSkipVerify, opts)
	}
	if opts, err := (HTTPOptions{TLS: own}).resolved(); err != nil || opts.TLS != own {
		t.Errorf("without file options: TLS %p, %v; want the caller's %p as it is", opts.TLS, err, own)
	}
}

func TestParseThreshold(t *testing.T) {
	cases := []struct {
		in   string
		want threshold
	}{
		{"p95<300ms", threshold{Metric: "p95", Op: "<", Value: 300}},
		{"p99.9 <= 1.5s", threshold{Metric: "p99.9", Op: "<=", Value: 1500}},
		{"fail_ratio<1%", threshold{Metric: "fail_ratio", Op: "<", Value: 0.01}},
		{"rps>=100", threshold{Metric: "rps", Op: ">=", Value: 100}},
		{"/item/[id]:avg<50", threshold{Row: "/item/[id]", Metric: "avg", Op: "<", Value: 50}},
		{"http://x/a:max>1m", threshold{Row: "http://x/a", Metric: "max", Op: ">", Value: 60000}},
	}
	for _, c := range cases {
		got, err := parseThreshold(c.in)
		c.want.Text = c.in
		if err != nil || got != c.want {
			t.Errorf("parseThreshold(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// lognormalUser records many samples with response times spread over
// every bucket width (1 ms up to 100 ms), keeping each one in samples.
type lognormalUser struct {
	rng     *rand.Rand
	samples *sampleLog
}

type sampleLog struct {
	mu sync.Mutex
	d  []time.Duration
}

func (u *lognormalUser) Tasks() []Task {
	return []Task{{Name: "burst", Run: func(ctx context.Context) error {
		for range 1000 {
			d := time.Duration(math.Exp(u.rng.NormFloat64()*1.2+math.Log(80)) * float64(time.Millisecond))
			d = min(d, 9*time.Second)
			u.samples.mu.Lock()
			u.samples.d = append(u.samples.d, d)
			u.samples.mu.Unlock()
			Record(ctx, "custom", "lognormal", d, 0, nil)
		}
		return ErrStopUser
	}}}
}

// bucketWidth is the width of Locust's histogram bucket around d.
func bucketWidth(d time.Duration) time.Duration {
	switch {
	case d < 100*time.Millisecond:
		return time.Millisecond
	case d < time.Second:
		return 10 * time.Millisecond
	case d < 10*time.Second:
		return 100 * time.Millisecond
	}
	return time.Second
}

// TestSummaryPercentilesMatchRawSamples checks the printed percentile
// table against percentiles computed from the raw samples: they agree
// within the width of the histogram bucket.
func TestSummaryPercentilesMatchRawSamples(t *testing.T) {
	samples := &sampleLog{}
	var seed atomic.Uint64
	class := Class("Lognormal", func() *lognormalUser {
		return &lognormalUser{rng: rand.New(rand.NewPCG(seed.Add(1), 42)), samples: samples}
	})
	code, stdout, stderr := run(t, []string{"-u", "8", "-r", "100", "-t", "500ms", "--only-summary"}, class)
	if code != ExitOK {
		t.Fatalf("exit code %d\n%s", code, stderr)
	}
	raw := slices.Clone(samples.d)
	slices.Sort(raw)
	if len(raw) != 8000 {
		t.Fatalf("%d samples, want 8000", len(raw))
	}
	_, table, found := strings.Cut(stdout, "Response time percentiles (approximated)")
	if !found {
		t.Fatalf("no percentile table:\n%s", stdout)
	}
	var header, aggregated []string
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch cells[2] {
		case "Name":
			header = cells
		case "Aggregated":
			aggregated = cells
		}
	}
	if header == nil || aggregated == nil || len(header) != len(aggregated) {
		t.Fatalf("cannot read the percentile table:\n%s", table)
	}
	checked := 0
	for i, label := range header {
		if !strings.HasSuffix(label, "%") {
			continue
		}
		p, _ := strconv.ParseFloat(strings.TrimSuffix(label, "%"), 64)
		p /= 100
		printed, err := strconv.Atoi(aggregated[i])
		if err != nil {
			t.Fatalf("%s: %q", label, aggregated[i])
		}
		// Locust's percentile p is the response time of the request with
		// int(n*p) requests faster than it (0-based rank int(n*p)).
		exact := raw[min(len(raw)-1, int(p*float64(len(raw))))]
		got := time.Duration(printed) * time.Millisecond
		if diff := (got - exact).Abs(); diff > bucketWidth(exact) {
			t.Errorf("%s: summary %v, raw samples %v: off by %v, more than the bucket width %v", label, got, exact, diff, bucketWidth(exact))
		}
		checked++
	}
	if checked != 11 {
		t.Errorf("checked %d percentile columns, want 11", checked)
	}
}

// startUser notes when each user starts.
type startUser struct{ started chan<- time.Time }

func (u startUser) OnStart(context.Context) error { u.started <- time.Now(); return nil }
func (startUser) Tasks() []Task {
	return []Task{{Name: "idle", Run: func(context.Context) error { return nil }}}
}

// TestRampFollowsSpawnRate starts 15 users at 1.5 users/s: Locust's
// dispatcher starts one user every 2/3 s from t=0, so the 15th starts at
// 9.33 s, within 10 % of users/rate = 10 s, and each user at its slot.
func TestRampFollowsSpawnRate(t *testing.T) {
	t.Parallel()
	const users, rate = 15, 1.5
	started := make(chan time.Time, users)
	mk := func() startUser { return startUser{started: started} }
	classes := []*UserClass{
		Class("Reader", mk).Weight(2).Wait(Constant(time.Second)),
		Class("Writer", mk).Weight(1).Wait(Constant(time.Second)),
	}
	s := &Standalone{Users: users, SpawnRate: rate, RunTime: 11 * time.Second, Classes: classes, OnlySummary: true,
		Output: io.Discard, Logger: discardLogger()}
	begin := time.Now()
	var res *Result
	done := make(chan error, 1)
	go func() {
		var err error
		res, err = s.Run(context.Background())
		done <- err
	}()
	var at []time.Duration
	for range users {
		select {
		case ts := <-started:
			at = append(at, ts.Sub(begin))
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d users started: %v", len(at), at)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	slices.Sort(at)
	every := 2 * time.Second / 3 // 1 / rate
	for i, d := range at {
		want := time.Duration(i) * every
		if diff := (d - want).Abs(); diff > 200*time.Millisecond {
			t.Errorf("user %d started at %v, want %v", i+1, d, want)
		}
	}
	full := 10 * time.Second // users / rate
	if last := at[len(at)-1]; (last - full).Abs() > full/10 {
		t.Errorf("all %d users started after %v, want %v within 10%%", users, last, full)
	}
	if want := classCounts(classes, users); !mapsEqual(res.Users, want) {
		t.Errorf("users per class %v, want %v", res.Users, want)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestCSVAndJSONFiles(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "run")
	code, stdout, stderr := run(t, []string{"-u", "4", "-r", "100", "-t", "1500ms", "--csv", prefix, "--json",
		"--exit-code-on-error", "0"}, Class("Fixed", func() fixedUser { return fixedUser{} }))
	if code != ExitOK {
		t.Fatalf("exit code %d\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "[\n    {\n        \"name\": \"op\",\n        \"method\": \"custom\",") ||
		!strings.Contains(stdout, `"num_requests": 16,`) || !strings.Contains(stdout, `"num_failures": 4,`) ||
		!strings.Contains(stdout, `"max_response_time": 300.0,`) || !strings.Contains(stdout, `"response_times": {`) {
		t.Errorf("--json output:\n%s", stdout)
	}
	if !strings.Contains(stderr, "Test finished after") {
		t.Errorf("with --json the summary goes to stderr:\n%s", stderr)
	}
	stats, err := os.ReadFile(prefix + "_stats.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stats), "\ncustom,op,16,4,") || !strings.Contains(string(stats), "\n,Aggregated,16,4,") {
		t.Errorf("stats.csv:\n%s", stats)
	}
	failures, _ := os.ReadFile(prefix + "_failures.csv")
	if !strings.Contains(string(failures), "custom,op,") || !strings.Contains(string(failures), ",4\r\n") {
		t.Errorf("failures.csv:\n%q", failures)
	}
	hist, _ := os.ReadFile(prefix + "_stats_history.csv")
	if n := strings.Count(string(hist), "\n"); n < 2 {
		t.Errorf("history has %d lines:\n%s", n, hist)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The tests below run this test binary as a golocust program (see
// TestMain) to send it real signals.

const helperEnv = "GOLOCUST_TEST_COMMAND"

// slowStopUser's task takes 300 ms and ignores stop requests; OnStop
// prints a line.
type slowStopUser struct{ hang bool }

func (u slowStopUser) Tasks() []Task {
	return []Task{{Name: "slow", Run: func(ctx context.Context) error {
		if u.hang { // finishes only when cancelled
			fmt.Fprintln(os.Stderr, "task hangs")
			<-ctx.Done()
			return nil
		}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	}}}
}

func (slowStopUser) OnStop(context.Context) error {
	fmt.Fprintln(os.Stderr, "on_stop ran")
	return nil
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		hang := mode == "hang"
		Main(Class("Slow", func() slowStopUser { return slowStopUser{hang: hang} }))
		return
	}
	os.Exit(m.Run())
}

func startHelper(t *testing.T, mode string, args ...string) *locusttest.Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(helperEnv, mode)
	return locusttest.Start(t, t.TempDir(), exe, args...)
}

func TestSignals(t *testing.T) {
	t.Run("first signal stops gracefully", func(t *testing.T) {
		p := startHelper(t, "slow", "-u", "2", "-r", "100", "-t", "60s", "-s", "10s", "--only-summary")
		p.Output.WaitFor(t, "all users spawned", 1, 20*time.Second)
		start := time.Now()
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.Wait(t, 15*time.Second); code != ExitOK {
			t.Errorf("exit code %d, want 0", code)
		}
		out := p.Output.String()
		if n := strings.Count(out, "on_stop ran"); n != 2 {
			t.Errorf("on_stop ran %d times, want 2", n)
		}
		if !strings.Contains(out, "Test finished after") {
			t.Errorf("no summary:\n%s", out)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("graceful stop took %v", d)
		}
	})
	t.Run("second signal exits at once", func(t *testing.T) {
		p := startHelper(t, "hang", "-u", "2", "-r", "100", "-t", "60s", "-s", "60s", "--only-summary")
		// Spawned users may not have begun their task yet: one that has
		// not stops at once, without hanging.
		p.Output.WaitFor(t, "task hangs", 2, 20*time.Second)
		if err := p.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		p.Output.WaitFor(t, "stopping users", 1, 10*time.Second)
		select {
		case <-p.Done():
			t.Fatalf("exited after one signal although users hang for the 60 s stop timeout")
		case <-time.After(300 * time.Millisecond):
		}
		start := time.Now()
		if err := p.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := p.Wait(t, 5*time.Second); code != ExitFailure {
			t.Errorf("exit code %d, want %d", code, ExitFailure)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("second signal took %v to exit", d)
		}
		if out := p.Output.String(); strings.Contains(out, "Test finished after") || !strings.Contains(out, "exiting at once") {
			t.Errorf("output:\n%s", out)
		}
	})
}

// lateUser records one request half a second after it starts, then idles
// until stopped.
type lateUser struct{}

func (lateUser) Tasks() []Task {
	return []Task{{Name: "late", Run: func(ctx context.Context) error {
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			return nil
		}
		Record(ctx, "custom", "late", time.Millisecond, 0, nil)
		<-ctx.Done()
		return nil
	}}}
}

// TestResetStats starts three users one second apart; each records one
// request 0.5 s after its start. --reset-stats forgets the two recorded
// before the last user started.
func TestResetStats(t *testing.T) {
	t.Parallel()
	for _, reset := range []bool{false, true} {
		t.Run(fmt.Sprint("reset=", reset), func(t *testing.T) {
			t.Parallel()
			args := []string{"-u", "3", "-r", "1", "-t", "3s", "--only-summary"}
			want := "\n,Aggregated,3,"
			if reset {
				args = append(args, "--reset-stats")
				want = "\n,Aggregated,1,"
			}
			prefix := filepath.Join(t.TempDir(), "r")
			code, _, stderr := run(t, append(args, "--csv", prefix), Class("Late", func() lateUser { return lateUser{} }))
			if code != ExitOK {
				t.Fatalf("exit code %d\n%s", code, stderr)
			}
			data, err := os.ReadFile(prefix + "_stats.csv")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), want) {
				t.Errorf("stats.csv lacks %q:\n%s", want, data)
			}
		})
	}
}

func TestLogFile(t *testing.T) {
	logfile := filepath.Join(t.TempDir(), "golocust.log")
	code, _, stderr := run(t, []string{"-t", "100ms", "--only-summary", "--logfile", logfile, "-L", "debug"},
		Class("Late", func() lateUser { return lateUser{} }))
	if code != ExitOK {
		t.Fatalf("exit code %d\n%s", code, stderr)
	}
	data, err := os.ReadFile(logfile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `msg="starting test"`) || strings.Contains(stderr, "starting test") {
		t.Errorf("log file:\n%s\nstderr:\n%s", data, stderr)
	}
}
