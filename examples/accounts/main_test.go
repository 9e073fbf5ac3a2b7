package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/golocust/golocust/examples/accounts/internal/shop"
	"github.com/golocust/golocust/internal/locusttest"
)

// TestAccountsFromTheMaster is the original test's workflow with the real
// Locust master: it reads 5,000 accounts and, at the test's start, sends
// each of its three workers — two Go, one Python — a disjoint slice. 300
// users log in, each with an account of its own: the shop, which refuses
// an account already logged in, counts no conflict; every Go user had an
// account; the master counts exactly what the shop served.
func TestAccountsFromTheMaster(t *testing.T) {
	s := shop.New(shop.Accounts(5000))
	target := locusttest.StartTarget(t, s)
	m := locusttest.StartMaster(t, "locustfile.py", "--headless", "-u", "300", "-r", "150", "-t", "12s",
		"--expect-workers", "3", "--stop-timeout", "3", "--host", target.URL)
	goWorkers := []*locusttest.Process{locusttest.StartWorker(t, m, "."), locusttest.StartWorker(t, m, ".")}
	py := locusttest.StartPythonWorker(t, m, "locustfile.py")

	if code := m.Wait(t, 60*time.Second); code != 0 {
		t.Errorf("master exit code %d, want 0", code)
	}
	for i, w := range goWorkers {
		if code := w.Wait(t, 20*time.Second); code != 0 {
			t.Errorf("Go worker %d exit code %d, want 0", i, code)
		}
	}
	py.Wait(t, 20*time.Second)

	c := s.Counts()
	if c.Conflicts != 0 || c.BadPasswords != 0 || c.NotLoggedIn != 0 {
		t.Errorf("shop counts %+v: want no conflict, bad password or page without a session", c)
	}
	if c.Logins < 300 || c.Accounts < 300 {
		t.Errorf("shop saw %d logins of %d accounts; want every one of the 300 users logged in", c.Logins, c.Accounts)
	}
	if c.Active != 0 {
		t.Errorf("%d accounts still logged in after the test", c.Active)
	}
	summary := locusttest.FinalSummary(m.Output.String())
	if take := summary["take"]; take.Requests != 0 || take.Failures != 0 {
		t.Errorf("users without an account: %+v", take)
	}
	for _, path := range []string{"/login", "/orders", "/logout"} {
		if summary[path].Requests == 0 {
			t.Errorf("the master counted no %s requests", path)
		}
	}
	total := summary["Aggregated"]
	if total.Requests != target.Total() || total.Failures != 0 {
		t.Errorf("master counted %d requests (%d failed); the shop served %d", total.Requests, total.Failures, target.Total())
	}
	workers := fmt.Sprint(m.Output.Count("reported as ready"))
	t.Logf("shop %+v; master = shop = %d requests; %s worker registrations", c, total.Requests, workers)
}
