//go:build linux

package main

// This file owns one run of the seed scenario end to end: a target, a real
// Locust master and one golocust worker, driven through the master's web
// API like a person would, measured from outside. main.go prints its
// report; seed_test.go runs a CI-sized one.

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

//go:embed locustfile.py
var locustfile []byte

// config is one run's scenario and setup.
type config struct {
	Users      int           // users to reach
	Rate       float64       // spawn rate, users per second
	Pacing     time.Duration // each user's constant pacing
	Client     string        // "std" (HTTPUser) or "fast" (FastHTTPUser)
	LoginRatio float64       // share of users that log in
	Measure    time.Duration // the window the steady rate is measured over; 0 means Pacing
	Self       string        // the binary to run the target and worker roles with
	Locust     string        // the locust program
	WorkerCPUs string        // taskset cores of the worker; "" unpinned
	TargetCPUs string        // taskset cores of the target; "" unpinned
	WorkerEnv  []string      // extra environment of the worker (GOGC, GODEBUG, ...)
	HogAt      time.Duration // after the swarm, a busy loop starts on the worker's cores...
	HogFor     time.Duration // ...for this long; 0: none
	WorkerLog  string        // when set, the worker's output is written to this file
	MasterLog  string        // when set, the master's output is written to this file
	Log        io.Writer     // progress lines
}

// report is what a run measured.
type report struct {
	Users          int           // asked for
	MaxUsers       int           // the most users the master reported
	ReachedAfter   time.Duration // from the swarm to the master reporting all users; 0 if never
	MissingSeen    int           // polls in which the master showed the worker missing, plus its "missing" log lines
	WorstGap       string        // the worker's own worst heartbeat gap
	LateBeats      string        // heartbeats 2 s or more after the previous one
	PeakRSS        int64         // the worker's VmHWM
	WorkerCPU      time.Duration // the worker's CPU time until the stop
	Rate           float64       // requests per second the target served over the measure window
	RateWindow     time.Duration // the window's length
	MasterRequests int64         // the master's total after the stop
	MasterFailures int64
	AvgRT, MaxRT   float64 // the master's response times over the whole test, ms
	TargetServed   int64   // the target's count after the stop
	MaxConns       int64   // most connections the target saw open at once
	Dialed         int64   // connections the target accepted in all
	WorkerExit     int
}

// expectedRate is the steady request rate the pacing gives: one task per
// user per pacing period.
func (c config) expectedRate() float64 { return float64(c.Users) / c.Pacing.Seconds() }

