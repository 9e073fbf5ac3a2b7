package worker

// This file owns the shared pools' limit on requests in flight: how many
// requests the users of one pool may have out at once, and how that limit
// follows what the targets need while the worker's own CPU keeps up. The
// pools that use it, and the HTTP transports it wraps, are in httpconns.go.
//
// Why a limit: a worker that falls behind (its CPU busy with a ramp of new
// users, a garbage collection, a burst of spawn steps) has more requests
// in flight, because each takes longer; each of them finds no idle
// connection and opens one, which costs the CPU the worker lacks, so the
// next requests take longer still. Without a limit the connections climbed
// to the open-file bound and memory followed them (bench/seed in
// BENCHMARKS.md). With it, requests beyond the limit wait for one in
// flight to finish, which costs nothing, and the limit only grows while
// the worker keeps up: a slow target gets all the concurrency it needs, a
// slow worker does not dial itself to death.
//
// The worker counts as behind when its CPUs are busy (85 % of them since
// the last look) or many goroutines are ready to run and wait for one
// (runtime/metrics' /sched/goroutines/runnable:goroutines).

import (
	"container/list"
	"context"
	"io"
	"math"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// limitStart is the requests in flight a pool allows at first.
	limitStart = 64
	// limitGrowth is how much the limit grows at each look while requests
	// wait and the worker keeps up: from 64 to 10,000 in 13 looks.
	limitGrowth = 1.5
	// lookEvery is how often the limit is reconsidered while requests wait.
	lookEvery = 20 * time.Millisecond
	// calmFor is how long the worker must have kept up, at every look,
	// before the limit grows: one look can fall between two bursts.
	calmFor = 250 * time.Millisecond
	// behindRunnable is the goroutines per CPU ready to run, waiting for
	// it, at which the worker counts as behind.
	behindRunnable = 64
	// behindCPU is the share of its CPUs (in percent of one) the process
	// used since the last look at which the worker counts as behind.
	behindCPU = 85
)

// requestLimit bounds the requests in flight of one pool. acquire takes a
// place, or waits in line for one; release gives it back, to the first in
// line if any.
type requestLimit struct {
	mu       sync.Mutex
	limit    int       // places
	max      int       // the limit never grows beyond (the connection bound)
	inFlight int       // places taken
	line     list.List // of chan struct{}: the requests waiting, first in front
	lookedAt time.Time
	behindAt time.Time   // the last look that found the worker behind
	timer    *time.Timer // looks again while requests wait
	behind   behindFunc
	now      func() time.Time
}

// newRequestLimit returns a limit that starts at limitStart and grows up to
// max (0: no bound).
func newRequestLimit(max int) *requestLimit {
	if max <= 0 {
		max = math.MaxInt
	}
	return &requestLimit{limit: min(limitStart, max), max: max, behind: newWorkerLoad().behind, now: time.Now}
}

// acquire takes a place for a request, waiting in line while the limit is
// reached. It returns ctx's error if ctx ends first, and
// context.DeadlineExceeded if deadline (the request's own timeout; zero:
// none) passes first.
func (l *requestLimit) acquire(ctx context.Context, deadline time.Time) error {
	l.mu.Lock()
	if l.inFlight < l.limit && l.line.Len() == 0 {
		l.inFlight++
		l.mu.Unlock()
		return nil
	}
	wait := make(chan struct{})
	place := l.line.PushBack(wait)
	l.lookLocked(l.now())
	l.mu.Unlock()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		l.leaveLine(place, wait)
		return ctx.Err()
	case <-timeout:
		l.leaveLine(place, wait)
		return context.DeadlineExceeded
	}
}

// waiting returns how many requests wait in line.
func (l *requestLimit) waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.line.Len()
}

// leaveLine takes a request that gave up out of the line, or gives its
// place back if it was handed one meanwhile.
func (l *requestLimit) leaveLine(place *list.Element, wait chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-wait: // handed a place as it gave up
		l.inFlight--
		l.admitLocked()
	default:
		l.line.Remove(place)
	}
}

