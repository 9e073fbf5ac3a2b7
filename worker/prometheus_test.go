package worker

// This file tests the --prometheus exporter on its own: labels that are
// not valid UTF-8, the cap on its (method, name) series (every request
// still counted), the wait for a last scrape and the signal that ends it.
// internal/prom checks it against a real Prometheus.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golocust/golocust/stats"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// testExporter returns an exporter of no users, running, that logs to
// nothing.
func testExporter() *exporter {
	e := newExporter(func() map[string]int64 { return nil }, func() string { return stateRunning })
	e.logger.Store(discardLogger())
	return e
}

// scrapeSeries returns the exporter's samples of the metric name (e.g.
// golocust_requests_total), by their labels as the text format writes
// them ({method="GET",name="/"}).
func scrapeSeries(t *testing.T, e *exporter, name string) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	return parseSeries(t, rec.Body.String(), name)
}

// parseSeries returns the samples of the metric name in a scrape's text.
func parseSeries(t *testing.T, text, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSuffix(line, "\n")
		labels, ok := strings.CutPrefix(line, name+"{")
		if !ok {
			continue
		}
		sp := strings.LastIndexByte(labels, ' ')
		v, err := strconv.ParseFloat(labels[sp+1:], 64)
		if err != nil {
			t.Fatalf("scrape line %q: %v", line, err)
		}
		out["{"+labels[:sp]] = v
	}
	return out
}

// sumSamples returns the sum of the samples.
func sumSamples(samples map[string]float64) float64 {
	total := 0.0
	for _, v := range samples {
		total += v
	}
	return total
}

// labelsOf is how the text format writes a (method, name) pair.
func labelsOf(method, name string) string {
	return fmt.Sprintf("{method=%q,name=%q}", method, name)
}

// TestPrometheusInvalidUTF8: a method or name that is not valid UTF-8 is
// counted under its labels with each bad run of bytes made U+FFFD,
// instead of panicking in the user's task; names that differ only in
// their bad bytes share a series.
func TestPrometheusInvalidUTF8(t *testing.T) {
	e := testExporter()
	e.listen(stats.Sample{Method: "G\xffT", Name: "/bad\xff\xfe", Duration: time.Millisecond})
	e.listen(stats.Sample{Method: "GET", Name: "/bad\xfe", Duration: time.Millisecond, Err: errors.New("boom")})
	e.listen(stats.Sample{Method: "GET", Name: "/bad\x80\x81\x82", Duration: time.Millisecond})
	e.listen(stats.Sample{Method: "GET", Name: "/ok", Duration: time.Millisecond})
	requests := scrapeSeries(t, e, "golocust_requests_total")
	want := map[string]float64{labelsOf("G\uFFFDT", "/bad\uFFFD"): 1, labelsOf("GET", "/bad\uFFFD"): 2, labelsOf("GET", "/ok"): 1}
	if fmt.Sprint(requests) != fmt.Sprint(want) {
		t.Errorf("golocust_requests_total = %v, want %v", requests, want)
	}
	if f := scrapeSeries(t, e, "golocust_request_failures_total"); f[labelsOf("GET", "/bad\uFFFD")] != 1 || sumSamples(f) != 1 {
		t.Errorf("golocust_request_failures_total = %v, want 1 for GET /bad\uFFFD", f)
	}
	if c := scrapeSeries(t, e, "golocust_request_duration_seconds_count"); sumSamples(c) != 4 {
		t.Errorf("golocust_request_duration_seconds_count = %v, want 4 in all", c)
	}
}

