// Package locusttest starts real Locust masters, HTTP targets and worker
// processes on 127.0.0.1 for integration tests.
//
// Tests that need a master call [Locust]. On a machine without Locust the
// test is skipped, except under CI (CI=true), where a missing Locust fails
// the test: CI installs it, so its absence is a broken build, not a reason
// to pass.
package locusttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Locust returns the command that runs a Locust master: $LOCUST_BIN, or
// Debian's /usr/bin/locust.
func Locust(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("LOCUST_BIN")
	if bin == "" {
		bin = "/usr/bin/locust"
	}
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Locust is not installed at %s (CI must install python3-locust): %v", bin, err)
		}
		t.Skipf("Locust is not installed at %s; apt-get install python3-locust", bin)
	}
	return bin
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Output is a process's combined output, safe to read while it grows.
type Output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *Output { return &Output{changed: make(chan struct{})} }

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return n, err
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Count returns how many times s occurs in the output so far.
func (o *Output) Count(s string) int { return strings.Count(o.String(), s) }

// WaitFor waits until the output contains s at least n times, failing the
// test after timeout.
func (o *Output) WaitFor(t testing.TB, s string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		count := strings.Count(o.buf.String(), s)
		changed := o.changed
		o.mu.Unlock()
		if count >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("waited %s for %d × %q; output so far:\n%s", timeout, n, s, o.String())
		}
	}
}

// Process is a child process whose output is captured.
type Process struct {
	Cmd    *exec.Cmd
	Output *Output
	done   chan struct{}
	err    error
}

// Start starts name with args, logging its output to the test when the
// test fails, and kills it at the end of the test if it is still running.
func Start(t testing.TB, dir, name string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command(name, args...), Output: newOutput(), done: make(chan struct{})}
	p.Cmd.Dir = dir
	p.Cmd.Stdout = p.Output
	p.Cmd.Stderr = p.Output
	p.Cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	newProcessGroup(p.Cmd)
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			killProcessGroup(p.Cmd)
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(name), strings.Join(args, " "), p.Output.String())
		}
	})
	return p
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits up to timeout for the process to exit and returns its exit
// code, failing the test if it does not exit.
func (p *Process) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s; output:\n%s", p.Cmd.Path, timeout, p.Output.String())
	}
	if p.Cmd.ProcessState == nil {
		t.Fatalf("%s: %v", p.Cmd.Path, p.err)
	}
	return p.Cmd.ProcessState.ExitCode()
}

// Build compiles the main package pkg (an import path or a directory) and
// returns the binary's path. Go's build cache makes a second build of
// the same package cheap.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	abs, err := filepath.Abs(pkg)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(abs))
	cmd := exec.Command("go", "build", "-race", "-o", out, pkg)
	if os.Getenv("GOLOCUST_NO_RACE") != "" {
		cmd = exec.Command("go", "build", "-o", out, pkg)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Master is a running Locust master.
type Master struct {
	*Process
	// Port is the master's worker port; WebPort its web UI port (0 when
	// headless).
	Port, WebPort int
	// Dir is the master's working directory (where --csv files go).
	Dir string
}

// StartMaster starts a Locust master on 127.0.0.1 that loads locustfile,
// with extra args appended. Unless args include --headless it serves its
// web UI on a free port.
func StartMaster(t testing.TB, locustfile string, args ...string) *Master {
	t.Helper()
	abs, err := filepath.Abs(locustfile)
	if err != nil {
		t.Fatal(err)
	}
	m := &Master{Port: FreePort(t), Dir: t.TempDir()}
	all := []string{"-f", abs, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(m.Port)}
	headless := false
	for _, a := range args {
		headless = headless || a == "--headless"
	}
	if !headless {
		m.WebPort = FreePort(t)
		all = append(all, "--web-host", "127.0.0.1", "--web-port", strconv.Itoa(m.WebPort))
	}
	m.Process = Start(t, m.Dir, Locust(t), append(all, args...)...)
	if !headless {
		// Workers may connect any time (ZeroMQ retries); the web API may
		// not. Locust logs its web interface a moment before it listens.
		m.Output.WaitFor(t, "Starting web interface", 1, 30*time.Second)
		Eventually(t, 30*time.Second, func() string {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(m.WebPort), time.Second)
			if err != nil {
				return "the web interface does not listen: " + err.Error()
			}
			c.Close()
			return ""
		})
	}
	return m
}

