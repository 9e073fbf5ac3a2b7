package stats

import (
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

const (
	// shardsPerProc is how many shards a collector has per GOMAXPROCS.
	shardsPerProc = 4
	// maxShards caps the shard count on very large machines.
	maxShards = 1024
	// cacheLine is the padding unit that keeps shards and entries apart;
	// two 64-byte lines, because x86 prefetches lines in pairs.
	cacheLine = 128
)

// Collector holds statistics recorded by many goroutines and hands them out
// as delta reports. It is safe for concurrent use.
//
// A collector has 4*GOMAXPROCS shards (a power of two), each with its own
// lock, and records into the shard of the processor (the runtime's P) the
// recording goroutine runs on, so that the requests of every user running
// on one core land in one shard that stays in that core's cache. A shard
// keeps a row of about 1 KiB for every key it recorded since the previous
// report; rows that stay idle for a whole report window are dropped, so
// memory follows the keys in use. The collector also remembers every key it
// has reported until Clear, to give rows Locust's start times. Distinct
// rows are capped (see [Collector.SetLimits]): beyond the cap, requests and
// failures are counted in one overflow row of each kind.
type Collector struct {
	shards []paddedShard
	// local holds, per P, a *shard to record into. The shards stay in
	// shards: the pool only points at them, so nothing recorded is lost
	// when the garbage collector empties the pool.
	local sync.Pool
	next  atomic.Uint64 // round-robin index of the shard local hands out next

	mu    sync.Mutex       // serialises Report and Clear
	last  time.Time        // time of the previous Report or Clear
	known map[Key]struct{} // rows reported since the last Clear

	limit *rowLimit // the cap on distinct rows, shared by the shards
}

// NewCollector returns an empty collector whose first report window starts
// now.
func NewCollector() *Collector {
	n := 1
	for n < shardsPerProc*runtime.GOMAXPROCS(0) && n < maxShards {
		n <<= 1
	}
	c := &Collector{
		shards: make([]paddedShard, n),
		last:   time.Now().Round(0),
		known:  make(map[Key]struct{}),
		limit:  newRowLimit(),
	}
	for i := range c.shards {
		c.shards[i].entries = make(map[Key]*entry)
		c.shards[i].errors = make(map[errorKey]*int64)
		c.shards[i].limit = c.limit
	}
	c.local.New = func() any { return c.nextShard() }
	return c
}

// nextShard hands out the shards in turn. It is called when a P has no
// shard in c.local (the first time, after two garbage collections without
// a record, or while its shard is held by a goroutine descheduled in the
// middle of a record) and when the P's shard is locked. Two Ps may then
// share a shard until they collide on it, which its lock keeps correct.
func (c *Collector) nextShard() *shard {
	i := (c.next.Add(1) - 1) & uint64(len(c.shards)-1)
	return &c.shards[i].shard
}

// Recorder returns a handle that records into c. Many goroutines may use
// handles concurrently; there is no global lock and no channel per request.
// Every handle records into the shard of the P its caller runs on, not into
// one picked by id: id is not used, and handles of different users (one per
// user, as the worker gives them) cost no more than one shared handle, however
// many users run on a core.
func (c *Collector) Recorder(id uint64) Recorder {
	return Recorder{c: c}
}

// Record records s, like a Recorder does.
func (c *Collector) Record(s Sample) {
	c.record(&s)
}

// record is the hot path: it takes the calling P's shard from c.local, adds
// s to it and gives it back. A shard that is locked already (another P
// shares it, or Report is draining it) is left to its holder: the P takes
// the next shard instead and keeps that one, so Ps that came to share a
// shard part again at their first collision.
func (c *Collector) record(s *Sample) {
	text, bucket, ns, sec := prepare(s)
	sh := c.local.Get().(*shard)
	if !sh.mu.TryLock() {
		sh = c.nextShard()
		sh.mu.Lock()
	}
	sh.add(s, bucket, ns, sec, text)
	sh.mu.Unlock()
	c.local.Put(sh)
}

// Recorder records samples into a Collector. It is a small value, cheap to
// copy; the zero Recorder records nothing.
type Recorder struct {
	c      *Collector
	listen func(Sample) // sees every sample recorded; nil: none
}

// WithListener returns a recorder that also hands every sample it records
// to listen, after the statistics have it, on the recording goroutine. A
// nil listen costs nothing.
func (r Recorder) WithListener(listen func(Sample)) Recorder {
	r.listen = listen
	return r
}

// Record adds one finished request to the statistics. It does not allocate
// once the row, histogram bucket and second of s have been seen in the
// current report window, except to build the error text of a failure.
func (r Recorder) Record(s Sample) {
	if r.c != nil {
		r.c.record(&s)
	}
	if r.listen != nil {
		r.listen(s)
	}
}

// errorKey identifies a row of the failure table.
type errorKey struct {
	Key
	text string
}

// shard is one independently locked part of a Collector.
type shard struct {
	mu      sync.Mutex
	entries map[Key]*entry
	errors  map[errorKey]*int64 // a counter per failure row, so that a failure takes one lookup
	limit   *rowLimit           // asked about keys the shard does not hold
}

// paddedShard keeps neighbouring shards' mutexes on different cache lines.
type paddedShard struct {
	shard
	_ [cacheLine - unsafe.Sizeof(shard{})%cacheLine]byte
}

// entry is one row of one shard for the current report window. Its size is
// exactly one padding unit, so entries of different shards never share a
// cache line.
type entry struct {
	requests, failures int64
	total, min, max    time.Duration
	content            int64
	first, last        int64 // unix nanoseconds of the earliest and latest sample
	// sec, secReqs and secFails count the current second without a map
	// access; they are moved into reqsPerSec and failPerSec when the second
	// changes and when the window is drained.
	sec, secReqs, secFails int64
	// hist counts the buckets up to 10 s by index (see bucketIndex) and
	// histMore the rest: the array spares the hot path a map access. A
	// uint16 count keeps the array small; a full count is moved to
	// histMore, so a key's count is the sum of both.
	hist       *[histSize]uint16
	histMore   map[int64]int64
	reqsPerSec map[int64]int64
	failPerSec map[int64]int64
	_          [cacheLine - 15*8]byte
}

// histSize is the number of distinct bucket keys from 0 to 10000 ms.
const histSize = 100 + 90 + 91

// bucketIndex returns the index of bucket key k in entry.hist, or -1 for
// keys that go to entry.histMore.
func bucketIndex(k int64) int {
	switch {
	case k < 0:
		return -1
	case k < 100: // 0, 1, ... 99
		return int(k)
	case k < 1000: // 100, 110, ... 990
		return int(100 + (k-100)/10)
	case k <= 10000: // 1000, 1100, ... 10000
		return int(190 + (k-1000)/100)
	}
	return -1
}

// bucketKeyAt is the inverse of bucketIndex.
func bucketKeyAt(i int) int64 {
	switch {
	case i < 100:
		return int64(i)
	case i < 190:
		return 100 + int64(i-100)*10
	}
	return 1000 + int64(i-190)*100
}

func newEntry() *entry {
	return &entry{
		hist:       new([histSize]uint16),
		histMore:   make(map[int64]int64),
		reqsPerSec: make(map[int64]int64),
		failPerSec: make(map[int64]int64),
	}
}

// prepare computes what add needs from s before any lock is taken: the
// error text of a failure, the histogram bucket and the time of s.
func prepare(s *Sample) (text string, bucket, ns, sec int64) {
	if s.Err != nil {
		text = ErrorText(s.Err)
	}
	at := s.At
	if at.IsZero() {
		at = time.Now()
	}
	return text, BucketKey(s.Duration), at.UnixNano(), at.Unix()
}

// add adds s to the shard; it is called with sh.mu held.
func (sh *shard) add(s *Sample, bucket, ns, sec int64, text string) {
	k := Key{Method: s.Method, Name: s.Name}
	e := sh.entries[k]
	if e == nil {
		k = sh.limit.row(k) // k, or the overflow row beyond the cap
		if e = sh.entries[k]; e == nil {
			e = newEntry()
			sh.entries[k] = e
		}
	}
	failed := s.Err != nil
	e.add(s.Duration, s.Size, bucket, ns, sec, failed)
	if failed {
		sh.countError(errorKey{Key: k, text: text})
	}
}

// countError counts a failure of row and text k; it is called with sh.mu
// held. A key new to the shard is admitted by the collector's cap first.
func (sh *shard) countError(k errorKey) {
	n := sh.errors[k]
	if n == nil {
		k = sh.limit.error(k) // k, or the overflow row beyond the cap
		if n = sh.errors[k]; n == nil {
			n = new(int64)
			sh.errors[k] = n
		}
	}
	*n++
}

func (e *entry) add(d time.Duration, size, bucket, ns, sec int64, failed bool) {
	if e.requests == 0 {
		e.min, e.max = d, d
		e.first, e.last = ns, ns
	} else {
		e.min = min(e.min, d)
		e.max = max(e.max, d)
		e.first = min(e.first, ns)
		e.last = max(e.last, ns)
	}
	e.requests++
	e.total += d
	e.content += size
	if i := bucketIndex(bucket); i >= 0 {
		if e.hist[i] == math.MaxUint16 {
			e.histMore[bucket] += math.MaxUint16
			e.hist[i] = 0
		}
		e.hist[i]++
	} else {
		e.histMore[bucket]++
	}
	if sec != e.sec {
		e.flushSecond()
		e.sec = sec
	}
	e.secReqs++
	if failed {
		e.failures++
		e.secFails++
	}
}

// flushSecond moves the current second's counts into the per-second maps.
func (e *entry) flushSecond() {
	if e.secReqs != 0 {
		e.reqsPerSec[e.sec] += e.secReqs
		e.secReqs = 0
	}
	if e.secFails != 0 {
		e.failPerSec[e.sec] += e.secFails
		e.secFails = 0
	}
}

// reset empties e for the next window, keeping its maps' memory.
func (e *entry) reset() {
	hist, more, rps, fps := e.hist, e.histMore, e.reqsPerSec, e.failPerSec
	clear(hist[:])
	clear(more)
	clear(rps)
	clear(fps)
	*e = entry{hist: hist, histMore: more, reqsPerSec: rps, failPerSec: fps}
}

// window accumulates one row of a report from the shards.
type window struct {
	Entry
	first, last int64
}

// drain moves the shard's window into rows and errs and starts a new one.
// Rows without requests in the window are dropped from the shard, so the
// memory of rows that are no longer used is given back.
func (sh *shard) drain(rows map[Key]*window, errs map[errorKey]int64) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for k, e := range sh.entries {
		if e.requests == 0 {
			delete(sh.entries, k)
			continue
		}
		e.flushSecond()
		w := rows[k]
		if w == nil {
			w = &window{Entry: emptyEntry(k), first: e.first, last: e.last}
			rows[k] = w
		}
		w.absorb(e)
		e.reset()
	}
	for k, n := range sh.errors {
		errs[k] += *n
	}
	clear(sh.errors)
}