// TestPrometheusRecordInvalidUTF8: a standalone run whose task records a
// request of a method and name that are not valid UTF-8, with
// --prometheus: no task fails, and the final scrape counts every request.
func TestPrometheusRecordInvalidUTF8(t *testing.T) {
	const iterations = 5
	log := &urlWatcher{pattern: metricsURL, url: make(chan string, 1)}
	class := Class("Bad", func() badNameUser { return badNameUser{} })
	s := &Standalone{Users: 1, Iterations: iterations, Prometheus: "127.0.0.1:0", Classes: []*UserClass{class},
		OnlySummary: true, Output: io.Discard, Logger: slog.New(slog.NewTextHandler(log, nil))}
	done := make(chan struct{})
	var last string // the last scrape, of the final figures once Run returned
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // scrape until the run ends: its last wait ends at a scrape
		defer wg.Done()
		var url string
		select {
		case url = <-log.url:
		case <-done:
			return
		}
		for {
			if resp, err := http.Get(url); err == nil {
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusOK {
					last = string(body)
				}
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	res, err := s.Run(context.Background())
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Exceptions) != 0 || res.Stats.Total().NumRequests != iterations {
		t.Errorf("%d requests, exceptions %+v; want %d and none", res.Stats.Total().NumRequests, res.Exceptions, iterations)
	}
	got := parseSeries(t, last, "golocust_requests_total")
	if want := map[string]float64{labelsOf("G\uFFFDT", "/bad\uFFFD"): iterations}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("last scrape: golocust_requests_total = %v, want %v\nlog:\n%s", got, want, log)
	}
}

var metricsURL = regexp.MustCompile(`url=(http://\S+/metrics)`)

// badNameUser records one request whose method and name are not valid
// UTF-8 per task.
type badNameUser struct{}

func (badNameUser) Tasks() []Task {
	return []Task{{Name: "bad", Run: func(ctx context.Context) error {
		return Record(ctx, "G\xffT", "/bad\xff\xfe", time.Millisecond, 10, nil)
	}}}
}

// TestPrometheusSeriesCap: beyond the cap on (method, name) pairs, new
// pairs, whatever their method, go to one overflow series; pairs admitted
// before keep theirs, and every request is counted.
func TestPrometheusSeriesCap(t *testing.T) {
	e := testExporter()
	e.maxSeries = 5
	for n := range 50 {
		method := "M" + strconv.Itoa(n)
		e.listen(stats.Sample{Method: method, Name: "/same", Duration: time.Millisecond})
		e.listen(stats.Sample{Method: method, Name: "/same", Duration: time.Millisecond, Err: errors.New("boom")})
	}
	e.listen(stats.Sample{Method: "M0", Name: "/same"}) // admitted before the cap
	requests := scrapeSeries(t, e, "golocust_requests_total")
	if len(requests) != 6 || sumSamples(requests) != 101 || requests[labelsOf("M0", "/same")] != 3 ||
		requests[labelsOf(otherMetric, otherMetric)] != 90 {
		t.Errorf("golocust_requests_total = %v; want 6 series, 101 requests, 3 of M0 /same, 90 of (other)", requests)
	}
	if f := scrapeSeries(t, e, "golocust_request_failures_total"); len(f) != 6 || sumSamples(f) != 50 {
		t.Errorf("golocust_request_failures_total = %v; want 6 series, 50 failures", f)
	}
	if c := scrapeSeries(t, e, "golocust_request_duration_seconds_count"); len(c) != 6 || sumSamples(c) != 101 {
		t.Errorf("golocust_request_duration_seconds_count = %v; want 6 series, 101 in all", c)
	}
}

// TestPrometheusSeriesCapDefault: the default cap is the statistics' row
// cap, over all methods: 12,000 methods of one name make
// stats.DefaultMaxRows series and the overflow one, 12,000 requests.
func TestPrometheusSeriesCapDefault(t *testing.T) {
	const methods = 12_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := testExporter()
	for n := range methods {
		e.listen(stats.Sample{Method: "M" + strconv.Itoa(n), Name: "/same", Duration: time.Millisecond})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("heap: %.1f MB more after %d methods", float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1e6, methods)
	requests := scrapeSeries(t, e, "golocust_requests_total")
	if len(requests) != stats.DefaultMaxRows+1 || sumSamples(requests) != methods ||
		requests[labelsOf(otherMetric, otherMetric)] != methods-stats.DefaultMaxRows {
		t.Errorf("%d series, %v requests, %v in (other); want %d, %d, %d", len(requests), sumSamples(requests),
			requests[labelsOf(otherMetric, otherMetric)], stats.DefaultMaxRows+1, methods, methods-stats.DefaultMaxRows)
	}
}

// TestPrometheusSeriesCapConcurrent: users racing to add pairs past the
// cap: the cap holds and every request is counted.
func TestPrometheusSeriesCapConcurrent(t *testing.T) {
	const users, pairs = 8, 500
	e := testExporter()
	e.maxSeries = 100
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			for n := range pairs {
				e.listen(stats.Sample{Method: "M" + strconv.Itoa(n%7), Name: "/" + strconv.Itoa(u*pairs+n)})
			}
		})
	}
	wg.Wait()
	requests := scrapeSeries(t, e, "golocust_requests_total")
	if len(requests) != 101 || sumSamples(requests) != users*pairs {
		t.Errorf("%d series, %v requests; want 101 and %d", len(requests), sumSamples(requests), users*pairs)
	}
}

