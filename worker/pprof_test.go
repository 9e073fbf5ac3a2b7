package worker

// This file tests --pprof: the profiles are served while a test runs,
// standalone and as a worker, and stop with it; a bad or used address is
// one line and exit 2 before any user starts; the command line and
// symbols are served as net/http/pprof serves them; ?seconds= is capped
// and a reader that stalls ends a trace.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	runtimetrace "runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

// urlWatcher is a log writer that hands over the first URL logged that
// pattern's first group matches.
type urlWatcher struct {
	pattern *regexp.Regexp
	mu      sync.Mutex
	buf     strings.Builder
	once    sync.Once
	url     chan string
}

var pprofURL = regexp.MustCompile(`url=(http://\S+/debug/pprof/)`)

func (w *urlWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := w.pattern.FindStringSubmatch(w.buf.String()); m != nil {
		w.once.Do(func() { w.url <- m[1] })
	}
	return len(p), nil
}

func (w *urlWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// TestPprof starts the command with --pprof 127.0.0.1:0, standalone and
// as a worker (of a master that is not there: the worker waits), reads
// the address from the log, fetches the index and a goroutine profile
// while the test runs, stops the command and checks the port is closed.
func TestPprof(t *testing.T) {
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"standalone", []string{"-u", "1", "--only-summary"}},
		{"worker", []string{"--worker", "--master-port", unusedPort(t)}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			log := &urlWatcher{pattern: pprofURL, url: make(chan string, 1)}
			class := Class("Sleeper", func() sleeperUser { return sleeperUser{} }).Wait(Constant(time.Hour))
			cmd := &command{classes: []*UserClass{class}, name: "golocust", stdout: io.Discard, stderr: log,
				getenv: func(string) string { return "" }, configDefaults: noConfigDefaults}
			done := make(chan int, 1)
			go func() { done <- cmd.run(ctx, append([]string{"--pprof", "127.0.0.1:0"}, mode.args...)) }()
			var url string
			select {
			case url = <-log.url:
			case code := <-done:
				t.Fatalf("the command ended with %d before serving pprof:\n%s", code, log)
			}
			status, body := get(t, url)
			if status != http.StatusOK || !strings.Contains(body, "goroutine") || !strings.Contains(body, "heap") {
				t.Errorf("GET %s: %d, body lacks the profiles:\n%s", url, status, body)
			}
			status, body = get(t, url+"goroutine?debug=1")
			if status != http.StatusOK || !strings.HasPrefix(body, "goroutine profile: total ") {
				t.Errorf("GET goroutine?debug=1: %d %.80q", status, body)
			}
			// A CPU profile and a heap profile in pprof's format: gzipped
			// protocol buffers.
			for _, path := range []string{"profile?seconds=0.2", "heap"} {
				if status, body := get(t, url+path); status != http.StatusOK || !strings.HasPrefix(body, "\x1f\x8b") {
					t.Errorf("GET %s: %d, %d bytes, want a gzipped profile", path, status, len(body))
				}
			}
			if status, _ := get(t, url+"nosuch"); status != http.StatusNotFound {
				t.Errorf("GET nosuch: %d, want 404", status)
			}
			if status, _ := get(t, strings.TrimSuffix(url, "debug/pprof/")); status != http.StatusNotFound {
				t.Errorf("GET /: %d, want 404: only /debug/pprof/ is served", status)
			}
			cancel()
			if code := <-done; code != ExitOK {
				t.Errorf("exit code %d after the stop, want %d:\n%s", code, ExitOK, log)
			}
			host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/debug/pprof/")
			if conn, err := net.Dial("tcp", host); err == nil {
				conn.Close()
				t.Errorf("%s still accepts connections after the command returned", host)
			}
		})
	}
}

// sleeperUser does nothing and, with a long wait, keeps the test
// running until it is stopped.
type sleeperUser struct{}

func (sleeperUser) Tasks() []Task {
	return []Task{{Name: "nothing", Run: func(context.Context) error { return nil }}}
}

// unusedPort returns a TCP port of 127.0.0.1 that nothing listens on
// (one that was free a moment ago).
func unusedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

