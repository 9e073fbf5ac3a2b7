// The fast client's steady state, one request at a time: its allocations,
// measured and held to a ceiling; bench_test.go holds the other
// benchmarks.
package worker

import (
	"context"
	"net"
	"runtime/debug"
	"slices"
	"testing"

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

// fastGetAllocs is the most a fast GET with a fixed name may allocate in
// the steady state: the call (with its Response, URL, header values and
// watch), the header map (two: the map and its group), one string for
// the header values, the body, and the four of fasthttp's streamed body
// (its clientStreamBody and three closures, client.go in v1.78).
const fastGetAllocs = 9

// TestFastGetAllocations holds the fast path to fastGetAllocs.
func TestFastGetAllocations(t *testing.T) {
	if raceBuild() {
		t.Skip("under the race detector sync.Pool drops items at random, so fasthttp allocates more")
	}
	c := newFastHTTPClient(startFastServer(t), stats.NewCollector().Recorder(1))
	ctx := context.Background()
	get := func() {
		if _, err := c.Get(ctx, "/item/7", Name("/item/[id]")); err != nil {
			t.Fatal(err)
		}
	}
	get()
	if n := testing.AllocsPerRun(200, get); n > fastGetAllocs {
		t.Errorf("a fast GET allocates %.1f times, want at most %d", n, fastGetAllocs)
	}
}

// BenchmarkFastGetNamedReused is BenchmarkFastGetNamed with the client
// reusing its responses (SetReuseResponses).
func BenchmarkFastGetNamedReused(b *testing.B) {
	c := newFastHTTPClient(startFastServer(b), stats.NewCollector().Recorder(1))
	c.SetReuseResponses(true)
	benchGetNamed(b, func(ctx context.Context) error {
		_, err := c.Get(ctx, "/item/7", Name("/item/[id]"))
		return err
	})
}

// TestFastGetReusedAllocations holds the fast path with reused responses
// to no allocation at all. (The Date header's value is a new string once
// a second, less than one allocation in 200 requests.)
func TestFastGetReusedAllocations(t *testing.T) {
	if raceBuild() {
		t.Skip("under the race detector sync.Pool drops items at random, so fasthttp allocates more")
	}
	c := newFastHTTPClient(startFastServer(t), stats.NewCollector().Recorder(1))
	c.SetReuseResponses(true)
	ctx := context.Background()
	get := func() {
		r, err := c.Get(ctx, "/item/7", Name("/item/[id]"))
		if err != nil || string(r.Body) != "ok" {
			t.Fatalf("got %v, %v", r, err)
		}
	}
	get()
	if n := testing.AllocsPerRun(200, get); n != 0 {
		t.Errorf("a fast GET with reused responses allocates %.1f times, want 0", n)
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
