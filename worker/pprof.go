package worker

// This file owns --pprof: serving Go's profiles, in net/http/pprof's
// layout (so that `go tool pprof http://ADDR/debug/pprof/heap` works), on
// an address of their own while the program runs, in both modes.
//
// The handlers are this file's, on runtime/pprof and runtime/trace, not
// net/http/pprof's: importing net/http/pprof registers its handlers on
// http.DefaultServeMux, which every program using this package would then
// show wherever it serves the default mux.

import (
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"runtime/pprof"
	runtimetrace "runtime/trace"
	"strconv"
	"strings"
	"time"
)

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
	p := &pprofServer{
		// No write timeout: /debug/pprof/profile and /trace answer after
		// the ?seconds= they are asked for.
		srv:  &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		p.srv.Serve(ln) // returns http.ErrServerClosed at Close
	}()
	return p, nil
}

// pprofMux returns a mux of the profile handlers: the index and every
// named profile (heap, goroutine, allocs, block, mutex, threadcreate)
// under /debug/pprof/, the CPU profile and the execution trace.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprofNamed)
	mux.HandleFunc("/debug/pprof/profile", pprofCPU)
	mux.HandleFunc("/debug/pprof/trace", pprofTrace)
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
		fmt.Fprintln(w, `<li><a href="profile?seconds=30">profile</a> (CPU, 30 s)</li><li><a href="trace?seconds=5">trace</a> (5 s)</li></ul></body></html>`)
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

// pprofSeconds reads ?seconds=, def when absent; at most an hour.
func pprofSeconds(r *http.Request, def time.Duration) time.Duration {
	if n, err := strconv.ParseFloat(r.FormValue("seconds"), 64); err == nil && n > 0 {
		return min(time.Duration(n*float64(time.Second)), time.Hour)
	}
	return def
}

// pprofCPU serves a CPU profile of ?seconds= (30 by default).
func pprofCPU(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := pprof.StartCPUProfile(w); err != nil {
		http.Error(w, "cannot profile: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pprofSleep(r, pprofSeconds(r, 30*time.Second))
	pprof.StopCPUProfile()
}

// pprofTrace serves an execution trace of ?seconds= (1 by default).
func pprofTrace(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/octet-stream")
	if err := runtimetrace.Start(w); err != nil {
		http.Error(w, "cannot trace: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pprofSleep(r, pprofSeconds(r, time.Second))
	runtimetrace.Stop()
}

// pprofSleep waits d, or until the client goes away.
func pprofSleep(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
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
