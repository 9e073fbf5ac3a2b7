package worker

// This file owns --prometheus: a /metrics endpoint, with
// prometheus/client_golang, of a run's requests (counted as the statistics
// count them: the exporter is a request listener, see Hooks.Request), its
// users per class and its state. Standalone runs and workers start it
// (standalone_load.go, worker.go).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/stats"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxMetricRows caps the distinct (method, name) label pairs: a test that
// names rows without bound must not grow the exporter without bound.
// Beyond it, requests are counted under the name otherMetricName.
const maxMetricRows = 1000

// otherMetricName is the name label of the requests beyond maxMetricRows.
const otherMetricName = "(other)"

// finalScrapeWait bounds how long a standalone run that ends waits for a
// last scrape of its final figures.
const finalScrapeWait = 10 * time.Second

// exporter serves a run's metrics.
type exporter struct {
	requests *prometheus.CounterVec
	failures *prometheus.CounterVec
	duration *prometheus.HistogramVec
	registry *prometheus.Registry

	rows  sync.Map // stats.Key -> struct{}: the label pairs in use
	nrows atomic.Int64

	server   *http.Server
	addr     string        // where it listens
	scrapes  atomic.Int64  // scrapes served
	scraped  chan struct{} // closed and replaced at each scrape
	scrapeMu sync.Mutex
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
		registry: prometheus.NewRegistry(),
		scraped:  make(chan struct{}),
	}
	run := runCollector{users: users, state: state,
		usersDesc: prometheus.NewDesc("golocust_users", "Users running, by class.", []string{"class"}, nil),
		stateDesc: prometheus.NewDesc("golocust_state", "The run's state: 1 for the current one (ready, spawning, running, stopped).", []string{"state"}, nil),
	}
	e.registry.MustRegister(e.requests, e.failures, e.duration, run,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return e
}

// listen counts a recorded request; it is the pool's request listener.
func (e *exporter) listen(s stats.Sample) {
	method, name := e.labels(stats.Key{Method: s.Method, Name: s.Name})
	e.requests.WithLabelValues(method, name).Inc()
	if s.Err != nil {
		e.failures.WithLabelValues(method, name).Inc()
	}
	e.duration.WithLabelValues(method, name).Observe(s.Duration.Seconds())
}

// labels returns k's labels, or the overflow row's beyond maxMetricRows.
func (e *exporter) labels(k stats.Key) (method, name string) {
	if _, ok := e.rows.Load(k); ok {
		return k.Method, k.Name
	}
	if e.nrows.Add(1) > maxMetricRows {
		e.nrows.Add(-1)
		return k.Method, otherMetricName
	}
	if _, loaded := e.rows.LoadOrStore(k, struct{}{}); loaded {
		e.nrows.Add(-1)
	}
	return k.Method, k.Name
}

// start listens on addr and serves /metrics; a bad or busy address is an
// error at once.
func (e *exporter) start(addr string, logger *slog.Logger) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--prometheus %s: %w", addr, err)
	}
	e.addr = l.Addr().String()
	metrics := promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)})
	mux := http.NewServeMux()
	mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metrics.ServeHTTP(w, r)
		e.noteScrape()
	}))
	e.server = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := e.server.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("--prometheus stopped serving", "err", err)
		}
	}()
	logger.Info("serving Prometheus metrics", "url", "http://"+e.addr+"/metrics")
	return nil
}

func (e *exporter) noteScrape() {
	e.scrapeMu.Lock()
	defer e.scrapeMu.Unlock()
	e.scrapes.Add(1)
	close(e.scraped)
	e.scraped = make(chan struct{})
}

// awaitScrape waits for a scrape after now's figures, at most within.
func (e *exporter) awaitScrape(within time.Duration) bool {
	e.scrapeMu.Lock()
	next := e.scraped
	e.scrapeMu.Unlock()
	select {
	case <-next:
		return true
	case <-time.After(within):
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
