package worker

// Hostile tests of the shared pool's request limit (requestlimit.go) and
// of the clients that take places in it (http.go, fasthttp.go): places
// that leak, a line that cannot be left in time, timeouts that do not
// bound the wait, and the per-user connections that must stay unlimited.
// The limit's own unit tests are in requestlimit_test.go.

import (
	"bytes"
	"container/list"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/stats"
)

// atkPlaces returns the places l has handed out and its line's length.
func atkPlaces(l *requestLimit) (inFlight, waiting int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight, l.line.Len()
}

// atkFrozen makes conns' limit n places that never grow: the worker is
// always behind.
func atkFrozen(conns *connections, n int) {
	conns.limit.mu.Lock()
	conns.limit.limit = n
	conns.limit.behind = func(time.Time) bool { return true }
	conns.limit.mu.Unlock()
}

// atkWaitLine waits until n requests wait in l's line.
func atkWaitLine(t *testing.T, l *requestLimit, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, got := atkPlaces(l); got == n {
			return
		}
		if time.Now().After(deadline) {
			_, got := atkPlaces(l)
			t.Fatalf("%d requests in line, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// atkServer answers the paths the leak tests use: every way a response
// can end that a client must still give its place back after.
func atkServer(t *testing.T, other string) http.Handler {
	t.Helper()
	var seen sync.Map // remote addresses that have had a request
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotModified) })
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/hop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/307", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/bad-location", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://[::1")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/no-location", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusFound) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(bytes.Repeat([]byte("x"), 1<<20)) })
	mux.HandleFunc("/stall-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte("part"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/drop", func(w http.ResponseWriter, r *http.Request) {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	})
	mux.HandleFunc("/cut-body", func(w http.ResponseWriter, r *http.Request) {
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		c, buf, err := hj.Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a bit")
		_ = buf.Flush()
		c.Close()
	})
	// The second request on a kept-alive connection finds it closed
	// unanswered: net/http sends it again on a new connection, inside one
	// RoundTrip.
	mux.HandleFunc("/stale", func(w http.ResponseWriter, r *http.Request) {
		if _, again := seen.LoadOrStore(r.RemoteAddr, true); again {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
		}
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

// atkCase is one request that must give its place back however it ends.
type atkCase struct {
	name   string
	method string
	path   string
	body   []byte
	opts   []RequestOption
}

func atkCases() []atkCase {
	failing := errors.New("the check says no")
	return []atkCase{
		{name: "ok", method: http.MethodGet, path: "/ok"},
		{name: "HEAD", method: http.MethodHead, path: "/ok"},
		{name: "204", method: http.MethodGet, path: "/204"},
		{name: "304", method: http.MethodGet, path: "/304"},
		{name: "500", method: http.MethodGet, path: "/500"},
		{name: "redirect", method: http.MethodGet, path: "/hop"},
		{name: "307 with a body", method: http.MethodPost, path: "/307", body: []byte("data")},
		{name: "redirect to another host", method: http.MethodGet, path: "/elsewhere"},
		{name: "too many redirects", method: http.MethodGet, path: "/loop"},
		{name: "bad Location", method: http.MethodGet, path: "/bad-location"},
		{name: "no Location", method: http.MethodGet, path: "/no-location"},
		{name: "body too large", method: http.MethodGet, path: "/big", opts: []RequestOption{MaxBodySize(10)}},
		{name: "timeout in the body", method: http.MethodGet, path: "/stall-body", opts: []RequestOption{Timeout(100 * time.Millisecond)}},
		{name: "timeout before the headers", method: http.MethodGet, path: "/hang", opts: []RequestOption{Timeout(100 * time.Millisecond)}},
		{name: "connection dropped", method: http.MethodGet, path: "/drop"},
		{name: "body cut short", method: http.MethodGet, path: "/cut-body"},
		{name: "stale connection", method: http.MethodGet, path: "/stale"},
		{name: "stale connection again", method: http.MethodGet, path: "/stale"},
		{name: "check fails", method: http.MethodGet, path: "/ok", opts: []RequestOption{Check(func(*Response) error { return failing })}},
		{name: "check panics", method: http.MethodGet, path: "/ok",
			opts: []RequestOption{Check(func(*Response) error { panic("user code") })}},
		{name: "connection refused", method: http.MethodGet, path: "http://127.0.0.1:1/ok"},
	}
}

// atkDo makes the request of tc; a panic (the Check's is the client's to
// recover) fails the test.
func atkDo(t *testing.T, c Client, tc atkCase) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: panic %v", tc.name, r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.Request(ctx, tc.method, tc.path, tc.body, tc.opts...)
}

// TestAttackNoPlaceLeaks makes a request of every kind that can end
// badly, with both clients, over HTTP/1.1 and (net/http) HTTP/2, each
// with a limit of one place: a request that kept its place would leave
// the next one waiting, and the count of places taken above zero.
func TestAttackNoPlaceLeaks(t *testing.T) {
	otherSrv := httptest.NewServer(atkServer(t, ""))
	defer otherSrv.Close()
	h1 := httptest.NewServer(atkServer(t, otherSrv.URL))
	defer h1.Close()
	var overH2 atomic.Int64 // requests the HTTP/2 server saw over HTTP/2
	h2Mux := atkServer(t, otherSrv.URL)
	h2 := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			overH2.Add(1)
		}
		h2Mux.ServeHTTP(w, r)
	}))
	h2.EnableHTTP2 = true
	h2.StartTLS()
	defer h2.Close()
	roots := x509.NewCertPool()
	roots.AddCert(h2.Certificate())

	servers := []struct {
		name string
		url  string
		opts HTTPOptions
		h2   bool
	}{
		{"HTTP/1.1", h1.URL, HTTPOptions{}, false},
		{"HTTP/2", h2.URL, HTTPOptions{TLS: &tls.Config{RootCAs: roots}}, true},
	}
	for _, srv := range servers {
		for _, kind := range clientKinds {
			t.Run(srv.name+"/"+kind.name, func(t *testing.T) {
				conns := newConnections(srv.opts)
				atkFrozen(conns, 1)
				rec := stats.NewCollector().Recorder(1)
				c := kind.make(conns, srv.url, rec, false)
				for _, tc := range atkCases() {
					if srv.h2 && strings.Contains(tc.path, "-body") {
						continue // hijacking is HTTP/1 only
					}
					atkDo(t, c, tc)
					if inFlight, waiting := atkPlaces(conns.limit); inFlight != 0 || waiting != 0 {
						t.Fatalf("%s: %d places taken, %d waiting after the request returned; want 0, 0", tc.name, inFlight, waiting)
					}
				}
				if srv.h2 && kind.name == "net/http" && overH2.Load() == 0 {
					t.Fatal("no request went over HTTP/2")
				}
			})
		}
	}
}