func (w *window) absorb(e *entry) {
	if w.NumRequests == 0 {
		w.MinResponseTime, w.MaxResponseTime = e.min, e.max
	} else {
		w.MinResponseTime = min(w.MinResponseTime, e.min)
		w.MaxResponseTime = max(w.MaxResponseTime, e.max)
	}
	w.first = min(w.first, e.first)
	w.last = max(w.last, e.last)
	w.NumRequests += e.requests
	w.NumFailures += e.failures
	w.TotalResponseTime += e.total
	w.TotalContentLength += e.content
	for i, n := range e.hist {
		if n != 0 {
			w.ResponseTimes[bucketKeyAt(i)] += int64(n)
		}
	}
	addCounts(w.ResponseTimes, e.histMore)
	addCounts(w.NumReqsPerSec, e.reqsPerSec)
	addCounts(w.NumFailPerSec, e.failPerSec)
}

// Report returns everything recorded since the previous Report (a delta,
// like a Locust worker's 3-second report) and resets the counters; the next
// window starts at now. Rows seen for the first time start at their first
// sample, other rows and the total at the previous report's now, as in
// Locust. Every sample is in exactly one report, even when Report runs
// concurrently with recording.
func (c *Collector) Report(now time.Time) Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.last
	c.last = now

	rows := make(map[Key]*window)
	errs := make(map[errorKey]int64)
	for i := range c.shards {
		c.shards[i].drain(rows, errs)
	}

	r := Report{
		Time:    now,
		Entries: make([]Entry, 0, len(rows)),
		Total:   emptyEntry(Key{Name: AggregatedName}),
		Errors:  make([]Error, 0, len(errs)),
	}
	r.Total.StartTime = prev
	for k, w := range rows {
		if _, ok := c.known[k]; ok {
			w.StartTime = prev
		} else {
			w.StartTime = time.Unix(0, w.first)
			c.known[k] = struct{}{}
		}
		w.LastRequestTimestamp = time.Unix(0, w.last)
		r.Total.sum(&w.Entry)
		r.Entries = append(r.Entries, w.Entry)
	}
	sortEntries(r.Entries)
	for k, n := range errs {
		r.Errors = append(r.Errors, Error{Key: k.Key, Text: k.text, Occurrences: n})
	}
	sortErrors(r.Errors)
	return r
}