// freePort returns a port free on 127.0.0.1 now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// run runs the scenario and returns what it measured. It stops every
// process it started before it returns.
func run(c config) (rep report, err error) {
	rep.Users = c.Users
	logf := func(format string, args ...any) { fmt.Fprintf(c.Log, format+"\n", args...) }
	dir, err := os.MkdirTemp("", "seed")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	lf := filepath.Join(dir, "locustfile.py")
	if err := os.WriteFile(lf, locustfile, 0o644); err != nil {
		return rep, err
	}

	target, err := start("target", c.TargetCPUs, []string{"SEED_ROLE=target"}, c.Self)
	if err != nil {
		return rep, err
	}
	defer target.stop(syscall.SIGKILL, time.Second)
	line, err := target.waitLine("seed target", 10*time.Second)
	if err != nil {
		return rep, err
	}
	var targetURL, controlURL string
	fmt.Sscanf(line, "seed target %s control %s", &targetURL, &controlURL)

	port, err := freePort()
	if err != nil {
		return rep, err
	}
	webPort, err := freePort()
	if err != nil {
		return rep, err
	}
	m := master{web: "http://127.0.0.1:" + strconv.Itoa(webPort)}
	m.proc, err = start("master", "", nil, "/usr/bin/python3", c.Locust, "-f", lf, "--master",
		"--master-bind-host", "127.0.0.1", "--master-bind-port", strconv.Itoa(port),
		"--web-host", "127.0.0.1", "--web-port", strconv.Itoa(webPort),
		"--login-ratio", strconv.FormatFloat(c.LoginRatio, 'g', -1, 64))
	if err != nil {
		return rep, err
	}
	defer m.proc.stop(syscall.SIGKILL, time.Second)
	if _, err := m.proc.waitLine("Starting web interface", 30*time.Second); err != nil {
		return rep, err
	}

	env := append([]string{"SEED_ROLE=worker", "SEED_CLIENT=" + c.Client, "SEED_PACING=" + c.Pacing.String()}, c.WorkerEnv...)
	w, err := start("worker", c.WorkerCPUs, env, c.Self, "--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port))
	if err != nil {
		return rep, err
	}
	defer w.stop(syscall.SIGKILL, time.Second)
	defer saveOutput(c.WorkerLog, w)
	defer saveOutput(c.MasterLog, m.proc)
	if err := m.waitFor(30*time.Second, func(s masterStats) bool { return len(s.Workers) == 1 }); err != nil {
		return rep, fmt.Errorf("the worker did not join: %w\n%s", err, tail(w.output(), 2000))
	}

	if err := m.swarm(c.Users, c.Rate, targetURL); err != nil {
		return rep, err
	}
	swarmAt := time.Now()
	logf("swarm: %d users at %g/s, %s pacing, %s client", c.Users, c.Rate, c.Pacing, c.Client)
	if c.HogFor > 0 {
		hog := time.AfterFunc(c.HogAt, func() { runHog(c.WorkerCPUs, c.HogFor, logf) })
		defer hog.Stop()
	}
	rampLimit := time.Duration(float64(c.Users)/c.Rate*float64(time.Second)) + 60*time.Second
	for time.Since(swarmAt) < rampLimit {
		s, err := m.stats()
		if err != nil {
			return rep, err
		}
		rep.note(s)
		if s.UserCount >= c.Users {
			rep.ReachedAfter = time.Since(swarmAt)
			break
		}
		if sec := int(time.Since(swarmAt).Seconds()); sec%5 == 0 {
			logf("  %3ds: %d users, worker RSS %d MiB", sec, s.UserCount, statusBytes(w.pid(), "VmRSS")>>20)
		}
		time.Sleep(time.Second)
	}
	if rep.ReachedAfter == 0 {
		logf("the master never reported %d users (most: %d)", c.Users, rep.MaxUsers)
	} else {
		logf("all %d users after %s", c.Users, rep.ReachedAfter.Round(100*time.Millisecond))
		window := c.Measure
		if window <= 0 {
			window = c.Pacing
		}
		if err := rep.measureRate(m, target, controlURL, window, logf); err != nil {
			return rep, err
		}
	}

	rep.PeakRSS = statusBytes(w.pid(), "VmHWM")
	rep.WorkerCPU = cpuTime(w.pid())
	if err := m.stop(); err != nil {
		return rep, err
	}
	if err := rep.settle(m, controlURL); err != nil {
		return rep, err
	}
	m.proc.stop(syscall.SIGTERM, 15*time.Second) // the master's quit ends the worker
	select {
	case <-w.done:
		rep.WorkerExit = w.code
	case <-time.After(15 * time.Second):
		rep.WorkerExit = w.stop(syscall.SIGKILL, time.Second)
	}
	rep.MissingSeen += strings.Count(m.proc.output(), "setting state to missing")
	rep.WorstGap, rep.LateBeats = heartbeatLine(w.output())
	return rep, nil
}

// runHog runs a shell's busy loop, pinned to the worker's cores (cpus;
// unpinned when empty), for d, as another tenant of the machine would:
// on one core, the worker gets about half of it meanwhile.
func runHog(cpus string, d time.Duration, logf func(string, ...any)) {
	hog, err := start("hog", cpus, nil, "sh", "-c", "while :; do :; done")
	if err != nil {
		logf("hog: %v", err)
		return
	}
	logf("hog: a busy loop on cores %q for %s", cpus, d)
	time.Sleep(d)
	hog.stop(syscall.SIGKILL, time.Second)
	logf("hog: stopped")
}

// saveOutput writes p's output to file, when file is set.
func saveOutput(file string, p *proc) {
	if file != "" {
		os.WriteFile(file, []byte(p.output()), 0o644)
	}
}

// note keeps what one poll of the master shows.
func (r *report) note(s masterStats) {
	r.MaxUsers = max(r.MaxUsers, s.UserCount)
	for _, w := range s.Workers {
		if w.State == "missing" {
			r.MissingSeen++
		}
	}
}

// measureRate counts what the target serves over window, polling the
// master meanwhile.
func (r *report) measureRate(m master, target *proc, control string, window time.Duration, logf func(string, ...any)) error {
	before, err := counts(control)
	if err != nil {
		return err
	}
	t0 := time.Now()
	for time.Since(t0) < window {
		time.Sleep(time.Second)
		s, err := m.stats()
		if err != nil {
			return err
		}
		r.note(s)
	}
	after, err := counts(control)
	if err != nil {
		return err
	}
	r.RateWindow = time.Since(t0)
	r.Rate = float64(after.Served-before.Served) / r.RateWindow.Seconds()
	logf("steady: %.0f requests/s over %s", r.Rate, r.RateWindow.Round(time.Second))
	return nil
}

// settle waits after a stop until the master's total equals the target's
// count (the worker's last report is in) or 20 s pass.
func (r *report) settle(m master, control string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := m.stats()
		if err != nil {
			return err
		}
		tc, err := counts(control)
		if err != nil {
			return err
		}
		total := s.row("Aggregated")
		r.MasterRequests, r.MasterFailures, r.TargetServed = total.NumRequests, total.NumFailures, tc.Served
		r.AvgRT, r.MaxRT = total.AvgRT, total.MaxRT
		r.MaxConns, r.Dialed = tc.MaxConns, tc.Dialed
		stopped := s.UserCount == 0 && len(s.Workers) == 1 && s.Workers[0].State != "running" && s.Workers[0].State != "spawning"
		if stopped && r.MasterRequests == r.TargetServed || time.Now().After(deadline) {
			return nil
		}
		time.Sleep(500 * time.Millisecond)
	}
}

