package main

import (
	"fmt"
	"os"
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
	m := locusttest.StartMaster(t, "locustfile.py", "--stop-timeout", "3")
	goWorkers := []*locusttest.Process{locusttest.StartWorker(t, m, "."), locusttest.StartWorker(t, m, ".")}
	py := locusttest.StartPythonWorker(t, m, "locustfile.py")
	m.Output.WaitFor(t, "3 workers connected", 1, 30*time.Second)

	m.Swarm(t, 300, 150, target.URL)
	locusttest.Eventually(t, 30*time.Second, func() string {
		if st := m.Stats(t); st.UserCount != 300 || s.Counts().Logins < 300 {
			return fmt.Sprintf("master shows %d users; the shop %d logins", st.UserCount, s.Counts().Logins)
		}
		return ""
	})
	time.Sleep(5 * time.Second) // the users shop for a while
	m.StopTest(t)
	// A Python worker reports what its users did every 3 s, also after a
	// stop: wait for the master's count to reach the shop's.
	var total int64
	locusttest.Eventually(t, 15*time.Second, func() string {
		st := m.Stats(t)
		total = st.Row("Aggregated").NumRequests
		if st.State != "stopped" || total != target.Total() {
			return fmt.Sprintf("master %q with %d requests; the shop served %d", st.State, total, target.Total())
		}
		return ""
	})
	summary := m.Stats(t)
	if err := m.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
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
	if take := summary.Row("take"); take.NumRequests != 0 || take.NumFailures != 0 {
		t.Errorf("users without an account: %+v", take)
	}
	for _, path := range []string{"/login", "/orders", "/logout"} {
		if summary.Row(path).NumRequests == 0 {
			t.Errorf("the master counted no %s requests", path)
		}
	}
	if failed := summary.Row("Aggregated").NumFailures; failed != 0 {
		t.Errorf("the master counted %d failures", failed)
	}
	t.Logf("shop %+v; master = shop = %d requests", c, total)
}