// TestAttackTimeoutBoundsTheWaitInLine: a request with a Timeout that
// waits in line for a place must end at its timeout, as a Timeout
// failure, like one that waits for the target ("Timeout limits the whole
// request"). The fast client's first version waited for the place with
// the user's context only, so its Timeout started once it had one.
func TestAttackTimeoutBoundsTheWaitInLine(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			conns := newConnections(HTTPOptions{})
			atkFrozen(conns, 1)
			if err := conns.limit.acquire(context.Background(), time.Time{}); err != nil { // a request that never ends
				t.Fatal(err)
			}
			var freed sync.Once
			free := func() { freed.Do(conns.limit.release) }
			defer free()
			c := kind.make(conns, srv.URL, stats.NewCollector().Recorder(1), false)
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := c.Get(context.Background(), "/", Timeout(100*time.Millisecond))
				done <- err
			}()
			select {
			case err := <-done:
				var re *RequestError
				if !errors.As(err, &re) || re.Kind != "Timeout" {
					t.Errorf("error %v, want a Timeout failure", err)
				}
				if took := time.Since(start); took > 2*time.Second {
					t.Errorf("took %v with a 100 ms timeout", took)
				}
			case <-time.After(3 * time.Second):
				free()
				<-done
				t.Errorf("a request with a 100 ms Timeout still waited in line for a place after 3 s")
			}
		})
	}
}