// TestPprofBadAddress: an address that cannot be listened on is one
// line naming --pprof and exit 2, and no user starts.
func TestPprofBadAddress(t *testing.T) {
	used, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer used.Close()
	cases := []struct{ addr, want string }{
		{used.Addr().String(), "address already in use"},
		{"6060", "missing port in address"},
		{"127.0.0.1:99999", "invalid port"},
	}
	for _, c := range cases {
		var started countingStarts
		code, stdout, stderr := run(t, []string{"--pprof", c.addr, "-t", "1s"}, started.class())
		if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "golocust: error: --pprof "+c.addr) ||
			!strings.Contains(stderr, c.want) || stdout != "" {
			t.Errorf("--pprof %s: exit code %d, stderr %q; want %d and one line with %q", c.addr, code, stderr, ExitUsage, c.want)
		}
		if n := started.n.Load(); n != 0 {
			t.Errorf("--pprof %s: %d users started, want none", c.addr, n)
		}
	}
}

// TestPprofSeconds: ?seconds= of the CPU profile and the trace is at most
// maxPprofDuration (beyond, an infinite one included, it is an error);
// absent, not a number or not positive, the default.
func TestPprofSeconds(t *testing.T) {
	for query, want := range map[string]time.Duration{
		"": 7 * time.Second, "seconds=0.5": 500 * time.Millisecond, "seconds=60": maxPprofDuration,
		"seconds=3600": -1, "seconds=60.5": -1, "seconds=Inf": -1, "seconds=1e300": -1,
		"seconds=NaN": 7 * time.Second, "seconds=-1": 7 * time.Second, "seconds=x": 7 * time.Second,
	} {
		r := httptest.NewRequest(http.MethodGet, "/debug/pprof/trace?"+query, nil)
		got, err := pprofSeconds(r, 7*time.Second)
		if want < 0 && (err == nil || !strings.Contains(err.Error(), "exceeds the maximum, 60")) {
			t.Errorf("?%s: %v, %v; want an error", query, got, err)
		} else if want >= 0 && (got != want || err != nil) {
			t.Errorf("?%s: %v, %v; want %v", query, got, err, want)
		}
	}
}

// startTestPprof serves the profiles on 127.0.0.1, writes stalling for
// stall; ln, when set, wraps the listener. It returns the index's URL.
func startTestPprof(t *testing.T, stall time.Duration, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	p := servePprof(ln, stall)
	t.Cleanup(func() { p.Close() })
	return p.URL()
}

