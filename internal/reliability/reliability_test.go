// Package reliability holds integration tests of golocust's worker against
// real Locust 2.12.1 masters that stop, quit, die and restart, and against
// a fake master in Go where a real one cannot misbehave on purpose. The
// worker under test is internal/testworker.
package reliability

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

const testWorkerPkg = "github.com/golocust/golocust/internal/testworker"

// startWorker runs the test worker as a worker of the master on port.
func startWorker(t *testing.T, port int, args ...string) *locusttest.Process {
	t.Helper()
	bin := locusttest.Build(t, testWorkerPkg)
	return locusttest.Start(t, ".", bin, append([]string{"--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port)}, args...)...)
}

// startMasterOn starts a master (web UI unless args say --headless) bound
// to the given worker port.
func startMasterOn(t *testing.T, port int, args ...string) *locusttest.Master {
	t.Helper()
	m := locusttest.StartMaster(t, "locustfile.py", append(args, "--master-bind-port", strconv.Itoa(port))...)
	m.Port = port
	return m
}

func served(tg *locusttest.Target, before map[string]int64) int64 {
	var n int64
	for path, c := range tg.Counts() {
		n += c - before[path]
	}
	return n
}

// TestStopSpawnCyclesThenQuit runs five stop/spawn cycles, checking after
// each stop that the master counted exactly what the target served, then
// starts a sixth test and has the master quit in the middle of it: the
// worker's last report must still arrive within the master's 0.5 s.
func TestStopSpawnCyclesThenQuit(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "locustfile.py", "--stop-timeout", "2", "Steady")
	w := startWorker(t, m.Port)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)

	var before map[string]int64
	for round := 1; round <= 6; round++ {
		before = target.Counts()
		m.Swarm(t, 10, 10, target.URL)
		locusttest.Eventually(t, 15*time.Second, func() string {
			s := m.Stats(t)
			if got := served(target, before); s.UserCount != 10 || got < 40 {
				return fmt.Sprintf("round %d: master shows %d users; the target served %d", round, s.UserCount, got)
			}
			return ""
		})
		if round == 6 {
			break // the sixth test ends with the master's quit
		}
		m.StopTest(t)
		locusttest.Eventually(t, 15*time.Second, func() string {
			s := m.Stats(t)
			got, want := s.Row("Aggregated").NumRequests, served(target, before)
			if s.State != "stopped" || got != want {
				return fmt.Sprintf("round %d: master state %q with %d requests; the target served %d", round, s.State, got, want)
			}
			return ""
		})
		t.Logf("round %d: stopped; master and target agree on %d requests", round, served(target, before))
		m.Output.WaitFor(t, "reported as ready", round+1, 20*time.Second)
	}

	if err := m.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := w.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("worker exit code %d after the master's quit, want 0", code)
	}
	m.Wait(t, 20*time.Second)
	summary := locusttest.FinalSummary(m.Output.String())
	if summary == nil {
		t.Fatal("no final statistics table in the master's output")
	}
	// The master's final table covers the sixth test only.
	if got, want := summary["Aggregated"].Requests, served(target, before); got != want {
		t.Errorf("after the master's quit mid-test: master counted %d requests, the target served %d", got, want)
	} else {
		t.Logf("quit mid-test: master and target agree on %d requests", got)
	}
}

// TestStopTestFromUserCode: a user calls worker.StopTest. Like a Locust
// worker whose runner quits, the worker stops its users, letting them
// finish their tasks within the stop timeout, sends its last statistics
// and quits with exit code 0; the headless master, whose last worker that
// was, stops the test and exits long before its -t, and its final count
// equals what the target served, without a failure. (With a stop timeout
// of 0 a request cut short is a RequestCancelled failure that the target
// may or may not have seen, as with SIGTERM.)
func TestStopTestFromUserCode(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "locustfile.py", "--headless", "-u", "5", "-r", "5", "-t", "60s",
		"--stop-timeout", "2", "--expect-workers", "1", "--host", target.URL, "Quitter")
	w := startWorker(t, m.Port)
	if code := w.Wait(t, 30*time.Second); code != 0 {
		t.Errorf("worker exit code %d after a user's StopTest, want 0", code)
	}
	m.Wait(t, 30*time.Second)
	if !strings.Contains(m.Output.String(), "The last worker quit, stopping test") {
		t.Errorf("the master never stopped the test for its last worker's quit; its output:\n%s", m.Output.String())
	}
	summary := locusttest.FinalSummary(m.Output.String())
	if summary == nil {
		t.Fatal("no final statistics table in the master's output")
	}
	agg := summary["Aggregated"]
	if got, want := agg.Requests, target.Total(); got != want || want < 10 || agg.Failures != 0 {
		t.Errorf("master counted %d requests (%d failures), the target served %d (want equal, at least 10, no failure)", got, agg.Failures, want)
	}
}

