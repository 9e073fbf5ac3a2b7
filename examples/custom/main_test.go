package main

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
	"github.com/golocust/golocust/worker"
)

// TestStandalone runs ten echo users for two seconds in this process: the
// exchanges recorded are exactly the lines the server echoed, and every
// user connected once.
func TestStandalone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := startEcho(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run := &worker.Standalone{
		Users: 10, RunTime: 2 * time.Second, StopTimeout: 5 * time.Second,
		Classes: []*worker.UserClass{class(srv.addr)},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard,
	}
	res, err := run.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for _, e := range res.Stats.Entries() {
		if e.Method != "tcp" || e.NumFailures != 0 {
			t.Errorf("row %s %s: %d requests, %d failures", e.Method, e.Name, e.NumRequests, e.NumFailures)
		}
		rows[e.Name] = e.NumRequests
	}
	if rows["connect"] != 10 {
		t.Errorf("%d connects, want one per user (10)", rows["connect"])
	}
	if got, served := rows["short"]+rows["long"], int64(srv.served()); got != served || got < 100 {
		t.Errorf("recorded %d exchanges; the server echoed %d lines", got, served)
	}
	// Weights 4:1 over n exchanges: the long share is within 5 sigma of 0.2.
	if n := float64(rows["short"] + rows["long"]); n > 0 {
		share := float64(rows["long"]) / n
		if sigma := 0.4 / math.Sqrt(n); share < 0.2-5*sigma || share > 0.2+5*sigma {
			t.Errorf("long exchanges %.3f of %v, want 0.2", share, n)
		}
	}
	t.Logf("rows %v; the server echoed %d lines", rows, srv.served())
}

// TestWorker runs the example as the worker of a headless Locust master
// whose --echo-addr (a custom option) points the Go users at the test's
// echo server.
func TestWorker(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := startEcho(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := locusttest.StartMaster(t, "locustfile.py", "--headless", "-u", "10", "-r", "10", "-t", "5s",
		"--expect-workers", "1", "--echo-addr", srv.addr())
	bin := locusttest.Build(t, ".")
	w := locusttest.Start(t, ".", bin, "--master-host", "127.0.0.1", "--master-port", strconv.Itoa(m.Port))
	if code := w.Wait(t, 40*time.Second); code != 0 {
		t.Errorf("worker exit code %d, want 0", code)
	}
	if code := m.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("master exit code %d, want 0", code)
	}
	summary := locusttest.FinalSummary(m.Output.String())
	if summary == nil {
		t.Fatal("no final table in the master's output")
	}
	connect, short, long := summary["connect"], summary["short"], summary["long"]
	if connect.Method != "tcp" || connect.Requests != 10 || connect.Failures != 0 {
		t.Errorf("connect row %+v, want 10 tcp connects", connect)
	}
	// The server echoed every exchange that succeeded, and at most those
	// that were cut short when the master ended the test.
	exchanges, failures := short.Requests+long.Requests, short.Failures+long.Failures
	served := int64(srv.served())
	if exchanges < 100 || served < exchanges-failures || served > exchanges {
		t.Errorf("master: %d exchanges (%d failed); the server echoed %d lines", exchanges, failures, served)
	}
	t.Logf("master: %d connects, %d exchanges (%d cut short at the end); server echoed %d", connect.Requests, exchanges, failures, served)
}
