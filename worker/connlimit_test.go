package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/stats"
)

// TestSharedPoolBound: at the shared pool's bound (what the open-file
// limit leaves), requests wait for a connection instead of opening more,
// and none fails: 40 overlapping requests through a bound of 5 open at
// most 5 connections, with both clients.
func TestSharedPoolBound(t *testing.T) {
	const bound, requests = 5, 40
	for _, kind := range []string{"net/http", "fasthttp"} {
		t.Run(kind, func(t *testing.T) {
			cc := newConnCounter()
			var mu sync.Mutex
			most := 0
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				open, _ := cc.counts()
				most = max(most, open)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond) // keep the requests overlapping
				w.Write([]byte("ok"))
			}))
			srv.Config.ConnState = cc.state
			srv.Start()
			t.Cleanup(srv.Close)

			c := &connections{maxConns: bound}
			c.http = c.newTransport(false)
			collector := stats.NewCollector()
			var wg sync.WaitGroup
			for i := range requests {
				wg.Go(func() {
					rec := collector.Recorder(uint64(i))
					var err error
					if kind == "net/http" {
						_, err = c.httpClient(srv.URL, rec, false).Get(context.Background(), "/")
					} else {
						_, err = c.fastClient(srv.URL, rec, false).Get(context.Background(), "/")
					}
					if err != nil {
						t.Errorf("request failed at the bound: %v", err)
					}
				})
			}
			wg.Wait()
			_, accepted := cc.counts()
			if accepted > bound || most > bound {
				t.Errorf("%d requests through a bound of %d: %d connections accepted, %d open at once", requests, bound, accepted, most)
			}
			if rep := collector.Report(time.Now()); rep.Total.NumRequests != requests || rep.Total.NumFailures != 0 {
				t.Errorf("recorded %d requests, %d failures; want %d, 0", rep.Total.NumRequests, rep.Total.NumFailures, requests)
			}
		})
	}
}

func TestSharedConnLimitFollowsFileLimit(t *testing.T) {
	limit, ok := fileLimit()
	got := sharedConnLimit()
	switch {
	case !ok && got != 0:
		t.Errorf("no open-file limit: bound %d, want 0 (none)", got)
	case ok && limit <= 1<<30 && got != max(int(limit)-fdReserve, 16):
		t.Errorf("open-file limit %d: bound %d, want %d", limit, got, int(limit)-fdReserve)
	}
}

// TestOwnConnectionUsers: the open-file warning counts only the users
// that hold connections of their own: a class's, or every class's when
// the run asks for it.
func TestOwnConnectionUsers(t *testing.T) {
	shared := Class("Shared", func() *idleUser { return &idleUser{} })
	own := Class("Own", func() *idleUser { return &idleUser{} }).ConnectionPerUser()
	tp := newTestPool(t, shared, own)
	target := map[string]int64{"Shared": 30_000, "Own": 25_000, "Unknown": 7}
	if got := tp.ownConnectionUsers(target); got != 25_000 {
		t.Errorf("own-connection users %d, want 25000 (the Own class's)", got)
	}
	tp.setHTTP(HTTPOptions{ConnectionPerUser: true})
	if got := tp.ownConnectionUsers(target); got != 55_000 {
		t.Errorf("with ConnectionPerUser for the run: %d, want 55000", got)
	}
}

// TestCancelledRequestsShareOneRow: requests to different URLs cut short
// by a stop are one failure row, not one per URL (net/http's error names
// the URL; 450,000 users stopping made a row each, up to the cap).
func TestCancelledRequestsShareOneRow(t *testing.T) {
	hold := make(chan struct{})
	arrived := newArrivals(5)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.arrive()
		<-hold
	}))
	t.Cleanup(srv.Close) // after the handlers are let go
	defer close(hold)
	started := newArrivals(5)
	var n atomic.Int64
	class := Class("Cut", func() *funcUser {
		i := n.Add(1)
		return &funcUser{tasks: func(u *funcUser) []Task {
			return []Task{{Name: "get", Run: func(ctx context.Context) error {
				started.arrive()
				_, err := u.Client.Get(ctx, fmt.Sprintf("/item/%d", i), Name("/item/[id]"))
				return err
			}}}
		}}
	})
	tp := newTestPool(t, class)
	tp.configure(srv.URL, 0, tagFilter{})
	tp.setTarget(context.Background(), map[string]int64{"Cut": 5})
	started.wait(t, 10*time.Second)
	arrived.wait(t, 10*time.Second) // every request is at the server, in flight
	tp.stopAllWithin(context.Background(), 0)
	rep := tp.collector.Report(time.Now())
	if rep.Total.NumFailures != 5 || len(rep.Errors) != 1 {
		t.Errorf("%d failures in %d rows, want 5 in 1: %+v", rep.Total.NumFailures, len(rep.Errors), rep.Errors)
	}
}
