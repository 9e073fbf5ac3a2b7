//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

// TestSeedCISized runs the seed scenario at CI size with the real master:
// 20,000 paced users at 5,000 per second on one worker. The master must
// report all of them within 6 s of the swarm (4 s is the ideal), never
// mark the worker missing, and count exactly what the target served
// without a failure; the worker's own worst heartbeat gap must stay under
// 2 s, and the connections must follow the requests in flight, not the
// users (at most 2,000: a worker that dials its way into overload opened
// thousands before the shared pool's request limit, BENCHMARKS.md).
//
// It measures capacity, so it runs alone: .ci/run runs it after the rest
// of the suite with GOLOCUST_SEED_TEST=1.
func TestSeedCISized(t *testing.T) {
	if os.Getenv("GOLOCUST_SEED_TEST") == "" {
		t.Skip("runs alone, after the suite: GOLOCUST_SEED_TEST=1 go test -run TestSeedCISized ./bench/seed/ (.ci/run does)")
	}
	locust := locusttest.Locust(t)
	// The worker and target run without the race detector, which allows
	// no more than 8,128 goroutines, and at full speed.
	bin := filepath.Join(t.TempDir(), "seed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	c := config{
		Users: 20_000, Rate: 5_000, Pacing: time.Minute, Client: "std", LoginRatio: 0.3,
		Measure: 2 * time.Second, Self: bin, Locust: locust, Log: testWriter{t},
		WorkerLog: filepath.Join(t.TempDir(), "worker.log"),
	}
	if _, err := exec.LookPath("taskset"); err == nil {
		c.WorkerCPUs, c.TargetCPUs = "0", "1"
	}
	rep, err := run(c)
	if err != nil {
		t.Fatal(err)
	}
	rep.print(testWriter{t}, c)
	if rep.ReachedAfter == 0 || rep.ReachedAfter > 6*time.Second {
		t.Errorf("the master reported %d users after %s; want all %d within 6 s", rep.MaxUsers, rep.ReachedAfter, c.Users)
	}
	if rep.MaxConns > 2000 {
		t.Errorf("the target saw %d connections at once for %d users; want at most 2,000", rep.MaxConns, c.Users)
	}
	if rep.MissingSeen > 0 {
		t.Errorf("the master marked the worker missing (%d times)", rep.MissingSeen)
	}
	if rep.MasterRequests != rep.TargetServed || rep.MasterRequests == 0 {
		t.Errorf("master counted %d requests, the target served %d", rep.MasterRequests, rep.TargetServed)
	}
	if rep.MasterFailures != 0 {
		t.Errorf("%d failures, want 0", rep.MasterFailures)
	}
	if d, err := time.ParseDuration(rep.WorstGap); err != nil || d >= 2*time.Second {
		t.Errorf("worst heartbeat gap %q, want under 2 s", rep.WorstGap)
	}
	if rep.WorkerExit != 0 {
		t.Errorf("worker exit code %d, want 0", rep.WorkerExit)
	}
	if t.Failed() {
		if b, err := os.ReadFile(c.WorkerLog); err == nil {
			t.Logf("worker log:\n%s", tail(string(b), 4000))
		}
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
