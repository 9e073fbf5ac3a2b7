package worker_test

import (
	"fmt"
	"html"
	"strconv"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

// TestStopTimeoutWithMaster stops a test through a real master's web UI
// while every user is in the middle of a 2 s task: with --stop-timeout 5
// every task completes, with --stop-timeout 1 every one is cancelled; in
// both cases every user's OnStop runs.
func TestStopTimeoutWithMaster(t *testing.T) {
	bin := locusttest.Build(t, "./testdata/sleeper")
	tests := []struct {
		stopTimeout   int
		wantCancelled bool
	}{
		{5, false},
		{1, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("stop_timeout=%d", tt.stopTimeout), func(t *testing.T) {
			t.Parallel()
			const users = 3
			m := locusttest.StartMaster(t, "testdata/sleeper/locustfile.py", "--stop-timeout", strconv.Itoa(tt.stopTimeout))
			locusttest.Start(t, ".", bin, "--master-host", "127.0.0.1", "--master-port", strconv.Itoa(m.Port))
			m.Output.WaitFor(t, "reported as ready", 1, 30*time.Second)
			m.Swarm(t, users, users, "")
			// Wait for the first sleeps to end: from then on every user is
			// always inside a sleep (there is no wait time).
			locusttest.Eventually(t, 20*time.Second, func() string {
				if n := m.Stats(t).Row("sleep").NumRequests; n < users {
					return fmt.Sprintf("%d sleeps recorded", n)
				}
				return ""
			})
			m.StopTest(t)
			var st locusttest.Stats
			locusttest.Eventually(t, 20*time.Second, func() string {
				st = m.Stats(t)
				if st.State != "stopped" || st.Row("on_stop").NumRequests < users {
					return fmt.Sprintf("master %q, %d OnStops recorded", st.State, st.Row("on_stop").NumRequests)
				}
				return ""
			})
			sleep := st.Row("sleep")
			if got := st.Row("on_stop").NumRequests; got != users {
				t.Errorf("OnStop ran %d times, want %d", got, users)
			}
			if tt.wantCancelled {
				if sleep.NumFailures != users {
					t.Errorf("%d sleeps cancelled under stop_timeout %d s, want %d (one per user)", sleep.NumFailures, tt.stopTimeout, users)
				}
				if len(st.Errors) != 1 || html.UnescapeString(st.Errors[0].Error) != "'cancelled by the stop timeout'" {
					t.Errorf("failures %+v", st.Errors)
				}
			} else if sleep.NumFailures != 0 {
				t.Errorf("%d sleeps cancelled under stop_timeout %d s, want 0", sleep.NumFailures, tt.stopTimeout)
			}
			t.Logf("stop_timeout %d s: %d sleeps in all, %d cancelled, %d OnStops", tt.stopTimeout, sleep.NumRequests, sleep.NumFailures, st.Row("on_stop").NumRequests)
		})
	}
}