// TestAttackLeavingALongLineTakesLinearTime: when a test against a target
// that has stopped answering is stopped, every user waiting in line gives
// up at once (their contexts are cancelled), and each leaveLine scans the
// line for itself and shifts what follows: O(n) each, O(n²) for the whole
// line, under the mutex that every request of the worker needs. 450,000
// paced users against a dead target put most of them in line (the limit
// stops at the connection bound, about 20,000); 100,000 here. Their
// RequestCancelled failures are recorded only once they are out of line,
// so a quitting worker, which waits cancelGrace (100 ms) before its final
// report, loses them, and a stop's client_stopped comes that much later.
// Leaving is O(1) now (the line is a list); with the first version's
// scan and shift, 100,000 waiters leaving in a random order took seconds.
func TestAttackLeavingALongLineTakesLinearTime(t *testing.T) {
	const n = 100_000
	l := newRequestLimit(0)
	type waiter struct {
		place *list.Element
		wait  chan struct{}
	}
	waits := make([]waiter, n)
	for i := range waits {
		w := make(chan struct{})
		waits[i] = waiter{l.line.PushBack(w), w}
	}
	rand.Shuffle(n, func(i, j int) { waits[i], waits[j] = waits[j], waits[i] })
	start := time.Now()
	budget := 500 * time.Millisecond
	for i, w := range waits {
		l.leaveLine(w.place, w.wait)
		if took := time.Since(start); took > budget {
			t.Fatalf("only %d of %d cancelled waiters out of line after %v (linear work takes a few ms)", i+1, n, took)
		}
	}
	if _, waiting := atkPlaces(l); waiting != 0 {
		t.Fatalf("%d left in line, want 0", waiting)
	}
}

// TestAttackCancelWhileHandedAPlace races cancels against hand-offs: a
// request whose context ends just as a place is handed to it must give
// the place back, once. In the end no place is taken and nobody waits.
func TestAttackCancelWhileHandedAPlace(t *testing.T) {
	l := newRequestLimit(100)
	l.limit = 2
	l.behind = func(time.Time) bool { return true }
	var wg sync.WaitGroup
	var got, gaveUp atomic.Int64
	for g := range 32 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 300 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(r.IntN(200))*time.Microsecond)
				if err := l.acquire(ctx, time.Time{}); err != nil {
					gaveUp.Add(1)
				} else {
					got.Add(1)
					if r.IntN(2) == 0 {
						time.Sleep(time.Duration(r.IntN(50)) * time.Microsecond)
					}
					l.release()
				}
				cancel()
			}
		})
	}
	wg.Wait()
	if inFlight, waiting := atkPlaces(l); inFlight != 0 || waiting != 0 {
		t.Fatalf("%d places taken, %d waiting after every request ended (%d got a place, %d gave up); want 0, 0",
			inFlight, waiting, got.Load(), gaveUp.Load())
	}
	if gaveUp.Load() == 0 || got.Load() == 0 {
		t.Fatalf("%d got a place, %d gave up: the race was not run", got.Load(), gaveUp.Load())
	}
}

// TestAttackBodyClosedTwiceConcurrently: two closes of one response body
// at once give its place back once.
func TestAttackBodyClosedTwiceConcurrently(t *testing.T) {
	l := newRequestLimit(100)
	l.behind = func(time.Time) bool { return true }
	for range 200 {
		if err := l.acquire(context.Background(), time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := l.acquire(context.Background(), time.Time{}); err != nil {
			t.Fatal(err)
		}
		b := &limitedBody{ReadCloser: http.NoBody, limit: l}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() { _ = b.Close() })
		}
		wg.Wait()
		if inFlight, _ := atkPlaces(l); inFlight != 1 {
			t.Fatalf("%d places taken after one of two bodies was closed four times at once, want 1", inFlight)
		}
		l.release()
	}
}

// TestAttackStoppedWaitersAreRecordedPromptly: users stopped while their
// requests wait in line (a stop, a quit) end at once, and every one of
// those requests is recorded, as RequestCancelled, before the quitting
// worker's grace is over; none of them reaches the target.
func TestAttackStoppedWaitersAreRecordedPromptly(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	defer srv.Close()
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			served.Store(0)
			conns := newConnections(HTTPOptions{})
			atkFrozen(conns, 1)
			_ = conns.limit.acquire(context.Background(), time.Time{})
			defer conns.limit.release()
			collector := stats.NewCollector()
			const n = 200
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := range n {
				c := kind.make(conns, srv.URL, collector.Recorder(uint64(i)), false)
				wg.Go(func() { _, _ = c.Get(ctx, "/") })
			}
			atkWaitLine(t, conns.limit, n)
			start := time.Now()
			cancel()
			wg.Wait()
			if took := time.Since(start); took > cancelGrace {
				t.Errorf("%d stopped users took %v to leave the line, more than the %v a quitting worker waits", n, took, cancelGrace)
			}
			rep := collector.Report(time.Now())
			if rep.Total.NumRequests != n || rep.Total.NumFailures != n {
				t.Errorf("recorded %d requests, %d failed; want %d, %d", rep.Total.NumRequests, rep.Total.NumFailures, n, n)
			}
			for _, e := range rep.Errors {
				if !strings.Contains(e.Text, kindRequestCancelled) {
					t.Errorf("failure %q, want RequestCancelled", e.Text)
				}
			}
			if served.Load() != 0 {
				t.Errorf("the target saw %d of the cancelled requests", served.Load())
			}
		})
	}
}

