package loadmodel

// Attacks on --max-rps in worker mode with a real Locust master: a value
// the master sends as a string, and the cap after the master stops the
// users and starts again.

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

// rateOver returns the requests a second the target served in the next d.
func rateOver(tg *locusttest.Target, d time.Duration) float64 {
	before := tg.Total()
	time.Sleep(d)
	return float64(tg.Total()-before) / d.Seconds()
}

// TestLoadAttackMasterMaxRPSAsString: a locustfile that declares --max-rps
// without a type sends "40", a string: it caps the worker at 40/s all
// the same.
func TestLoadAttackMasterMaxRPSAsString(t *testing.T) {
	locustfile := filepath.Join(t.TempDir(), "maxrps_str.py")
	src := `from locust import HttpUser, between, events, task


@events.init_command_line_parser.add_listener
def _(parser):
    parser.add_argument("--max-rps", default="")


class Steady(HttpUser):
    wait_time = between(0.02, 0.06)

    @task
    def steady(self):
        self.client.get("/steady")
`
	if err := os.WriteFile(locustfile, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, locustfile, "--headless", "-u", "20", "-r", "100", "-t", "6s",
		"--expect-workers", "1", "--max-rps", "40", "--host", tg.URL)
	w := startWorker(t, m)
	if code := m.Wait(t, 40*time.Second); code != 0 {
		t.Errorf("master exit code %d, want 0", code)
	}
	w.Wait(t, 20*time.Second)
	if rate := tg.Rate(time.Second, 5*time.Second); rate < 36 || rate > 44 {
		t.Errorf("target served %.1f requests/s, want the master's --max-rps \"40\" ± 10%%", rate)
	}
}

// TestLoadAttackMasterMaxRPSAfterRestart: under the master's --max-rps 10,
// 100 users each hold a reservation of the cap (10 s of them). The master
// stops the test and starts 5 users, who could make 100/s: the cap must
// give them its 10/s at once. The stopped users' reservations are never
// cancelled, and the new test gets almost nothing for seconds.
func TestLoadAttackMasterMaxRPSAfterRestart(t *testing.T) {
	tg := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "testdata/maxrps.py", "--expect-workers", "1", "--max-rps", "10")
	startWorker(t, m)
	locusttest.Eventually(t, 30*time.Second, func() string {
		if s := m.Stats(t); len(s.Workers) != 1 {
			return "no worker yet"
		}
		return ""
	})
	m.Swarm(t, 100, 1000, tg.URL)
	if rate := rateOver(tg, 3*time.Second); rate > 12 {
		t.Fatalf("first test: %.1f requests/s, over the cap of 10", rate)
	}
	m.StopTest(t)
	locusttest.Eventually(t, 10*time.Second, func() string {
		if s := m.Stats(t); s.State != "stopped" {
			return "master state " + s.State
		}
		return ""
	})
	m.Swarm(t, 5, 1000, tg.URL)
	time.Sleep(time.Second)
	if rate := rateOver(tg, 3*time.Second); rate < 8 {
		t.Errorf("after the restart with 5 users: %.1f requests/s, want the cap's 10/s", rate)
	}
}