// TestPprofCmdlineSymbolTrace: /debug/pprof/cmdline and /symbol answer as
// net/http/pprof's do, the index links them, a trace read at once is a
// whole trace, and a trace or CPU profile longer than maxPprofDuration is
// refused.
func TestPprofCmdlineSymbolTrace(t *testing.T) {
	url := startTestPprof(t, pprofStall, nil)
	if status, body := get(t, url+"cmdline"); status != http.StatusOK || body != strings.Join(os.Args, "\x00") {
		t.Errorf("GET cmdline: %d %q, want %q", status, body, strings.Join(os.Args, "\x00"))
	}
	if status, body := get(t, url+"symbol"); status != http.StatusOK || body != "num_symbols: 1\n" {
		t.Errorf("GET symbol: %d %q", status, body)
	}
	pc := reflect.ValueOf(TestPprofCmdlineSymbolTrace).Pointer()
	want := fmt.Sprintf("%#x github.com/golocust/golocust/worker.TestPprofCmdlineSymbolTrace\n", pc)
	if status, body := get(t, fmt.Sprintf("%ssymbol?%#x", url, pc)); status != http.StatusOK || body != "num_symbols: 1\n"+want {
		t.Errorf("GET symbol?%#x: %d %q, want %q", pc, status, body, want)
	}
	resp, err := http.Post(url+"symbol", "text/plain", strings.NewReader(fmt.Sprintf("%#x+0+%#x", pc, pc)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "num_symbols: 1\n"+want+want {
		t.Errorf("POST symbol: %d %q, want %q", resp.StatusCode, body, "num_symbols: 1\n"+want+want)
	}
	if _, body := get(t, url); !strings.Contains(body, `href="cmdline"`) || !strings.Contains(body, `href="symbol"`) {
		t.Errorf("the index does not link cmdline and symbol:\n%s", body)
	}
	if status, body := get(t, url+"trace?seconds=0.1"); status != http.StatusOK || !strings.HasPrefix(body, "go 1.") || len(body) < 100 {
		t.Errorf("GET trace?seconds=0.1: %d, %d bytes %.20q, want a trace", status, len(body), body)
	}
	for _, path := range []string{"trace?seconds=3600", "profile?seconds=61"} {
		if status, body := get(t, url+path); status != http.StatusBadRequest || !strings.Contains(body, "exceeds the maximum") {
			t.Errorf("GET %s: %d %q, want 400: beyond the maximum", path, status, body)
		}
	}
}

// smallBuffers is a listener whose connections have small send buffers,
// so that a client that does not read stalls the server's writes soon.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// TestPprofStalledTrace asks for a 30 s trace and reads nothing: once the
// buffers are full, a write stalls for the stall and the trace ends (its
// data would otherwise pile up in memory until the client reads), long
// before the 30 s.
func TestPprofStalledTrace(t *testing.T) {
	url := startTestPprof(t, 200*time.Millisecond, func(ln net.Listener) net.Listener { return smallBuffers{ln} })
	conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/debug/pprof/"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(conn, "GET /debug/pprof/trace?seconds=30 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go busy(stop) // events to trace
	started := time.Now()
	locusttest.Eventually(t, 10*time.Second, func() string {
		if !runtimetrace.IsEnabled() {
			return "the trace did not start"
		}
		return ""
	})
	locusttest.Eventually(t, 15*time.Second, func() string {
		if runtimetrace.IsEnabled() {
			return "the trace goes on with a client that reads nothing"
		}
		return ""
	})
	t.Logf("the trace ended %v after it started", time.Since(started).Round(time.Millisecond))
}

// busy makes goroutines block and wake until stop is closed.
func busy(stop <-chan struct{}) {
	ping := make(chan int)
	go func() {
		for range ping {
		}
	}()
	defer close(ping)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case ping <- i:
		}
	}
}

// TestDeadlineWriter: each write's deadline is stall after it starts but
// never past the response's end; a failed write fails the later ones
// without writing and closes failed; a response that takes no deadlines
// is written without.
func TestDeadlineWriter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	var deadlines []time.Duration
	var out strings.Builder
	fail := false
	w := &deadlineWriter{w: writerFunc(func(p []byte) (int, error) {
		if fail {
			return 0, errors.New("i/o timeout")
		}
		return out.Write(p)
	}), setDeadline: func(d time.Time) error { deadlines = append(deadlines, d.Sub(start)); return nil },
		now: func() time.Time { return now }, stall: 10 * time.Second, end: start.Add(15 * time.Second), failed: make(chan struct{})}
	for _, at := range []time.Duration{0, 4 * time.Second, 12 * time.Second} {
		now = start.Add(at)
		if _, err := w.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if want := []time.Duration{10 * time.Second, 14 * time.Second, 15 * time.Second}; fmt.Sprint(deadlines) != fmt.Sprint(want) || out.String() != "xxx" {
		t.Errorf("deadlines %v, written %q; want %v, xxx", deadlines, out.String(), want)
	}
	fail = true
	if _, err := w.Write([]byte("y")); err == nil {
		t.Error("a failed write returned no error")
	}
	select {
	case <-w.failed:
	default:
		t.Error("failed is not closed after a failed write")
	}
	fail = false
	if n, err := w.Write([]byte("z")); err == nil || n != 0 || out.String() != "xxx" || len(deadlines) != 4 {
		t.Errorf("a write after a failure: %d, %v, written %q, %d deadlines", n, err, out.String(), len(deadlines))
	}
	rec := httptest.NewRecorder()
	if _, err := newDeadlineWriter(rec, time.Now, time.Second, time.Second).Write([]byte("ok")); err != nil || rec.Body.String() != "ok" {
		t.Errorf("a recorder (no deadlines): %v, %q", err, rec.Body.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