// TestAttackOwnConnectionsAreNotLimited: users with connections of their
// own (ConnectionPerUser) never wait for the shared pool's places, even
// when every one of them is taken.
func TestAttackOwnConnectionsAreNotLimited(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			conns := newConnections(HTTPOptions{ConnectionPerUser: true})
			atkFrozen(conns, 1)
			_ = conns.limit.acquire(context.Background(), time.Time{})
			defer conns.limit.release()
			c := kind.make(conns, srv.URL, stats.NewCollector().Recorder(1), true)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if _, err := c.Get(ctx, "/"); err != nil {
				t.Fatalf("a user with its own connection: %v", err)
			}
			if inFlight, waiting := atkPlaces(conns.limit); inFlight != 1 || waiting != 0 {
				t.Fatalf("%d places taken, %d waiting; want the one held, 0", inFlight, waiting)
			}
		})
	}
}

// TestAttackRedirectsOfAHeldRequestDoNotDeadlock: with every place but
// one taken for good, a request that follows redirects (net/http takes a
// place per hop and gives the previous hop's back first) still ends.
func TestAttackRedirectsOfAHeldRequestDoNotDeadlock(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			http.Redirect(w, r, "/b", http.StatusFound)
		}
	}))
	defer srv.Close()
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			conns := newConnections(HTTPOptions{})
			atkFrozen(conns, 2)
			_ = conns.limit.acquire(context.Background(), time.Time{})
			defer conns.limit.release()
			c := kind.make(conns, srv.URL, stats.NewCollector().Recorder(1), false)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			resp, err := c.Get(ctx, "/a")
			if err != nil || resp.URL.Path != "/b" {
				t.Fatalf("GET /a: %v (%v)", err, resp)
			}
		})
	}
}

// TestAttackLimitMeetsAThousandSlowRequests: a target that answers only
// once 1,000 requests are in at once (a slow target needs far more
// concurrency than the 64 places the limit starts with) gets them within
// a few seconds from an idle worker.
func TestAttackLimitMeetsAThousandSlowRequests(t *testing.T) {
	const want = 1000
	var in atomic.Int64
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if in.Add(1) == want {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	for _, kind := range clientKinds[:1] { // the fast client shares the code path
		conns := newConnections(HTTPOptions{})
		collector := stats.NewCollector()
		start := time.Now()
		var wg sync.WaitGroup
		for i := range want {
			c := kind.make(conns, srv.URL, collector.Recorder(uint64(i)), false)
			wg.Go(func() { _, _ = c.Get(context.Background(), "/") })
		}
		wg.Wait()
		rep := collector.Report(time.Now())
		if rep.Total.NumFailures != 0 {
			t.Fatalf("%s: %d of %d requests failed: the limit did not reach %d in 10 s", kind.name, rep.Total.NumFailures, want, want)
		}
		t.Logf("%s: %d requests in at once after %v; limit %d", kind.name, want, time.Since(start), conns.limit.limit)
	}
}

// TestAttackHeldSpawnEndsWithItsContext: a spawn step held back by a
// backlog that never drains (a target that stopped answering) ends as
// soon as its context does (the master's stop cancels the spawn job), and
// the stop that follows is not blocked by it.
func TestAttackHeldSpawnEndsWithItsContext(t *testing.T) {
	tp := newTestPool(t, Class("A", func() *idleUser { return &idleUser{} }))
	tp.backlogFunc = func() int { return 2 * maxSpawnBacklog }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		tp.setTargetOver(ctx, map[string]int64{"A": 200}, 100*time.Millisecond)
		close(done)
	}()
	for !tp.spawnHeld.Load() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("a held spawn step went on 3 s after its context was cancelled")
	}
	if n := tp.counts()["A"]; n != 0 {
		t.Fatalf("%d users started while the backlog never drained, want 0", n)
	}
	stopped := make(chan struct{})
	go func() { tp.stopAll(context.Background()); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		t.Fatal("stopAll blocked after a held spawn step ended")
	}
}
