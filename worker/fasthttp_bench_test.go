// The fast client's steady state: its allocations, measured and held to
// a ceiling, and its CPU per request next to the raw fasthttp loop of
// bench/load, without system calls (over a canned connection), alone and
// inside golocust's users; bench_test.go holds the other benchmarks.
package worker

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/golocust/golocust/stats"
)

// startFastServer serves "ok" over loopback with fasthttp, which
// allocates nothing per request, so that the allocations counted are the
// client's.
func startFastServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.WriteString("ok") }}
	go s.Serve(ln)
	tb.Cleanup(func() { s.Shutdown() })
	return "http://" + ln.Addr().String()
}

// BenchmarkFastGetNamed is a user's GET with a fixed row name, recorded,
// in the steady state: run it with -benchmem (or -memprofile) to see the
// allocations a request makes.
func BenchmarkFastGetNamed(b *testing.B) {
	c := newFastHTTPClient(startFastServer(b), stats.NewCollector().Recorder(1))
	benchGetNamed(b, func(ctx context.Context) error {
		_, err := c.Get(ctx, "/item/7", Name("/item/[id]"))
		return err
	})
}

// benchGetNamed measures get, a GET with a fixed name, after a first one
// has opened the connection and the row. get calls its client's concrete
// type: through the Client interface the options would escape and
// allocate.
func benchGetNamed(b *testing.B, get func(context.Context) error) {
	ctx := context.Background()
	if err := get(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := get(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// keptGetAllocs is the most a fast GET with a fixed name may allocate in
// the steady state when the client keeps every Response
// (SetReuseResponses(false)): the Response (with its URL and the header's
// value lists), the header map (two: the map and its group), one string
// for the header values, and the body. The call is reused, and the
// transport (fasttransport.go) reads the body without fasthttp's streamed
// body and its four allocations.
const keptGetAllocs = 5

// TestFastGetAllocations holds the fast path, by default, to no
// allocation at all. (The Date header's value is a new string once a
// second, less than one allocation in 200 requests.)
func TestFastGetAllocations(t *testing.T) {
	if raceBuild() {
		t.Skip("under the race detector sync.Pool drops items at random, so fasthttp allocates more")
	}
	c := newFastHTTPClient(startFastServer(t), stats.NewCollector().Recorder(1))
	ctx := context.Background()
	get := func() {
		r, err := c.Get(ctx, "/item/7", Name("/item/[id]"))
		if err != nil || string(r.Body) != "ok" {
			t.Fatalf("got %v, %v", r, err)
		}
	}
	get()
	if n := testing.AllocsPerRun(200, get); n != 0 {
		t.Errorf("a fast GET allocates %.1f times, want 0", n)
	}
}

// BenchmarkFastGetNamedKept is BenchmarkFastGetNamed with the client
// keeping every response (SetReuseResponses(false)).
func BenchmarkFastGetNamedKept(b *testing.B) {
	c := newFastHTTPClient(startFastServer(b), stats.NewCollector().Recorder(1))
	c.SetReuseResponses(false)
	benchGetNamed(b, func(ctx context.Context) error {
		_, err := c.Get(ctx, "/item/7", Name("/item/[id]"))
		return err
	})
}

// BenchmarkFastGetNamedRested is BenchmarkFastGetNamed for a user that
// waits a second or more between its requests: the client rests before
// each one, giving its memory to the pool, and takes it back.
func BenchmarkFastGetNamedRested(b *testing.B) {
	c := newFastHTTPClient(startFastServer(b), stats.NewCollector().Recorder(1))
	benchGetNamed(b, func(ctx context.Context) error {
		c.rest()
		_, err := c.Get(ctx, "/item/7", Name("/item/[id]"))
		return err
	})
}

// TestFastGetKeptAllocations holds the fast path that keeps every
// response to keptGetAllocs.
func TestFastGetKeptAllocations(t *testing.T) {
	if raceBuild() {
		t.Skip("under the race detector sync.Pool drops items at random, so fasthttp allocates more")
	}
	c := newFastHTTPClient(startFastServer(t), stats.NewCollector().Recorder(1))
	c.SetReuseResponses(false)
	ctx := context.Background()
	get := func() {
		if _, err := c.Get(ctx, "/item/7", Name("/item/[id]")); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if n := testing.AllocsPerRun(200, get); n > keptGetAllocs {
		t.Errorf("a fast GET keeping its response allocates %.1f times, want at most %d", n, keptGetAllocs)
	}
}

// raceBuild reports whether the test binary was built with -race.
func raceBuild() bool {
	info, _ := debug.ReadBuildInfo()
	return info != nil && slices.ContainsFunc(info.Settings, func(s debug.BuildSetting) bool {
		return s.Key == "-race" && s.Value == "true"
	})
}

// BenchmarkHTTPGetNamed is BenchmarkFastGetNamed with the default client,
// to compare.
func BenchmarkHTTPGetNamed(b *testing.B) {
	c := newHTTPClient(startFastServer(b), newHTTPTransport(), stats.NewCollector().Recorder(1))
	benchGetNamed(b, func(ctx context.Context) error {
		_, err := c.Get(ctx, "/item/7", Name("/item/[id]"))
		return err
	})
}

// cannedConn is a connection to a server that answers every request at
// once with the same response, nginx's answer to the load benchmark's GET:
// with it a benchmark measures the client's own CPU, without system calls
// or a server.
type cannedConn struct {
	resp []byte
	owed int // responses owed: requests written and not yet answered
	off  int // how much of the current response has been read
}

// nginxOK is nginx's answer in bench/load.
const nginxOK = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 11:45:48 GMT\r\n" +
	"Content-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nok\n"

func newCannedConn() *cannedConn { return &cannedConn{resp: []byte(nginxOK)} }

// Write takes a request; one Write is one request (fasthttp flushes a
// request without a body in one write).
func (c *cannedConn) Write(p []byte) (int, error) {
	c.owed++
	return len(p), nil
}

func (c *cannedConn) Read(p []byte) (int, error) {
	if c.owed == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.resp[c.off:])
	c.off += n
	if c.off == len(c.resp) {
		c.off = 0
		c.owed--
	}
	return n, nil
}

func (c *cannedConn) Close() error                     { return nil }
func (c *cannedConn) LocalAddr() net.Addr              { return cannedAddr }
func (c *cannedConn) RemoteAddr() net.Addr             { return cannedAddr }
func (c *cannedConn) SetDeadline(time.Time) error      { return nil }
func (c *cannedConn) SetReadDeadline(time.Time) error  { return nil }
func (c *cannedConn) SetWriteDeadline(time.Time) error { return nil }

var cannedAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}

// BenchmarkFastOverhead is a GET recorded by each of the fast client's
// modes, and the raw fasthttp loop of bench/load, over a cannedConn: what
// golocust adds to fasthttp in user-space CPU, with no system call in the
// figure. A cannedConn answers at once, so no more than one request is
// ever in flight and the client never yields before a response
// (keptConn); on a socket that yield saves a read system call
// (BENCHMARKS.md). cpu-ns/op is the process's CPU time (garbage collection
// included), steadier than ns/op on a shared machine; run it with
// -benchtime=1s or more, the CPU clock ticks every 10 ms.
func BenchmarkFastOverhead(b *testing.B) {
	const base = "http://127.0.0.1:80"
	b.Run("raw", func(b *testing.B) {
		h := &fasthttp.HostClient{Addr: "127.0.0.1:80", NoDefaultUserAgentHeader: true,
			Dial: func(string) (net.Conn, error) { return newCannedConn(), nil }}
		target := base + "/"
		b.ReportAllocs()
		defer reportCPU(b, processCPU())
		for b.Loop() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI(target)
			if err := h.Do(req, resp); err != nil || resp.StatusCode() != 200 {
				b.Fatal(err)
			}
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	})
	for _, reuse := range []bool{true, false} {
		name := "default"
		if !reuse {
			name = "kept"
		}
		b.Run(name, func(b *testing.B) {
			conns := &connections{dial: func(context.Context, string, string) (net.Conn, error) { return newCannedConn(), nil }}
			c := newFastClient(base, stats.NewCollector().Recorder(1), conns, true)
			c.SetReuseResponses(reuse)
			ctx := context.Background()
			b.ReportAllocs()
			defer reportCPU(b, processCPU())
			for b.Loop() {
				if _, err := c.Get(ctx, "/"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU reports the process's CPU time per operation since before.
func reportCPU(b *testing.B, before time.Duration) {
	if after := processCPU(); before >= 0 && after >= 0 {
		b.ReportMetric(float64(after-before)/float64(b.N), "cpu-ns/op")
	}
}

// fastLoopUser is a FastHTTPUser of BenchmarkFastUserLoop: one GET per task,
// no wait, counting its requests into done.
type fastLoopUser struct {
	FastHTTPUser
	done  *arrivals
	reuse bool
}

func (u *fastLoopUser) OnStart(context.Context) error {
	u.Client.SetReuseResponses(u.reuse)
	return nil
}

func (u *fastLoopUser) Tasks() []Task { return getRootTasks(u.Client, u.done) }

// getRootTasks are the tasks of the user-loop benchmarks' users: a GET of
// / with c, counted into done.
func getRootTasks(c Client, done *arrivals) []Task {
	return []Task{{Name: "get", Run: func(ctx context.Context) error {
		_, err := c.Get(ctx, "/")
		done.arrive()
		return err
	}}}
}

// BenchmarkFastUserLoop is BenchmarkFastOverhead with golocust's users
// around the client: 50 users of a pool, no wait, each request recorded,
// over cannedConns. Compare with raw-loop, bench/load's fasthttp loop on
// 50 goroutines: what the user loop adds (its task call, its yields between
// tasks) on top of the client. Run it with -cpu 1.
func BenchmarkFastUserLoop(b *testing.B) {
	const users = 50
	dial := func(string) (net.Conn, error) { return newCannedConn(), nil }
	b.Run("raw-loop", func(b *testing.B) {
		h := &fasthttp.HostClient{Addr: "127.0.0.1:80", NoDefaultUserAgentHeader: true, Dial: dial, MaxConns: users}
		rawLoop(b, users, func() error {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://127.0.0.1:80/")
			if err := h.Do(req, resp); err != nil {
				return err
			}
			if resp.StatusCode() != fasthttp.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode())
			}
			return nil
		})
	})
	for _, reuse := range []bool{true, false} {
		name := "default"
		if !reuse {
			name = "kept"
		}
		b.Run(name, func(b *testing.B) {
			done := newArrivals(b.N)
			class := Class("Loop", func() *fastLoopUser { return &fastLoopUser{done: done, reuse: reuse} })
			p := newBenchPool(b, class, "http://127.0.0.1:80")
			p.transport.dial = func(context.Context, string, string) (net.Conn, error) { return newCannedConn(), nil }
			userLoop(b, p, users, done)
		})
	}
}

// rawLoop runs do b.N times in all on users goroutines, the shape of
// bench/load's raw loops, reporting allocations and the process's CPU.
func rawLoop(b *testing.B, users int, do func() error) {
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ReportAllocs()
	defer reportCPU(b, processCPU())
	var wg sync.WaitGroup
	for range users {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := do(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// userLoop starts users users of p's class "Loop", which count their
// requests into done, and measures them until done has b.N, reporting
// allocations and the process's CPU; then it stops them.
func userLoop(b *testing.B, p *pool, users int, done *arrivals) {
	b.ReportAllocs()
	before := processCPU()
	b.ResetTimer()
	p.setTarget(context.Background(), map[string]int64{"Loop": int64(users)})
	done.wait(b, 10*time.Minute)
	b.StopTimer()
	reportCPU(b, before)
	stopBenchPool(b, p) // cancels the requests in flight: users run past b.N
}
