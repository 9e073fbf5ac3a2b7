package worker

// This file owns --prometheus: a /metrics endpoint, with
// prometheus/client_golang, of a run's requests (counted as the statistics
// count them: the exporter is a request listener, see Hooks.Request), its
// users per class and its state; the cap on its (method, name) series, the
// labels made valid UTF-8, and the wait for a last scrape. Standalone runs
// and workers start it (standalone_load.go, worker.go).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golocust/golocust/stats"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxMetricSeries caps the distinct (method, name) label pairs of the
// request metrics over the exporter's life, as stats.DefaultMaxRows caps
// the statistics' rows: a test that names rows or methods without bound
// must not grow the exporter without bound. Beyond it, requests are
// counted under the pair (otherMetric, otherMetric).
const maxMetricSeries = stats.DefaultMaxRows

// otherMetric is the method and name labels of the requests beyond
// maxMetricSeries (and of any a series could not be made for).
const otherMetric = "(other)"

// finalScrapeWait bounds how long a standalone run that ends waits for a
// last scrape of its final figures; a signal ends the wait at once.
const finalScrapeWait = 10 * time.Second

// exporter serves a run's metrics.
type exporter struct {
	requests *prometheus.CounterVec
	failures *prometheus.CounterVec
	duration *prometheus.HistogramVec
	registry *prometheus.Registry

	maxSeries int
	series    sync.Map // stats.Key of valid UTF-8 labels -> *series
	seriesMu  sync.Mutex
	nseries   int                    // under seriesMu
	other     atomic.Pointer[series] // the overflow series, once needed
	full      atomic.Bool            // maxSeries reached (other is set)
	logger    atomic.Pointer[slog.Logger]

	server   *http.Server
	addr     string        // where it listens
	scrapes  atomic.Int64  // scrapes served
	scraped  chan struct{} // closed and replaced at the end of a scrape that started with it
	scrapeMu sync.Mutex
}

// series is the metrics of one (method, name) label pair.
type series struct {
	requests, failures prometheus.Counter
	duration           prometheus.Observer
}

// newExporter returns an exporter of users (per class, read at each
// scrape) and state (what a master's heartbeats say: ready, spawning,
// running, stopped).
func newExporter(users func() map[string]int64, state func() string) *exporter {
	labels := []string{"method", "name"}
	e := &exporter{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "golocust_requests_total",
			Help: "Requests recorded, failed ones included, by Locust's Type (method) and Name."}, labels),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "golocust_request_failures_total",
			Help: "Failed requests, by Locust's Type (method) and Name."}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "golocust_request_duration_seconds",
			Help:    "Response times of the requests, failed ones included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}, labels),
		registry:  prometheus.NewRegistry(),
		maxSeries: maxMetricSeries,
		scraped:   make(chan struct{}),
	}
	run := runCollector{users: users, state: state,
		usersDesc: prometheus.NewDesc("golocust_users", "Users running, by class.", []string{"class"}, nil),
		stateDesc: prometheus.NewDesc("golocust_state", "The run's state: 1 for the current one (ready, spawning, running, stopped).", []string{"state"}, nil),
	}
	e.registry.MustRegister(e.requests, e.failures, e.duration, run,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e
}

// listen counts a recorded request; it is the pool's request listener,
// called on the users' goroutines: it never panics, whatever the method
// and name.
func (e *exporter) listen(s stats.Sample) {
	m := e.seriesOf(stats.Key{Method: s.Method, Name: s.Name})
	if m == nil {
		return // not even the overflow series could be made
	}
	m.requests.Inc()
	if s.Err != nil {
		m.failures.Inc()
	}
	m.duration.Observe(s.Duration.Seconds())
}

// seriesOf returns k's series: without a lock once k's labels are known
// or the cap is reached.
func (e *exporter) seriesOf(k stats.Key) *series {
	if m, ok := e.series.Load(k); ok {
		return m.(*series)
	}
	l := stats.Key{Method: validLabel(k.Method), Name: validLabel(k.Name)}
	if l != k {
		if m, ok := e.series.Load(l); ok {
			return m.(*series)
		}
	}
	if e.full.Load() {
		return e.other.Load()
	}
	return e.addSeries(l)
}

