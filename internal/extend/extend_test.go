// Package extend holds the extensibility tests with a real Locust master:
// hooks and custom messages of a Go worker (internal/testworker's class
// Hooked), read back from what the master's locustfile prints.
package extend

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

var messageLine = regexp.MustCompile(`GO_MESSAGE (\w+) (\S+) (.*)`)

// messages returns the Go worker's messages the master printed, in order,
// as "name data".
func messages(out string) []string {
	var got []string
	for _, m := range messageLine.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1]+" "+m[3])
	}
	return got
}

// TestHooksAndMessagesAcrossTests starts and stops a test three times
// through the master's web API. Each time the Go worker's TestStart and
// TestStop hooks run exactly once (their messages reach the master's
// listener in that order), each user's message from its first task
// reaches the master, and the request listener saw exactly the requests
// the master counted, which are those the target served.
func TestHooksAndMessagesAcrossTests(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "testdata/hooks.py", "--stop-timeout", "2")
	w := locusttest.StartWorker(t, m, "../testworker")
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)

	const users = 10
	seen := 0
	for round := 1; round <= 3; round++ {
		before := target.Total()
		m.Swarm(t, users, 100, target.URL)
		locusttest.Eventually(t, 15*time.Second, func() string {
			if s := m.Stats(t); s.UserCount != users || s.Row("Aggregated").NumRequests < 20 {
				return fmt.Sprintf("round %d: master shows %d users, %d requests", round, s.UserCount, s.Row("Aggregated").NumRequests)
			}
			return ""
		})
		m.StopTest(t)
		var counted int64
		locusttest.Eventually(t, 15*time.Second, func() string {
			s := m.Stats(t)
			counted = s.Row("Aggregated").NumRequests
			if s.State != "stopped" || m.Output.Count("GO_MESSAGE test_stop") < round {
				return fmt.Sprintf("round %d: master %q, %d test_stop messages", round, s.State, m.Output.Count("GO_MESSAGE test_stop"))
			}
			return ""
		})
		if served := target.Total() - before; counted != served {
			t.Errorf("round %d: master counted %d requests, the target served %d", round, counted, served)
		}
		got := messages(m.Output.String())[seen:]
		seen += len(got)
		want := []string{"test_start None"}
		for range users {
			want = append(want, "hello {'from': 'go'}")
		}
		want = append(want, "seen "+strconv.FormatInt(counted, 10), "test_stop None")
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("round %d: the master got\n%q\nwant\n%q", round, got, want)
		}
		m.Output.WaitFor(t, "reported as ready", round+1, 20*time.Second)
	}
	if err := m.Signal(interrupt); err != nil {
		t.Fatal(err)
	}
	if code := w.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("worker exit code %d, want 0", code)
	}
}