// TestSIGTERMMidRun sends SIGTERM to the worker during a test: the master
// must log the worker's quit within a second, and count exactly what the
// target served.
func TestSIGTERMMidRun(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "locustfile.py", "--stop-timeout", "2", "Steady")
	w := startWorker(t, m.Port)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)
	m.Swarm(t, 10, 10, target.URL)
	locusttest.Eventually(t, 15*time.Second, func() string {
		if s := m.Stats(t); s.UserCount != 10 || target.Total() < 100 {
			return fmt.Sprintf("master shows %d users; the target served %d", s.UserCount, target.Total())
		}
		return ""
	})

	heard := sigtermHeard(t, m, w)
	if code := w.Wait(t, 10*time.Second); code != 0 {
		t.Errorf("worker exit code %d after SIGTERM, want 0", code)
	}
	locusttest.Eventually(t, 10*time.Second, func() string {
		if got, want := m.Stats(t).Row("Aggregated").NumRequests, target.Total(); got != want {
			return fmt.Sprintf("master counted %d requests; the target served %d", got, want)
		}
		return ""
	})
	t.Logf("SIGTERM: master logged the quit after %s; master and target agree on %d requests", heard.Round(time.Millisecond), target.Total())
}

var debugURL = regexp.MustCompile(`testworker debug (http://127\.0\.0\.1:\d+)`)

// goroutines asks the test worker how many goroutines it runs.
func goroutines(t *testing.T, w *locusttest.Process) int {
	t.Helper()
	match := debugURL.FindStringSubmatch(w.Output.String())
	if match == nil {
		t.Fatal("the test worker printed no debug address")
	}
	resp, err := http.Get(match[1] + "/goroutines")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(body)))
	if err != nil {
		t.Fatalf("goroutines: %q: %v", body, err)
	}
	return n
}

// TestMasterRestart kills the master (SIGKILL) in the middle of a test and
// starts a new one on the same port, three times: each time the worker is
// counted by the new master within 5 s, stops the users the new master did
// not ask for, runs the users of the new master's test, and runs no more
// goroutines than after the first restart.
func TestMasterRestart(t *testing.T) {
	t.Parallel()
	target := locusttest.StartTarget(t, nil)
	port := locusttest.FreePort(t)
	m := startMasterOn(t, port, "Steady")
	w := startWorker(t, port)
	w.Output.WaitFor(t, "testworker debug", 1, 20*time.Second)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)

	var counts []int
	for round := 0; round <= 3; round++ {
		if round > 0 {
			if err := m.Cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-m.Done()
			restart := time.Now()
			m = startMasterOn(t, port, "Steady")
			up := time.Since(restart)
			m.Output.WaitFor(t, "reported as ready", 1, 15*time.Second)
			counted := time.Since(restart)
			if counted > 5*time.Second {
				t.Errorf("restart %d: the new master counted the worker %s after it was started, want within 5 s", round, counted)
			}
			t.Logf("restart %d: master up after %s, worker counted after %s", round, up.Round(time.Millisecond), counted.Round(time.Millisecond))
			// The new master did not start a test: the worker stops the old
			// test's users and waits for the new master's command.
			w.Output.WaitFor(t, "the master did not resume the test", round, 15*time.Second)
			locusttest.Eventually(t, 10*time.Second, func() string {
				if s := m.Stats(t); s.UserCount != 0 {
					return fmt.Sprintf("restart %d: the new master shows %d users before any test", round, s.UserCount)
				}
				return ""
			})
			counts = append(counts, goroutines(t, w))
		}
		before := target.Counts()
		m.Swarm(t, 10, 10, target.URL)
		locusttest.Eventually(t, 15*time.Second, func() string {
			s := m.Stats(t)
			if s.UserCount != 10 || s.Row("Aggregated").NumRequests < 30 || served(target, before) < 30 {
				return fmt.Sprintf("round %d: master shows %d users and %d requests; the target served %d",
					round, s.UserCount, s.Row("Aggregated").NumRequests, served(target, before))
			}
			return ""
		})
	}
	t.Logf("goroutines after each restart, users stopped: %v", counts)
	// Goroutines that leak with each restart would show as growth from
	// the first to the third restart. The count leaves out the goroutines
	// of HTTP connections, which come and go with idle timeouts (they
	// made 35 -> 43 once); the slack is for goroutines that end a moment
	// late.
	locusttest.Eventually(t, 10*time.Second, func() string {
		if g := goroutines(t, w); g > counts[0]+4 && counts[2] > counts[0]+4 {
			return fmt.Sprintf("goroutines after restarts: %v; now %d", counts, g)
		}
		return ""
	})

	if err := m.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := w.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("worker exit code %d after the master's quit, want 0", code)
	}
}