// release gives a place back: to the first request in line, if any.
func (l *requestLimit) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	l.admitLocked()
}

// admitLocked hands free places to the requests in line, first come
// first served.
func (l *requestLimit) admitLocked() {
	for l.line.Len() > 0 && l.inFlight < l.limit {
		close(l.line.Remove(l.line.Front()).(chan struct{}))
		l.inFlight++
	}
}

// lookLocked grows the limit when requests wait and the worker has kept
// up for calmFor,
// at most once per lookEvery, and makes sure it looks again while
// requests still wait.
func (l *requestLimit) lookLocked(now time.Time) {
	if now.Sub(l.lookedAt) >= lookEvery {
		l.lookedAt = now
		if l.behind(now) {
			l.behindAt = now
		}
		l.limit = nextLimit(l.limit, l.max, l.line.Len(), now.Sub(l.behindAt) < calmFor)
		l.admitLocked()
	}
	if l.line.Len() > 0 && l.timer == nil {
		l.timer = time.AfterFunc(lookEvery, l.lookAgain)
	}
}

// lookAgain is the timer's look while requests wait.
func (l *requestLimit) lookAgain() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.timer = nil
	l.lookLocked(l.now())
}

// nextLimit is the limit after a look: grown by limitGrowth when requests
// wait and the worker is not behind, up to max; else unchanged.
func nextLimit(limit, max, waiting int, behind bool) int {
	if waiting == 0 || behind {
		return limit
	}
	grown := int(math.Ceil(float64(limit) * limitGrowth))
	return min(grown, max)
}

// behindFunc reports whether the worker is behind at now.
type behindFunc func(now time.Time) bool

// workerLoad tells whether the worker is behind: its CPUs busy since the
// last look, or many goroutines ready to run waiting for them.
type workerLoad struct {
	cpu    processSampler
	sample []metrics.Sample
}

func newWorkerLoad() *workerLoad {
	return &workerLoad{sample: []metrics.Sample{
		{Name: "/sched/goroutines/runnable:goroutines"},
	}}
}

// behind reports whether the process used behindCPU or more of its CPUs
// since the last call, or behindRunnable or more goroutines per CPU wait
// to run.
func (w *workerLoad) behind(now time.Time) bool {
	cpu := w.cpu.cpuPercent(now, processCPUTime())
	metrics.Read(w.sample)
	var runnable uint64
	if w.sample[0].Value.Kind() == metrics.KindUint64 { // else a Go without it
		runnable = w.sample[0].Value.Uint64()
	}
	return isBehind(cpu, runnable, runtime.GOMAXPROCS(0))
}

// isBehind reports whether a worker with procs CPUs that used cpu percent
// of one since the last look, and has runnable goroutines waiting for a
// CPU, is behind.
func isBehind(cpu float64, runnable uint64, procs int) bool {
	procs = max(procs, 1)
	return cpu >= behindCPU*float64(procs) || runnable >= behindRunnable*uint64(procs)
}

// limitedTransport is an HTTP transport whose requests take a place of a
// requestLimit from when they are sent until their response body is
// closed (net/http's client closes the bodies of the redirects it
// follows, and golocust's clients close every other).
type limitedTransport struct {
	rt    http.RoundTripper
	limit *requestLimit
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.limit.acquire(req.Context(), time.Time{}); err != nil {
		return nil, err
	}
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		t.limit.release()
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, limit: t.limit}
	return resp, nil
}

// limitedBody gives its request's place back when closed, once.
type limitedBody struct {
	io.ReadCloser
	limit    *requestLimit
	released atomic.Bool
}

func (b *limitedBody) Close() error {
	err := b.ReadCloser.Close()
	if b.released.CompareAndSwap(false, true) {
		b.limit.release()
	}
	return err
}
