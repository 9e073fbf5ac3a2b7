package worker

// This file tests --pprof: the profiles are served while a test runs,
// standalone and as a worker, and stop with it; a bad or used address is
// one line and exit 2 before any user starts.

import (
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// urlWatcher is a log writer that hands over the first pprof URL logged.
type urlWatcher struct {
	mu   sync.Mutex
	buf  strings.Builder
	once sync.Once
	url  chan string
}

var pprofURL = regexp.MustCompile(`url=(http://\S+/debug/pprof/)`)

func (w *urlWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if m := pprofURL.FindStringSubmatch(w.buf.String()); m != nil {
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
			log := &urlWatcher{url: make(chan string, 1)}
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