// Clear forgets every row and error, like Locust's clear_all when a new
// test starts; the next window starts at now.
func (c *Collector) Clear(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = now
	clear(c.known)
	c.limit.clear()
	for i := range c.shards {
		sh := &c.shards[i].shard
		sh.mu.Lock()
		clear(sh.entries)
		clear(sh.errors)
		sh.mu.Unlock()
	}
}

// Report is one delta report: what a collector recorded in one window.
type Report struct {
	// Time is the now passed to Collector.Report: the end of the window.
	Time time.Time
	// Entries holds the rows with at least one request or failure, sorted
	// by (Name, Method).
	Entries []Entry
	// Total is the "Aggregated" row (Method "", Name "Aggregated"); it is
	// always present.
	Total Entry
	// Errors holds the failures by row and text, sorted by Error.ID (the
	// order of Locust's failures CSV).
	Errors []Error
}

// sortEntries sorts rows by (Name, Method), the order of Locust's tables.
func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
}

// sortErrors sorts errors by ID, computing each ID once.
func sortErrors(es []Error) {
	type keyed struct {
		id string
		e  Error
	}
	ks := make([]keyed, len(es))
	for i, e := range es {
		ks[i] = keyed{e.ID(), e}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return strings.Compare(a.id, b.id) })
	for i := range ks {
		es[i] = ks[i].e
	}
}