var heartbeatRE = regexp.MustCompile(`heartbeats during the test.*worst_gap=(\S+) late=(\d+)`)

// heartbeatLine returns the worst gap and late count of the worker's
// first end-of-test heartbeat line.
func heartbeatLine(out string) (worst, late string) {
	if m := heartbeatRE.FindStringSubmatch(out); m != nil {
		return m[1], m[2]
	}
	return "not logged", "?"
}

// counts reads the target's counters.
func counts(control string) (targetCounts, error) {
	var c targetCounts
	resp, err := http.Get(control)
	if err != nil {
		return c, fmt.Errorf("target counts: %w", err)
	}
	defer resp.Body.Close()
	return c, json.NewDecoder(resp.Body).Decode(&c)
}

// master is the Locust master's web API.
type master struct {
	web  string
	proc *proc
}

type masterStats struct {
	State     string `json:"state"`
	UserCount int    `json:"user_count"`
	Stats     []struct {
		Name        string  `json:"name"`
		NumRequests int64   `json:"num_requests"`
		NumFailures int64   `json:"num_failures"`
		AvgRT       float64 `json:"avg_response_time"`
		MaxRT       float64 `json:"max_response_time"`
	} `json:"stats"`
	Workers []struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		UserCount int    `json:"user_count"`
	} `json:"workers"`
}

func (s masterStats) row(name string) (out statsRow) {
	for _, r := range s.Stats {
		if r.Name == name {
			out = statsRow{r.NumRequests, r.NumFailures, r.AvgRT, r.MaxRT}
		}
	}
	return out
}

// statsRow is one row of the master's table, in part.
type statsRow struct {
	NumRequests, NumFailures int64
	AvgRT, MaxRT             float64 // milliseconds
}

func (m master) stats() (masterStats, error) {
	var s masterStats
	resp, err := http.Get(m.web + "/stats/requests")
	if err != nil {
		return s, fmt.Errorf("master stats: %w", err)
	}
	defer resp.Body.Close()
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func (m master) waitFor(timeout time.Duration, cond func(masterStats) bool) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s, err := m.stats(); err == nil && cond(s) {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("timed out waiting for the master")
}

func (m master) swarm(users int, rate float64, host string) error {
	resp, err := http.PostForm(m.web+"/swarm", url.Values{
		"user_count": {strconv.Itoa(users)}, "spawn_rate": {strconv.FormatFloat(rate, 'g', -1, 64)}, "host": {host}})
	if err != nil {
		return fmt.Errorf("POST /swarm: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "true") {
		return fmt.Errorf("POST /swarm: %s %s", resp.Status, body)
	}
	return nil
}

func (m master) stop() error {
	resp, err := http.Get(m.web + "/stop")
	if err != nil {
		return fmt.Errorf("GET /stop: %w", err)
	}
	resp.Body.Close()
	return nil
}
