package worker

// Tests of the load models as a user runs them: the command line against
// a target on 127.0.0.1 that notes when each request arrived, and rates
// measured by that target.

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// timedTarget serves "ok" after delay and notes when each request
// arrived.
type timedTarget struct {
	*httptest.Server
	delay time.Duration
	// freezeAt, freezeFor: requests arriving in that stretch (from the
	// first request) are held until its end.
	freezeAt, freezeFor time.Duration

	mu    sync.Mutex
	first time.Time
	times []time.Time
}

func newTimedTarget(t *testing.T, delay time.Duration) *timedTarget {
	tg := &timedTarget{delay: delay}
	tg.Server = httptest.NewServer(http.HandlerFunc(tg.serve))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *timedTarget) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	tg.mu.Lock()
	if tg.first.IsZero() {
		tg.first = now
	}
	tg.times = append(tg.times, now)
	first := tg.first
	tg.mu.Unlock()
	wait := tg.delay
	if tg.freezeFor > 0 {
		if from := first.Add(tg.freezeAt); !now.Before(from) && now.Before(from.Add(tg.freezeFor)) {
			wait += from.Add(tg.freezeFor).Sub(now)
		}
	}
	if wait > 0 {
		select {
		case <-time.After(wait):
		case <-r.Context().Done():
		}
	}
	io.WriteString(w, "ok")
}

// served returns how many requests arrived and the rate of those that
// arrived from `from` to `to` after the first.
func (tg *timedTarget) served(from, to time.Duration) (total int, perSecond float64) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	n := 0
	for _, at := range tg.times {
		if d := at.Sub(tg.first); d >= from && d < to {
			n++
		}
	}
	return len(tg.times), float64(n) / (to - from).Seconds()
}

// getUser gets "/" once per task, without waiting.
type getUser struct{ HTTPUser }

