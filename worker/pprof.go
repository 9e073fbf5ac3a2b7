package worker

// This file owns --pprof: serving Go's profiles, in net/http/pprof's
// layout (so that `go tool pprof http://ADDR/debug/pprof/heap` works), on
// an address of their own while the program runs, in both modes; the CPU
// profile and the trace last at most maxPprofDuration, and a reader that
// stalls ends them.
//
// The handlers are this file's, on runtime/pprof and runtime/trace, not
// net/http/pprof's: importing net/http/pprof registers its handlers on
// http.DefaultServeMux, which every program using this package would then
// show wherever it serves the default mux.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	runtimetrace "runtime/trace"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxPprofDuration caps the ?seconds= of the CPU profile and of the trace.
const maxPprofDuration = 60 * time.Second

// pprofStall is how long one write of a CPU profile or a trace may take:
// a reader that stops reading for longer ends the trace, whose data would
// otherwise pile up in memory (some MB/s) until it reads again.
const pprofStall = 10 * time.Second

// maxSymbolRequest caps the body of a POST to /debug/pprof/symbol.
const maxSymbolRequest = 1 << 20

// pprofServer serves net/http/pprof's handlers under /debug/pprof/.
type pprofServer struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// startPprof listens on addr (host:port; port 0 picks a free one) and
// serves the profiles there until Close. An address that cannot be
// listened on (malformed, in use, not this host's) is an error naming
// --pprof.
func startPprof(addr string) (*pprofServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof %s: %w", addr, err)
	}
	return servePprof(ln, pprofStall), nil
}

// servePprof serves the profiles on ln, a write of the CPU profile or the
// trace failing after stall.
func servePprof(ln net.Listener, stall time.Duration) *pprofServer {
	p := &pprofServer{
		// The write timeout bounds every response; the CPU profile and
		// the trace, which answer after their ?seconds=, set their own
		// (deadlineWriter).
		srv: &http.Server{Handler: pprofMux(stall), ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout: maxPprofDuration + stall},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		p.srv.Serve(ln) // returns http.ErrServerClosed at Close
	}()
	return p
}

// pprofMux returns a mux of the profile handlers: the index and every
// named profile (heap, goroutine, allocs, block, mutex, threadcreate)
// under /debug/pprof/, the command line, the symbol lookup, the CPU
// profile and the execution trace.
func pprofMux(stall time.Duration) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprofNamed)
	mux.HandleFunc("/debug/pprof/cmdline", pprofCmdline)
	mux.HandleFunc("/debug/pprof/symbol", pprofSymbol)
	mux.HandleFunc("/debug/pprof/profile", func(w http.ResponseWriter, r *http.Request) { pprofCPU(w, r, stall) })
	mux.HandleFunc("/debug/pprof/trace", func(w http.ResponseWriter, r *http.Request) { pprofTrace(w, r, stall) })
	return mux
}

// pprofNamed serves the index at /debug/pprof/ and the named profile of
// the rest of the path, in text with ?debug=1 or 2.
func pprofNamed(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/debug/pprof/")
	if name == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintln(w, "<html><body><p>profiles:</p><ul>")
		for _, p := range pprof.Profiles() {
			fmt.Fprintf(w, "<li><a href=\"%s?debug=1\">%s</a> (%d)</li>\n", html.EscapeString(p.Name()), html.EscapeString(p.Name()), p.Count())
		}
		fmt.Fprintf(w, `<li><a href="profile?seconds=30">profile</a> (CPU, 30 s; at most %g s)</li><li><a href="trace?seconds=5">trace</a> (5 s; at most %g s)</li>`+
			`<li><a href="cmdline">cmdline</a></li><li><a href="symbol">symbol</a></li></ul></body></html>`+"\n", maxPprofDuration.Seconds(), maxPprofDuration.Seconds())
		return
	}
	p := pprof.Lookup(name)
	if p == nil {
		http.Error(w, "unknown profile "+strconv.Quote(name), http.StatusNotFound)
		return
	}
	debug, _ := strconv.Atoi(r.FormValue("debug"))
	if debug > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	p.WriteTo(w, debug)
}

// pprofCmdline serves the command line, its arguments separated by NULs,
// as net/http/pprof's Cmdline does.
func pprofCmdline(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, strings.Join(os.Args, "\x00"))
}