// TestPrometheusNeverPanics: when no series can be made at all (here a
// metric of the wrong labels), a request is dropped without a panic.
func TestPrometheusNeverPanics(t *testing.T) {
	e := testExporter()
	e.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "broken_total", Help: "wrong labels"}, []string{"a", "b", "c"})
	e.listen(stats.Sample{Method: "GET", Name: "/"})
	if m := e.seriesOf(stats.Key{Method: "GET", Name: "/"}); m != nil {
		t.Errorf("series %+v made of metrics of the wrong labels", m)
	}
	if e.nseries != 0 {
		t.Errorf("%d series counted, want 0", e.nseries)
	}
}

// TestPrometheusWaitScrape: the wait for a last scrape ends at a scrape
// that started after it began or at a signal (true), or after within
// (false).
func TestPrometheusWaitScrape(t *testing.T) {
	e := testExporter()
	signals := make(chan os.Signal, 1)
	signals <- syscall.SIGTERM
	if !e.waitScrape(e.nextScrape(), time.Hour, signals) {
		t.Error("a signal did not end the wait")
	}
	if e.waitScrape(e.nextScrape(), time.Millisecond, nil) {
		t.Error("the wait reported a scrape after within with none")
	}
	next := e.nextScrape()
	e.handler(discardLogger()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !e.waitScrape(next, time.Hour, nil) {
		t.Error("a scrape did not end the wait")
	}
}

// TestPrometheusScrapeBeforeWait: a scrape that started before the wait
// for the final figures began (and may lack some) does not end it; the
// next one does.
func TestPrometheusScrapeBeforeWait(t *testing.T) {
	e := testExporter()
	c := blockingCollector{entered: make(chan struct{}, 1), release: make(chan struct{})}
	e.registry.MustRegister(c)
	h := e.handler(discardLogger())
	scrape := func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil)) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		scrape()
	}()
	<-c.entered // the scrape is under way
	next := e.nextScrape()
	close(c.release)
	<-done
	select {
	case <-next:
		t.Error("a scrape that started before the wait ended it")
	default:
	}
	scrape()
	select {
	case <-next:
	default:
		t.Error("a scrape that started after the wait began did not end it")
	}
}

// blockingCollector's Collect says it was called and returns once release
// is closed.
type blockingCollector struct{ entered, release chan struct{} }

func (blockingCollector) Describe(chan<- *prometheus.Desc) {}

func (c blockingCollector) Collect(chan<- prometheus.Metric) {
	select {
	case c.entered <- struct{}{}:
	default:
	}
	<-c.release
}

// TestPrometheusSignalEndsFinalWait runs the command (this test binary,
// see TestMain) for a second with --prometheus and no scraper; a SIGTERM
// during the wait for a last scrape ends it at once, with exit code 0.
func TestPrometheusSignalEndsFinalWait(t *testing.T) {
	p := startHelper(t, "slow", "-u", "1", "-r", "10", "-t", "1s", "--only-summary", "--prometheus", "127.0.0.1:0")
	p.Output.WaitFor(t, "waiting for a last Prometheus scrape", 1, 20*time.Second)
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(t, finalScrapeWait/2); code != ExitOK {
		t.Errorf("exit code %d, want %d", code, ExitOK)
	}
	if out := p.Output.String(); !strings.Contains(out, "a signal ended the wait") || !strings.Contains(out, "Test finished after") {
		t.Errorf("output:\n%s", out)
	}
}