func (m *Master) url(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(m.WebPort) + path
}

// Swarm starts or changes a test through the web API (POST /swarm).
func (m *Master) Swarm(t testing.TB, users int, spawnRate float64, host string) {
	t.Helper()
	form := url.Values{"user_count": {strconv.Itoa(users)}, "spawn_rate": {strconv.FormatFloat(spawnRate, 'g', -1, 64)}, "host": {host}}
	resp, err := http.PostForm(m.url("/swarm"), form)
	if err != nil {
		t.Fatalf("POST /swarm: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"success": true`)) && !bytes.Contains(body, []byte(`"success":true`)) {
		t.Fatalf("POST /swarm: %s %s", resp.Status, body)
	}
}

// StopTest stops the running test through the web API (GET /stop).
func (m *Master) StopTest(t testing.TB) {
	t.Helper()
	resp, err := http.Get(m.url("/stop"))
	if err != nil {
		t.Fatalf("GET /stop: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /stop: %s", resp.Status)
	}
}

// Stats is the master's /stats/requests answer, in part.
type Stats struct {
	State     string      `json:"state"`
	UserCount int         `json:"user_count"`
	Stats     []StatsRow  `json:"stats"`
	Errors    []ErrorRow  `json:"errors"`
	Workers   []WorkerRow `json:"workers"`
}

// StatsRow is one row of the master's statistics table.
type StatsRow struct {
	Method        string  `json:"method"`
	Name          string  `json:"name"`
	NumRequests   int64   `json:"num_requests"`
	NumFailures   int64   `json:"num_failures"`
	MedianRT      float64 `json:"median_response_time"`
	AvgRT         float64 `json:"avg_response_time"`
	AvgContentLen float64 `json:"avg_content_length"`
}

// ErrorRow is one row of the master's failures table.
type ErrorRow struct {
	Method      string `json:"method"`
	Name        string `json:"name"`
	Error       string `json:"error"`
	Occurrences int64  `json:"occurrences"`
}

// WorkerRow is one worker as the master sees it.
type WorkerRow struct {
	ID        string `json:"id"`
	State     string `json:"state"`
	UserCount int    `json:"user_count"`
}

// Stats reads GET /stats/requests.
func (m *Master) Stats(t testing.TB) Stats {
	t.Helper()
	resp, err := http.Get(m.url("/stats/requests"))
	if err != nil {
		t.Fatalf("GET /stats/requests: %v", err)
	}
	defer resp.Body.Close()
	var s Stats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("GET /stats/requests: %v", err)
	}
	return s
}

// Row returns the row named name ("Aggregated" for the total).
func (s Stats) Row(name string) StatsRow {
	for _, r := range s.Stats {
		if r.Name == name {
			return r
		}
	}
	return StatsRow{}
}

// Eventually polls cond every 100 ms until it returns "" (done), failing
// the test with cond's last answer after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SummaryRow is one row of the statistics table a headless master prints
// when it ends.
type SummaryRow struct {
	Method, Name       string
	Requests, Failures int64
}

var summaryLine = regexp.MustCompile(`^\s*(\S*)\s+(\S+)\s+(\d+)\s+(\d+)\(\s*[\d.]+%\)\s*\|`)