func (u *getUser) Tasks() []Task {
	return []Task{{Name: "get", Run: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/"); return err }}}
}

func getClass() *UserClass { return Class("GetUser", func() *getUser { return &getUser{} }) }

// jsonRows reads --json output into rows by method and name.
func jsonRows(t *testing.T, out string) map[string]struct {
	NumRequests int64 `json:"num_requests"`
	NumFailures int64 `json:"num_failures"`
} {
	t.Helper()
	var rows []struct {
		Name        string `json:"name"`
		Method      string `json:"method"`
		NumRequests int64  `json:"num_requests"`
		NumFailures int64  `json:"num_failures"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	byKey := map[string]struct {
		NumRequests int64 `json:"num_requests"`
		NumFailures int64 `json:"num_failures"`
	}{}
	for _, r := range rows {
		v := byKey[r.Method+" "+r.Name]
		v.NumRequests += r.NumRequests
		v.NumFailures += r.NumFailures
		byKey[r.Method+" "+r.Name] = v
	}
	return byKey
}

// within reports whether got is within frac of want.
func within(got, want, frac float64) bool { return got >= want*(1-frac) && got <= want*(1+frac) }

// TestMaxRPSHoldsTheRate: 50 users without wait under --max-rps 200 make
// 200 requests a second, as the target counts them, and every request
// the target served is in the report.
func TestMaxRPSHoldsTheRate(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tg := newTimedTarget(t, 0)
	code, out, errOut := run(t, []string{"-H", tg.URL, "-u", "50", "-r", "1000", "-t", "4s", "--max-rps", "200", "--json", "--only-summary"}, getClass())
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	total, rate := tg.served(time.Second, 3500*time.Millisecond)
	t.Logf("--max-rps 200, 50 users: target served %.1f/s from 1 s to 3.5 s, %d in all", rate, total)
	if !within(rate, 200, 0.05) {
		t.Errorf("target served %.1f/s, want 200/s ± 5%%", rate)
	}
	if got := jsonRows(t, out)["GET /"].NumRequests; got != int64(total) {
		t.Errorf("report counts %d requests, target served %d", got, total)
	}
}

// TestArrivalRateOpenModel: 300 iterations a second against a target that
// answers in 0.5 s need 150 users: a pool of 400 serves all 300/s, none
// dropped; a pool of 50 serves 100/s, and every other iteration due is
// counted as dropped.
func TestArrivalRateOpenModel(t *testing.T) {
	skipShort(t)
	t.Parallel()
	for _, tc := range []struct {
		pool              string
		served, dropped   float64 // per second
		wantDroppedAtMost int64
	}{
		{pool: "400", served: 300, dropped: 0},
		{pool: "50", served: 100, dropped: 200},
	} {
		t.Run("u"+tc.pool, func(t *testing.T) {
			t.Parallel()
			tg := newTimedTarget(t, 500*time.Millisecond)
			const runTime = 5 * time.Second
			code, out, errOut := run(t, []string{"-H", tg.URL, "-u", tc.pool, "-t", runTime.String(), "--arrival-rate", "300", "--json", "--only-summary"}, getClass())
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			total, rate := tg.served(time.Second, 4*time.Second)
			if !within(rate, tc.served, 0.05) {
				t.Errorf("target served %.1f/s, want %v/s ± 5%%", rate, tc.served)
			}
			rows := jsonRows(t, out)
			if got := rows["GET /"].NumRequests; got != int64(total) {
				t.Errorf("report counts %d requests, target served %d", got, total)
			}
			started := rows[ArrivalMethod+" get"].NumRequests
			dropped := rows[ArrivalMethod+" "+DroppedName].NumFailures
			due := 300 * runTime.Seconds()
			t.Logf("--arrival-rate 300 -u %s, 0.5 s target: served %.1f/s from 1 s to 4 s; %d started, %d dropped of %v due; %d requests = target %d",
				tc.pool, rate, started, dropped, due, rows["GET /"].NumRequests, total)
			if !within(float64(started+dropped), due, 0.05) {
				t.Errorf("started %d + dropped %d, want the %v due ± 5%%", started, dropped, due)
			}
			if tc.dropped == 0 && dropped != 0 {
				t.Errorf("dropped %d, want 0", dropped)
			}
			if tc.dropped > 0 && !within(float64(dropped), tc.dropped*runTime.Seconds(), 0.1) {
				t.Errorf("dropped %d, want about %v", dropped, tc.dropped*runTime.Seconds())
			}
		})
	}
}

// TestIterationsExact: --iterations 1000 sends exactly 1,000 requests and
// exits 0 on its own.
func TestIterationsExact(t *testing.T) {
	t.Parallel()
	tg := newTimedTarget(t, 0)
	code, out, errOut := run(t, []string{"-H", tg.URL, "-u", "20", "-r", "1000", "--iterations", "1000", "--json", "--only-summary"}, getClass())
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	total, _ := tg.served(0, time.Hour)
	t.Logf("--iterations 1000: target served %d, exit %d", total, code)
	if total != 1000 {
		t.Errorf("target served %d requests, want 1000", total)
	}
	if got := jsonRows(t, out)["GET /"].NumRequests; got != 1000 {
		t.Errorf("report counts %d, want 1000", got)
	}
}

// TestScheduledStartShowsAStall: a target that freezes for 2 s once in a
// 20 s open-model run. The iterations due meanwhile wait for the few
// users the freeze holds; timed from their scheduled start, the p99 shows
// the stall, while the requests' own times, started when a user was free,
// hide it.
func TestScheduledStartShowsAStall(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tg := newTimedTarget(t, 0)
	tg.freezeAt, tg.freezeFor = 8*time.Second, 2*time.Second
	s := &Standalone{Host: tg.URL, Users: 5, RunTime: 20 * time.Second, ArrivalRate: 100, Classes: []*UserClass{getClass()},
		OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var plain, scheduled time.Duration
	for _, e := range res.Stats.Entries() {
		if e.Name == "/" {
			plain = e.Percentile(0.99)
		}
	}
	for _, e := range res.Arrivals.Entries() {
		if e.Name == "get" {
			scheduled = e.Percentile(0.99)
		}
	}
	t.Logf("p99: requests' own %v, from the scheduled start %v", plain, scheduled)
	// A loaded machine (go test -race beside other packages) slows single
	// requests down to a few hundred milliseconds, never to the stall's 2 s.
	if plain > 500*time.Millisecond {
		t.Errorf("requests' own p99 %v: want it to miss the 2 s stall (< 500 ms)", plain)
	}
	if scheduled < 1500*time.Millisecond {
		t.Errorf("p99 from the scheduled start %v: want it to show the 2 s stall (≥ 1.5 s)", scheduled)
	}
	if res.ArrivalCounts.Dropped != 0 {
		t.Errorf("dropped %d: the stall is shorter than the 10 s an iteration waits", res.ArrivalCounts.Dropped)
	}
}

// classUser counts its class's running users.
type classUser struct{ live *atomic.Int64 }

func (u classUser) OnStart(context.Context) error { u.live.Add(1); return nil }
func (u classUser) OnStop(context.Context) error  { u.live.Add(-1); return nil }
func (classUser) Tasks() []Task {
	return []Task{{Name: "idle", Run: func(context.Context) error { return nil }}}
}

// TestStagesFollowTheRamp: --stages 5s:50,5s:50,5s:0 ramps to 50 users in
// 5 s, holds, ramps down, and ends the test: sampled every 100 ms, the
// users are always within one spawn step (10 users) of the straight line.
func TestStagesFollowTheRamp(t *testing.T) {
	skipShort(t)
	t.Parallel()
	var live atomic.Int64
	class := Class("Staged", func() classUser { return classUser{live: &live} }).Wait(Constant(100 * time.Millisecond))
	stages, err := ParseStages("5s:50,5s:50,5s:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Standalone{Stages: stages, RunTime: time.Minute, Classes: []*UserClass{class}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	done := make(chan time.Duration, 1)
	start := time.Now()
	go func() {
		s.Run(context.Background())
		done <- time.Since(start)
	}()
	worst, samples := 0.0, 0
	for {
		select {
		case took := <-done:
			if took < 14*time.Second || took > 17*time.Second {
				t.Errorf("the test ended after %v, want 15 s", took)
			}
			t.Logf("--stages 5s:50,5s:50,5s:0: ended after %v; worst distance from the line %.1f users over %d samples", took.Round(time.Millisecond), worst, samples)
			if samples < 100 || worst > 10 {
				t.Errorf("worst distance from the stages %.1f users over %d samples, want ≤ 10", worst, samples)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		el := time.Since(start)
		ideal, ok := stages.value(el)
		if !ok {
			continue
		}
		samples++
		worst = max(worst, math.Abs(float64(live.Load())-ideal))
	}
}

// TestShapeFuncClasses: a Go shape that starts 6 users of all classes,
// then moves to 4 users of class B only, then ends the test.
func TestShapeFuncClasses(t *testing.T) {
	skipShort(t)
	t.Parallel()
	var a, b atomic.Int64
	classA := Class("A", func() classUser { return classUser{live: &a} }).Wait(Constant(50 * time.Millisecond))
	classB := Class("B", func() classUser { return classUser{live: &b} }).Wait(Constant(50 * time.Millisecond))
	type seen struct{ a, b int64 }
	ticks := make(chan seen, 10)
	shape := ShapeFunc(func(el time.Duration) (ShapeTick, bool) {
		ticks <- seen{a.Load(), b.Load()}
		switch {
		case el < time.Second:
			return ShapeTick{Users: 6}, true
		case el < 2*time.Second:
			return ShapeTick{Users: 4, Classes: []*UserClass{classB}}, true
		}
		return ShapeTick{}, false
	})
	s := &Standalone{Shape: shape, RunTime: time.Minute, Classes: []*UserClass{classA, classB}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	start := time.Now()
	if _, err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %v: the shape's end should end the test after 2 s", took)
	}
	close(ticks)
	var got []seen
	for s := range ticks {
		got = append(got, s)
	}
	want := []seen{{0, 0}, {3, 3}, {0, 4}}
	if len(got) != len(want) || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("users per tick (A, B) = %v, want %v", got, want)
	}
}

// TestLoadModelBadFlags: bad values exit 2 with one line.
func TestLoadModelBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--max-rps", "-1"}, {"--max-rps", "0"}, {"--max-rps", "x"},
		{"--arrival-rate", "0"}, {"--arrival-rate", "NaN"}, {"--iterations", "0"}, {"--iterations", "-5"},
		{"--stages", "5s"}, {"--stages", "5s:-1"}, {"--stages", "x:1"}, {"--stages", "0s:10"}, {"--stages", ""},
		{"--max-rps", "10", "--arrival-rate", "10"},
		{"--worker", "--arrival-rate", "10"}, {"--worker", "--stages", "1s:1"}, {"--worker", "--iterations", "3"},
	} {
		code, _, errOut := run(t, args, getClass())
		if code != ExitUsage || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with one line", args, code, errOut)
		}
	}
}

// TestLoadModelFromEnvironment: the load model's options come from
// LOCUST_* variables like every other option; -r left out starts the
// open model's pool at once.
func TestLoadModelFromEnvironment(t *testing.T) {
	env := map[string]string{"LOCUST_ARRIVAL_RATE": "5.5", "LOCUST_ITERATIONS": "7", "LOCUST_STAGES": "1m:10,30s:0"}
	cfg, err := parseArgs(nil, func(k string) string { return env[k] }, getClass())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ArrivalRate != 5.5 || cfg.Iterations != 7 || len(cfg.Stages) != 2 || cfg.Stages[0] != (Stage{time.Minute, 10}) {
		t.Errorf("config %+v %+v", cfg, cfg.Stages)
	}
	if !cfg.spawnAtOnce() {
		t.Error("the pool should start at once without -r")
	}
	env["LOCUST_SPAWN_RATE"] = "3"
	if cfg, _ := parseArgs(nil, func(k string) string { return env[k] }, getClass()); cfg.spawnAtOnce() {
		t.Error("LOCUST_SPAWN_RATE given: the pool should start at its rate")
	}
	cfg, err = parseArgs([]string{"--max-rps", "20", "--worker"}, func(string) string { return "" }, getClass())
	if err != nil || cfg.MaxRPS != 20 {
		t.Errorf("--max-rps as a worker: %v, %v", cfg.MaxRPS, err)
	}
}

// TestArrivalsInEveryReport: the open model's rows, the dropped ones
// included, are in the live table, the summary and PREFIX_arrivals.csv.
func TestArrivalsInEveryReport(t *testing.T) {
	skipShort(t)
	t.Parallel()
	tg := newTimedTarget(t, 300*time.Millisecond)
	prefix := t.TempDir() + "/run"
	// 2 users at 300 ms serve about 7 of the 20 iterations a second.
	code, out, errOut := run(t, []string{"-H", tg.URL, "-u", "2", "-t", "3s", "--arrival-rate", "20", "--csv", prefix}, getClass())
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	live, summary, _ := strings.Cut(out, "Test finished after")
	for _, want := range []string{"Open model: 20 iterations/s asked", "ARRIVAL | get"} {
		if !strings.Contains(live, want) || !strings.Contains(summary, want) {
			t.Errorf("%q missing from the live table or the summary:\n%s", want, out)
		}
	}
	if !strings.Contains(summary, DroppedName) {
		t.Errorf("the summary has no dropped row:\n%s", summary)
	}
	csv, err := os.ReadFile(prefix + "_arrivals.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ARRIVAL,get,", "ARRIVAL," + DroppedName + ",0,", ",Aggregated,"} {
		if !strings.Contains(string(csv), want) {
			t.Errorf("run_arrivals.csv lacks %q:\n%s", want, csv)
		}
	}
}

// skipShort skips a test that runs for seconds in real time under -short
// (CI's pass with the oldest Go runs the unit tests so; its main pass runs
// them all).
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs for seconds in real time; not under -short")
	}
}
