// Package loadmodel holds the load models' tests with a real Locust
// master: its LoadTestShape driving a Go worker, and its --max-rps
// reaching the Go users. The worker is internal/testworker; the target
// counts what it served.
package loadmodel

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

func startWorker(t *testing.T, m *locusttest.Master, args ...string) *locusttest.Process {
	t.Helper()
	return locusttest.StartWorker(t, m, "../testworker", args...)
}

// TestMasterShapeDrivesTheWorker: a master's LoadTestShape goes to 10
// users, up to 30, down to 5, then ends the test. The Go worker's running
// users (started minus stopped, as the target counts them) reach each
// step's count and hold it, never pass the highest, and the master counts
// exactly the requests the target served.
func TestMasterShapeDrivesTheWorker(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	// A stop timeout lets the requests in flight at each step down and at
	// the end finish: with none, they are cut short and counted as
	// failures (RequestCancelled) that the target never served.
	m := locusttest.StartMaster(t, "testdata/shape.py", "--headless", "--expect-workers", "1", "--stop-timeout", "2", "--host", target.URL)
	w := startWorker(t, m)

	live := func() int64 {
		c := target.Counts()
		return c["/shaped/start"] - c["/shaped/stop"]
	}
	var mu sync.Mutex
	highest := int64(0)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the highest count seen between the steps' checks
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			n := live()
			mu.Lock()
			highest = max(highest, n)
			mu.Unlock()
		}
	}()
	for _, step := range []struct {
		users int64
		hold  time.Duration // how long the step lasts after the users are there, at least
	}{{10, 2 * time.Second}, {30, 3 * time.Second}, {5, 3 * time.Second}} {
		locusttest.Eventually(t, 15*time.Second, func() string {
			if n := live(); n != step.users {
				return fmt.Sprintf("worker runs %d users, want the shape's %d", n, step.users)
			}
			return ""
		})
		reached := time.Now()
		// The count holds: it stays at the step's until the next step.
		for time.Since(reached) < step.hold {
			if n := live(); n != step.users {
				t.Fatalf("the users left %d for %d after %v, before the shape's step ended", step.users, n, time.Since(reached))
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("worker held the shape's %d users for %v", step.users, step.hold)
	}

	if code := m.Wait(t, 30*time.Second); code != 0 {
		t.Errorf("master exit code %d, want 0 (the shape ends the test)", code)
	}
	if code := w.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("worker exit code %d, want 0", code)
	}
	mu.Lock()
	if highest > 30 {
		t.Errorf("the worker ran %d users at once, more than the shape's highest 30", highest)
	}
	mu.Unlock()
	if n := live(); n != 0 {
		t.Errorf("%d users did not stop at the end", n)
	}
	summary := locusttest.FinalSummary(m.Output.String())
	total := summary["Aggregated"]
	if total.Requests != target.Total() || total.Failures != 0 {
		t.Errorf("master counted %d requests (%d failed), the target served %d", total.Requests, total.Failures, target.Total())
	}
}

// TestMasterMaxRPSReachesTheWorker: 20 users that would make about 500
// requests a second are held by the master's --max-rps 50 (declared in its
// locustfile) to 50 a second, as the target counts them.
func TestMasterMaxRPSReachesTheWorker(t *testing.T) {
	tg := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "testdata/maxrps.py", "--headless", "-u", "20", "-r", "100", "-t", "6s",
		"--expect-workers", "1", "--max-rps", "50", "--host", tg.URL)
	w := startWorker(t, m)
	if code := m.Wait(t, 40*time.Second); code != 0 {
		t.Errorf("master exit code %d, want 0", code)
	}
	if code := w.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("worker exit code %d, want 0", code)
	}
	total := tg.Total()
	rate := tg.Rate(time.Second, 5*time.Second)
	t.Logf("master --max-rps 50, 20 users: target served %.1f/s from 1 s to 5 s, %d in all", rate, total)
	if rate < 47.5 || rate > 52.5 {
		t.Errorf("target served %.1f requests/s, want the master's --max-rps 50 ± 5%%", rate)
	}
	summary := locusttest.FinalSummary(m.Output.String())
	if got := summary["Aggregated"].Requests; got != total {
		t.Errorf("master counted %d requests, the target served %d", got, total)
	}
	if !strings.Contains(w.Output.String(), "max_rps=50") {
		t.Errorf("the worker did not log the master's cap:\n%s", w.Output.String())
	}
}
