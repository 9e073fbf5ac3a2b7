package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

// startWorker runs this example as a worker of m.
func startWorker(t *testing.T, m *locusttest.Master, args ...string) *locusttest.Process {
	t.Helper()
	return locusttest.StartWorker(t, m, ".", args...)
}

// TestHeadlessMaster runs the example as the only worker of a headless
// Locust master that ramps 30 users at 15/s over classes weighted 2:1.
func TestHeadlessMaster(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "locustfile.py", "--headless", "-u", "30", "-r", "15", "-t", "8s",
		"--expect-workers", "1", "--csv", "run", "--host", target.URL)
	w := startWorker(t, m)

	if code := w.Wait(t, 40*time.Second); code != 0 {
		t.Errorf("worker exit code %d after the master's quit, want 0", code)
	}
	if code := m.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("master exit code %d, want 0", code)
	}

	counts := target.Counts()
	// Every user says hello once from OnStart: the target counts users per class.
	if counts["/hello/web"] != 20 || counts["/hello/api"] != 10 {
		t.Errorf("users per class seen by the target: WebUser %d, APIUser %d; want 20 and 10 (weights 2:1 of 30)",
			counts["/hello/web"], counts["/hello/api"])
	}

	summary := locusttest.FinalSummary(m.Output.String())
	if summary == nil {
		t.Fatalf("no final statistics table in the master's output")
	}
	for _, name := range []string{"/", "/item/[id]", "/api/status", "/hello/web", "/hello/api"} {
		if summary[name].Requests == 0 {
			t.Errorf("master's final table has no requests for %s: %+v", name, summary)
		}
	}
	total := summary["Aggregated"]
	if total.Requests != target.Total() || total.Failures != 0 {
		t.Errorf("master counted %d requests (%d failed); the target served %d", total.Requests, total.Failures, target.Total())
	}
	if total.Requests < 100 {
		t.Errorf("only %d requests in 8 s with 30 users", total.Requests)
	}
	csv, err := os.ReadFile(filepath.Join(m.Dir, "run_stats.csv"))
	if err != nil {
		t.Fatalf("master wrote no --csv file: %v", err)
	}
	for _, name := range []string{"GET,/api/status,", "GET,/item/[id],", ",Aggregated,"} {
		if !strings.Contains(string(csv), name) {
			t.Errorf("run_stats.csv lacks %s:\n%s", name, csv)
		}
	}
	t.Logf("master total %d requests = target total %d; per path %v", total.Requests, target.Total(), counts)
}

// TestStopAndSpawnAgain starts, stops and starts a test again twice
// through the master's web API, then ends the master; after each stop the
// master's count equals what the target served.
func TestStopAndSpawnAgain(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "locustfile.py", "--stop-timeout", "2")
	w := startWorker(t, m)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)

	for round := 1; round <= 3; round++ {
		before := target.Counts()
		m.Swarm(t, 30, 30, target.URL)
		locusttest.Eventually(t, 15*time.Second, func() string {
			c := target.Counts()
			web, api := c["/hello/web"]-before["/hello/web"], c["/hello/api"]-before["/hello/api"]
			if web != 20 || api != 10 {
				return fmt.Sprintf("round %d: users started WebUser %d APIUser %d, want 20 and 10", round, web, api)
			}
			if s := m.Stats(t); s.UserCount != 30 || s.Row("Aggregated").NumRequests < 50 {
				return fmt.Sprintf("round %d: master shows %d users, %d requests", round, s.UserCount, s.Row("Aggregated").NumRequests)
			}
			return ""
		})
		m.StopTest(t)
		locusttest.Eventually(t, 15*time.Second, func() string {
			s := m.Stats(t)
			served := target.Total() - sum(before)
			got := s.Row("Aggregated").NumRequests
			if s.State != "stopped" || got != served {
				return fmt.Sprintf("round %d: master state %q with %d requests; the target served %d", round, s.State, got, served)
			}
			return ""
		})
		t.Logf("round %d: master and target agree on %d requests", round, target.Total()-sum(before))
		m.Output.WaitFor(t, "reported as ready", round+1, 20*time.Second)
	}

	if err := m.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := w.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("worker exit code %d after the master's quit, want 0", code)
	}
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}