// FinalSummary parses the last statistics table in a headless master's
// output: rows by name, "Aggregated" for the total.
func FinalSummary(output string) map[string]SummaryRow {
	var last map[string]SummaryRow
	var cur map[string]SummaryRow
	sc := bufio.NewScanner(strings.NewReader(output))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "# reqs") && strings.Contains(line, "# fails") && !strings.Contains(line, "Response time percentiles") {
			cur = map[string]SummaryRow{}
			continue
		}
		if cur == nil {
			continue
		}
		if m := summaryLine.FindStringSubmatch(line); m != nil {
			req, _ := strconv.ParseInt(m[3], 10, 64)
			fail, _ := strconv.ParseInt(m[4], 10, 64)
			name := m[2]
			cur[name] = SummaryRow{Method: m[1], Name: name, Requests: req, Failures: fail}
			if name == "Aggregated" {
				last, cur = cur, nil
			}
		}
	}
	return last
}

// Target is an HTTP server on 127.0.0.1 that counts the requests it
// serves, by path.
type Target struct {
	URL    string
	mu     sync.Mutex
	counts map[string]int64
	first  time.Time // when the first request arrived
	times  []time.Duration
	server *http.Server
}

// StartTarget starts a target whose handler is h (nil answers 200 "ok"),
// counting every request before h runs.
func StartTarget(t testing.TB, h http.Handler) *Target {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &Target{URL: "http://" + l.Addr().String(), counts: map[string]int64{}}
	tg.server = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		tg.counts[r.URL.Path]++
		if tg.first.IsZero() {
			tg.first = time.Now()
		}
		tg.times = append(tg.times, time.Since(tg.first))
		tg.mu.Unlock()
		h.ServeHTTP(w, r)
	})}
	go tg.server.Serve(l)
	t.Cleanup(func() { tg.server.Close() })
	return tg
}

// Counts returns the requests served so far, by path.
func (tg *Target) Counts() map[string]int64 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	out := make(map[string]int64, len(tg.counts))
	for k, v := range tg.counts {
		out[k] = v
	}
	return out
}

// Total returns the number of requests served so far.
func (tg *Target) Total() int64 {
	var n int64
	for _, v := range tg.Counts() {
		n += v
	}
	return n
}

// Rate returns the requests per second that arrived from `from` to `to`
// after the first request.
func (tg *Target) Rate(from, to time.Duration) float64 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	n := 0
	for _, d := range tg.times {
		if d >= from && d < to {
			n++
		}
	}
	return float64(n) / (to - from).Seconds()
}

// StartWorker builds the Go program in the package directory pkg and
// starts it as a worker of m, with extra args.
func StartWorker(t testing.TB, m *Master, pkg string, args ...string) *Process {
	t.Helper()
	bin := Build(t, pkg)
	return Start(t, ".", bin, append([]string{"--master-host", "127.0.0.1", "--master-port", strconv.Itoa(m.Port)}, args...)...)
}

// pythonWorkerMain runs Debian's Locust with its version set to 2.12.1
// (as ../shared/tools/locust-2.12.1 does): Debian's package reports an
// empty version, which makes its master refuse its own Python workers as
// "old (pre 2.0)".
const pythonWorkerMain = `import sys, types
v = types.ModuleType("locust._version")
v.version = v.__version__ = "2.12.1"
sys.modules["locust._version"] = v
from locust.main import main
sys.argv[0] = "locust"
sys.exit(main())`

// StartPythonWorker starts a Python Locust worker of m that loads
// locustfile, with extra args.
func StartPythonWorker(t testing.TB, m *Master, locustfile string, args ...string) *Process {
	t.Helper()
	abs, err := filepath.Abs(locustfile)
	if err != nil {
		t.Fatal(err)
	}
	Locust(t) // skips the test where Locust is not installed
	all := append([]string{"-c", pythonWorkerMain, "-f", abs, "--worker", "--master-host", "127.0.0.1", "--master-port", strconv.Itoa(m.Port)}, args...)
	return Start(t, t.TempDir(), "/usr/bin/python3", all...)
}

// String formats counts for failure messages.
func (tg *Target) String() string { return fmt.Sprint(tg.Counts()) }