// TestWorkerBeforeMaster starts the worker 10 s before its master: it says
// it is waiting, joins, runs the test and quits with it.
func TestWorkerBeforeMaster(t *testing.T) {
	t.Parallel()
	target := locusttest.StartTarget(t, nil)
	port := locusttest.FreePort(t)
	w := startWorker(t, port)
	w.Output.WaitFor(t, "waiting for the Locust master", 1, 10*time.Second)
	w.Output.WaitFor(t, "still waiting for the Locust master", 1, 15*time.Second)
	if n := w.Output.Count("still waiting for the Locust master"); n != 1 {
		t.Errorf("the worker said %d times within 10 s that it still waits, want once", n)
	}
	if !strings.Contains(w.Output.String(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Errorf("the worker's waiting lines do not name the master's address:\n%s", w.Output)
	}

	m := startMasterOn(t, port, "--headless", "-u", "5", "-r", "5", "-t", "3s", "--expect-workers", "1",
		"--host", target.URL, "Steady")
	if code := w.Wait(t, 40*time.Second); code != 0 {
		t.Errorf("worker exit code %d after the master's quit, want 0", code)
	}
	if code := m.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("master exit code %d, want 0", code)
	}
	summary := locusttest.FinalSummary(m.Output.String())
	if got := summary["Aggregated"].Requests; got != target.Total() || got < 50 {
		t.Errorf("master counted %d requests; the target served %d (want equal, at least 50)", got, target.Total())
	}
	t.Logf("worker started 10 s early: joined, ran, quit; master and target agree on %d requests", target.Total())
}