// pprofSymbol serves the names of the functions at the program counters
// of the query (GET) or body (POST, at most maxSymbolRequest bytes),
// separated by '+', as net/http/pprof's Symbol does.
func pprofSymbol(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var in io.Reader = strings.NewReader(r.URL.RawQuery)
	if r.Method == http.MethodPost {
		in = http.MaxBytesReader(w, r.Body, maxSymbolRequest)
	}
	// The whole body is read before any output.
	var out bytes.Buffer
	fmt.Fprintf(&out, "num_symbols: 1\n") // pprof asks only whether there are symbols
	b := bufio.NewReader(in)
	for {
		word, err := b.ReadSlice('+')
		word = bytes.TrimSuffix(word, []byte("+"))
		if pc, _ := strconv.ParseUint(string(word), 0, 64); pc != 0 {
			if f := runtime.FuncForPC(uintptr(pc)); f != nil {
				fmt.Fprintf(&out, "%#x %s\n", pc, f.Name())
			}
		}
		if err != nil {
			if err != io.EOF {
				fmt.Fprintf(&out, "reading request: %v\n", err)
			}
			break
		}
	}
	w.Write(out.Bytes())
}

// pprofSeconds reads ?seconds=, def when absent, not a number or not
// positive; beyond maxPprofDuration it is an error, as net/http/pprof's is
// beyond its server's write timeout.
func pprofSeconds(r *http.Request, def time.Duration) (time.Duration, error) {
	n, err := strconv.ParseFloat(r.FormValue("seconds"), 64)
	switch {
	case err != nil || !(n > 0):
		return def, nil
	case n > maxPprofDuration.Seconds():
		return 0, fmt.Errorf("seconds=%s exceeds the maximum, %g s", r.FormValue("seconds"), maxPprofDuration.Seconds())
	}
	return time.Duration(n * float64(time.Second)), nil
}

// pprofCPU serves a CPU profile of ?seconds= (30 by default).
func pprofCPU(w http.ResponseWriter, r *http.Request, stall time.Duration) {
	d, err := pprofSeconds(r, 30*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := newDeadlineWriter(w, time.Now, stall, d)
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := pprof.StartCPUProfile(out); err != nil {
		http.Error(w, "cannot profile: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pprofSleep(r, d, out.failed)
	pprof.StopCPUProfile()
}

// pprofTrace serves an execution trace of ?seconds= (1 by default); a
// reader that stalls ends it.
func pprofTrace(w http.ResponseWriter, r *http.Request, stall time.Duration) {
	d, err := pprofSeconds(r, time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := newDeadlineWriter(w, time.Now, stall, d)
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := runtimetrace.Start(out); err != nil {
		http.Error(w, "cannot trace: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pprofSleep(r, d, out.failed)
	runtimetrace.Stop() // returns once out took the rest
}

// pprofSleep waits d, or until the client goes away or a write fails.
func pprofSleep(r *http.Request, d time.Duration, failed <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-failed:
	}
}

// deadlineWriter writes a response that lasts d, a profile's or a trace's:
// each write has at most stall to complete, and none goes on past
// stall after d. After a failed write, failed is closed and later writes
// fail at once, so that a reader that stops reading ends the profile
// instead of leaving its data to pile up in memory.
type deadlineWriter struct {
	w           io.Writer
	setDeadline func(time.Time) error // the response's write deadline
	now         func() time.Time
	stall       time.Duration
	end         time.Time // the last deadline

	mu     sync.Mutex
	err    error
	failed chan struct{}
}

// newDeadlineWriter returns a deadlineWriter of w for a response of d
// from now().
func newDeadlineWriter(w http.ResponseWriter, now func() time.Time, stall, d time.Duration) *deadlineWriter {
	return &deadlineWriter{w: w, setDeadline: http.NewResponseController(w).SetWriteDeadline, now: now,
		stall: stall, end: now().Add(d + stall), failed: make(chan struct{})}
}

// Write writes p before the deadline.
func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return 0, d.err
	}
	deadline := d.now().Add(d.stall)
	if deadline.After(d.end) {
		deadline = d.end
	}
	// A writer that cannot take deadlines (no connection) writes without.
	if err := d.setDeadline(deadline); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, d.fail(fmt.Errorf("setting the write deadline: %w", err))
	}
	n, err := d.w.Write(p)
	if err != nil {
		return n, d.fail(err)
	}
	return n, nil
}

// fail records err as the writer's failure; called under mu.
func (d *deadlineWriter) fail(err error) error {
	d.err = err
	close(d.failed)
	return err
}

// URL returns the index page's address.
func (p *pprofServer) URL() string { return "http://" + p.addr.String() + "/debug/pprof/" }

// Close stops serving and closes the connections (a CPU profile being
// taken ends early), and returns once the server accepts no more.
func (p *pprofServer) Close() error {
	err := p.srv.Close()
	<-p.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