// validLabel returns s with each run of bytes that are not valid UTF-8
// replaced by U+FFFD: Prometheus's label values are UTF-8.
func validLabel(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// addSeries makes the series of the labels l, or returns the overflow
// series beyond maxSeries or when l's cannot be made.
func (e *exporter) addSeries(l stats.Key) *series {
	e.seriesMu.Lock()
	defer e.seriesMu.Unlock()
	if m, ok := e.series.Load(l); ok {
		return m.(*series)
	}
	if e.nseries >= e.maxSeries {
		return e.overflow(l, "too many distinct request methods and names for Prometheus: the requests of new ones are counted under one series")
	}
	m, err := e.makeSeries(l)
	if err != nil {
		e.log().Warn("no Prometheus series for a request name: its requests are counted under one series",
			"method", l.Method, "name", l.Name, "series", otherMetric, "err", err)
		return e.overflow(l, "")
	}
	e.series.Store(l, m)
	e.nseries++
	return m
}

// overflow returns the overflow series, made at the first call; with a
// note, the cap is reached: it is logged, and later requests of new pairs
// go to the overflow series without the lock. Called under seriesMu.
func (e *exporter) overflow(first stats.Key, note string) *series {
	m := e.other.Load()
	if m == nil {
		var err error
		if m, err = e.makeSeries(stats.Key{Method: otherMetric, Name: otherMetric}); err != nil {
			e.log().Error("no Prometheus overflow series: requests go uncounted", "err", err)
			return nil
		}
		e.other.Store(m)
	}
	if note != "" && !e.full.Load() {
		e.full.Store(true)
		e.log().Warn(note, "limit", e.maxSeries, "series", otherMetric, "first_merged", first.Method+" "+first.Name)
	}
	return m
}

// makeSeries returns the metrics of the labels l.
func (e *exporter) makeSeries(l stats.Key) (*series, error) {
	requests, err := e.requests.GetMetricWithLabelValues(l.Method, l.Name)
	if err != nil {
		return nil, fmt.Errorf("golocust_requests_total: %w", err)
	}
	failures, err := e.failures.GetMetricWithLabelValues(l.Method, l.Name)
	if err != nil {
		e.requests.DeleteLabelValues(l.Method, l.Name)
		return nil, fmt.Errorf("golocust_request_failures_total: %w", err)
	}
	duration, err := e.duration.GetMetricWithLabelValues(l.Method, l.Name)
	if err != nil {
		e.requests.DeleteLabelValues(l.Method, l.Name)
		e.failures.DeleteLabelValues(l.Method, l.Name)
		return nil, fmt.Errorf("golocust_request_duration_seconds: %w", err)
	}
	return &series{requests: requests, failures: failures, duration: duration}, nil
}

// log returns the logger start was given, else slog.Default().
func (e *exporter) log() *slog.Logger {
	if l := e.logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// start listens on addr and serves /metrics; a bad or busy address is an
// error at once.
func (e *exporter) start(addr string, logger *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--prometheus %s: %w", addr, err)
	}
	e.addr = l.Addr().String()
	e.logger.Store(logger)
	mux := http.NewServeMux()
	mux.Handle("/metrics", e.handler(logger))
	e.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := e.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("--prometheus stopped serving", "err", err)
		}
	}()
	logger.Info("serving Prometheus metrics", "url", "http://"+e.addr+"/metrics")
	return nil
}

// handler serves the metrics and notes each scrape, for awaitScrape.
func (e *exporter) handler(logger *slog.Logger) http.Handler {
	metrics := promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.scrapeMu.Lock()
		started := e.scraped
		e.scrapeMu.Unlock()
		metrics.ServeHTTP(w, r)
		e.noteScrape(started)
	})
}

// noteScrape notes a scrape that started when started was the current
// scrape channel: it closes it, unless a later scrape or wait replaced it
// (a scrape that started before a wait is not one of the figures the wait
// is for).
func (e *exporter) noteScrape(started chan struct{}) {
	e.scrapeMu.Lock()
	defer e.scrapeMu.Unlock()
	e.scrapes.Add(1)
	if started == e.scraped {
		close(e.scraped)
		e.scraped = make(chan struct{})
	}
}

// nextScrape returns a channel closed at the end of the first scrape that
// starts from now on.
func (e *exporter) nextScrape() <-chan struct{} {
	e.scrapeMu.Lock()
	defer e.scrapeMu.Unlock()
	e.scraped = make(chan struct{})
	return e.scraped
}

// awaitScrape waits for a scrape of now's figures (one that starts from
// now on), at most within; a SIGINT or SIGTERM (one the program does not
// ignore) ends the wait at once. It reports false when within passed with
// neither.
func (e *exporter) awaitScrape(within time.Duration) bool {
	next := e.nextScrape()
	signals := make(chan os.Signal, 1)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		if !signal.Ignored(sig) {
			signal.Notify(signals, sig)
		}
	}
	defer signal.Stop(signals)
	e.log().Info("waiting for a last Prometheus scrape of the final figures; a signal ends the wait", "within", within)
	return e.waitScrape(next, within, signals)
}

// waitScrape waits until next is closed, at most within, or until a
// signal arrives.
func (e *exporter) waitScrape(next <-chan struct{}, within time.Duration, signals <-chan os.Signal) bool {
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-next:
		return true
	case sig := <-signals:
		e.log().Info("a signal ended the wait for a last Prometheus scrape", "signal", sig.String())
		return true
	case <-t.C:
		return false
	}
}

// close stops serving.
func (e *exporter) close() {
	if e != nil && e.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		e.server.Shutdown(ctx)
	}
}

// runCollector reports the users per class and the state at each scrape.
type runCollector struct {
	users                func() map[string]int64
	state                func() string
	usersDesc, stateDesc *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (c runCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.usersDesc
	ch <- c.stateDesc
}

// Collect implements prometheus.Collector.
func (c runCollector) Collect(ch chan<- prometheus.Metric) {
	for class, n := range c.users() {
		ch <- prometheus.MustNewConstMetric(c.usersDesc, prometheus.GaugeValue, float64(n), class)
	}
	current := c.state()
	for _, s := range []string{stateReady, stateSpawning, stateRunning, stateStopped} {
		v := 0.0
		if s == current {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.stateDesc, prometheus.GaugeValue, v, s)
	}
}

// joinListeners returns a listener calling each non-nil one; nil when
// there is none.
func joinListeners(fs ...func(stats.Sample)) func(stats.Sample) {
	var on []func(stats.Sample)
	for _, f := range fs {
		if f != nil {
			on = append(on, f)
		}
	}
	switch len(on) {
	case 0:
		return nil
	case 1:
		return on[0]
	}
	return func(s stats.Sample) {
		for _, f := range on {
			f(s)
		}
	}
}