// TestPanicsCounted runs users whose task panics on every 10th run: the
// master's exception count equals the panics the target saw announced,
// in one row (identical panics are grouped), with the Go stack trace,
// both in /exceptions and in the exceptions CSV; every request counts.
func TestPanicsCounted(t *testing.T) {
	t.Parallel()
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "locustfile.py", "--stop-timeout", "2", "--csv", "run", "Panicky")
	w := startWorker(t, m.Port)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)
	m.Swarm(t, 5, 5, target.URL)
	locusttest.Eventually(t, 20*time.Second, func() string {
		if n := target.Counts()["/boom"]; n < 30 {
			return fmt.Sprintf("%d panics so far", n)
		}
		return ""
	})
	m.StopTest(t)
	locusttest.Eventually(t, 15*time.Second, func() string {
		s := m.Stats(t)
		if got := s.Row("Aggregated").NumRequests; s.State != "stopped" || got != target.Total() {
			return fmt.Sprintf("master state %q with %d requests; the target served %d", s.State, got, target.Total())
		}
		return ""
	})
	panics := target.Counts()["/boom"]

	var ex struct {
		Exceptions []struct {
			Count     int64  `json:"count"`
			Msg       string `json:"msg"`
			Traceback string `json:"traceback"`
		} `json:"exceptions"`
	}
	getJSON(t, fmt.Sprintf("http://127.0.0.1:%d/exceptions", m.WebPort), &ex)
	var total int64
	for _, e := range ex.Exceptions {
		total += e.Count
	}
	if total != panics || len(ex.Exceptions) != 1 {
		t.Errorf("master's /exceptions: %d rows counting %d; the target saw %d panics (want one row)", len(ex.Exceptions), total, panics)
		for _, e := range ex.Exceptions[:min(2, len(ex.Exceptions))] {
			t.Logf("traceback:\n%s", e.Traceback)
		}
	}
	if len(ex.Exceptions) > 0 && (!strings.Contains(ex.Exceptions[0].Traceback, "main.explode") || !strings.Contains(ex.Exceptions[0].Msg, "planned panic")) {
		t.Errorf("exception lacks the Go stack trace:\nmsg %s\n%s", ex.Exceptions[0].Msg, ex.Exceptions[0].Traceback)
	}
	if n := strings.Count(w.Output.String(), "user code failed"); n >= int(panics) {
		t.Errorf("the worker logged %d lines for %d identical panics; want them rate-limited", n, panics)
	}

	// After client_stopped the master forgets the worker until its
	// client_ready, stop_timeout later: only then does it get the quit.
	m.Output.WaitFor(t, "reported as ready", 2, 20*time.Second)
	if err := m.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	w.Wait(t, 20*time.Second)
	m.Wait(t, 20*time.Second)
	f, err := os.Open(filepath.Join(m.Dir, "run_exceptions.csv"))
	if err != nil {
		t.Fatalf("master wrote no exceptions CSV: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var csvTotal int64
	for _, r := range rows[1:] {
		n, _ := strconv.ParseInt(r[0], 10, 64)
		csvTotal += n
	}
	if csvTotal != panics || len(rows) != 2 {
		t.Errorf("run_exceptions.csv: %d rows counting %d; the target saw %d panics:\n%v", len(rows)-1, csvTotal, panics, rows)
	}
	t.Logf("%d panics: master /exceptions %d, CSV %d, %d worker log lines; %d requests agree", panics, total, csvTotal,
		strings.Count(w.Output.String(), "user code failed"), target.Total())
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// TestSignalsWithStuckUsers: users whose task ignores its cancelled
// context do not delay the worker's quit beyond a second after the first
// SIGTERM, and a second SIGTERM exits at once.
func TestSignalsWithStuckUsers(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "locustfile.py", "Stuck")
	w := startWorker(t, m.Port)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)
	m.Swarm(t, 2, 2, target.URL)
	locusttest.Eventually(t, 15*time.Second, func() string {
		if n := target.Counts()["/stuck"]; n != 2 {
			return fmt.Sprintf("%d stuck users, want 2", n)
		}
		return ""
	})

	heard := sigtermHeard(t, m, w)
	select {
	case <-w.Done():
		t.Fatal("the worker exited before the second signal; the test cannot check it")
	default:
	}
	second := time.Now()
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := w.Wait(t, 5*time.Second)
	exited := time.Since(second)
	if code != 1 || exited > 500*time.Millisecond {
		t.Errorf("after a second SIGTERM the worker exited with %d after %s, want 1 at once", code, exited)
	}
	locusttest.Eventually(t, 10*time.Second, func() string {
		if got, want := m.Stats(t).Row("Aggregated").NumRequests, target.Total(); got != want {
			return fmt.Sprintf("master counted %d requests; the target served %d", got, want)
		}
		return ""
	})
	t.Logf("stuck users: quit heard %s after the first SIGTERM; exit %d %s after the second", heard.Round(time.Millisecond), code, exited.Round(time.Millisecond))
}

// sigtermHeard sends SIGTERM to the worker and returns how long the master
// took to log its quit, failing the test beyond 1 s.
func sigtermHeard(t *testing.T, m *locusttest.Master, w *locusttest.Process) time.Duration {
	t.Helper()
	sent := time.Now()
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	m.Output.WaitFor(t, ") quit.", 1, 5*time.Second)
	heard := time.Since(sent)
	if heard > time.Second {
		t.Errorf("the master logged the worker's quit %s after SIGTERM, want within 1 s", heard)
	}
	return heard
}
