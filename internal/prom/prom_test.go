// Package prom holds the --prometheus tests with a real Prometheus server
// (Debian's package): it scrapes a standalone run and a worker of a real
// Locust master, and a PromQL query of the requests equals what the run
// counted.
package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
	"github.com/golocust/golocust/worker"
)

// startPrometheus starts Debian's Prometheus scraping targets every
// 500 ms and returns its query URL.
func startPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	bin := "/usr/bin/prometheus"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Prometheus is not installed at %s (CI must install the prometheus package)", bin)
		}
		t.Skipf("Prometheus is not installed at %s; apt-get install prometheus", bin)
	}
	dir := t.TempDir()
	quoted := ""
	for i, tg := range targets {
		if i > 0 {
			quoted += ", "
		}
		quoted += strconv.Quote(tg)
	}
	config := fmt.Sprintf("global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\nscrape_configs:\n  - job_name: golocust\n    static_configs:\n      - targets: [%s]\n", quoted)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	port := locusttest.FreePort(t)
	p := locusttest.Start(t, dir, bin, "--config.file=prometheus.yml", "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port))
	p.Output.WaitFor(t, "Server is ready to receive web requests", 1, 30*time.Second)
	prom := "http://127.0.0.1:" + strconv.Itoa(port)
	// Prometheus takes its targets from discovery a few seconds after it
	// starts: wait for its first scrape (of nothing yet: up is 0).
	locusttest.Eventually(t, 30*time.Second, func() string {
		if _, ok := query(t, prom, "up"); !ok {
			return "Prometheus has not scraped its targets yet"
		}
		return ""
	})
	return prom
}

// query returns the single value of a PromQL query, and false when the
// result is empty.
// queryFor returns the value of q once it is want, or its last value
// after timeout: Prometheus stores a scrape a moment after the exporter
// served it, and the run ends once its final figures were served.
func queryFor(t *testing.T, prom, q string, want float64, timeout time.Duration) (float64, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, ok := query(t, prom, q)
		if ok && v == want || time.Now().After(deadline) {
			return v, ok
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func query(t *testing.T, prom, q string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Status != "success" {
		t.Fatalf("query %q: %v (status %q)", q, err, out.Status)
	}
	if len(out.Data.Result) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(out.Data.Result[0].Value[1].(string), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v, true
}

// pinger gets "/" once per task.
type pinger struct{ worker.HTTPUser }

func (u *pinger) Tasks() []worker.Task {
	return []worker.Task{{Name: "ping", Run: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/"); return err }}}
}

// TestPrometheusScrapesAStandaloneRun: 600 requests in about 4 s, scraped
// by Prometheus; the run waits for the scrape of its final figures, and
// sum(golocust_requests_total) equals the summary's count and the
// target's.
func TestPrometheusScrapesAStandaloneRun(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	addr := "127.0.0.1:" + strconv.Itoa(locusttest.FreePort(t))
	prom := startPrometheus(t, addr)
	run := &worker.Standalone{
		Host: target.URL, Users: 10, Iterations: 600, MaxRPS: 150, Prometheus: addr,
		Classes: []*worker.UserClass{worker.Class("Pinger", func() *pinger { return &pinger{} })},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard,
	}
	res, err := run.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	summary := res.Stats.Total().NumRequests
	got, ok := queryFor(t, prom, "sum(golocust_requests_total)", float64(summary), 5*time.Second)
	if !ok || int64(got) != summary || summary != target.Total() || summary != 600 {
		t.Errorf("PromQL sum(golocust_requests_total) = %v (ok %v); summary %d; target %d; want 600 each", got, ok, summary, target.Total())
	}
	if users, ok := query(t, prom, `max_over_time(golocust_users{class="Pinger"}[1m])`); !ok || users != 10 {
		t.Errorf("golocust_users peaked at %v (ok %v), want 10", users, ok)
	}
	t.Logf("Prometheus: %v requests; summary %d; target %d", got, summary, target.Total())
}

// TestPrometheusScrapesAWorker: a Go worker of a real Locust master, its
// test started and stopped through the web UI; Prometheus's total equals
// the master's.
func TestPrometheusScrapesAWorker(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	addr := "127.0.0.1:" + strconv.Itoa(locusttest.FreePort(t))
	prom := startPrometheus(t, addr)
	m := locusttest.StartMaster(t, "../loadmodel/testdata/maxrps.py")
	locusttest.StartWorker(t, m, "../testworker", "--prometheus", addr)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)
	m.Swarm(t, 10, 100, target.URL)
	locusttest.Eventually(t, 15*time.Second, func() string {
		if s := m.Stats(t); s.Row("Aggregated").NumRequests < 300 {
			return fmt.Sprintf("master shows %d requests", s.Row("Aggregated").NumRequests)
		}
		return ""
	})
	m.StopTest(t)
	var master int64
	locusttest.Eventually(t, 15*time.Second, func() string {
		s := m.Stats(t)
		master = s.Row("Aggregated").NumRequests
		if s.State != "stopped" || master != target.Total() {
			return fmt.Sprintf("master %q with %d requests; target %d", s.State, master, target.Total())
		}
		got, _ := query(t, prom, "sum(golocust_requests_total)")
		if int64(got) != master {
			return fmt.Sprintf("Prometheus says %v requests, the master %d", got, master)
		}
		return ""
	})
	if ready, _ := query(t, prom, `golocust_state{state="ready"}`); ready != 1 {
		t.Errorf("golocust_state{state=\"ready\"} = %v after the stop, want 1", ready)
	}
	t.Logf("Prometheus = master = target = %d requests", master)
}

// badNames records, per task, a request whose method and name are not
// valid UTF-8.
type badNames struct{}

func (badNames) Tasks() []worker.Task {
	return []worker.Task{{Name: "bad", Run: func(ctx context.Context) error {
		return worker.Record(ctx, "G\xffT", "/bad\xff\xfe", time.Millisecond, 1, nil)
	}}}
}

// TestPrometheusScrapesInvalidUTF8: a run whose requests' method and name
// are not valid UTF-8 is scraped whole, under labels with U+FFFD.
func TestPrometheusScrapesInvalidUTF8(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(locusttest.FreePort(t))
	prom := startPrometheus(t, addr)
	run := &worker.Standalone{
		Users: 2, Iterations: 200, MaxRPS: 100, Prometheus: addr,
		Classes: []*worker.UserClass{worker.Class("Bad", func() badNames { return badNames{} })},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard,
	}
	res, err := run.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	summary := res.Stats.Total().NumRequests
	got, ok := queryFor(t, prom, `sum(golocust_requests_total{method="G\uFFFDT",name="/bad\uFFFD"})`, float64(summary), 5*time.Second)
	if !ok || int64(got) != summary || summary != 200 || len(res.Exceptions) != 0 {
		t.Errorf("PromQL = %v (ok %v); summary %d, exceptions %v; want 200 each and none", got, ok, summary, res.Exceptions)
	}
}
