package stats

import (
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// currentWindow is Locust's CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW in
	// seconds: "current" percentiles cover about this many recent seconds.
	currentWindow = 10
	// cacheSize is how many per-second histogram snapshots a row keeps.
	cacheSize = currentWindow + 10
)

// Totals accumulates delta reports the way the Locust master does: rows
// are merged per Key, the total into the total, errors by ID. It serves
// the live table, the summary, percentiles and the CSV files of standalone
// mode. It is safe for concurrent use.
type Totals struct {
	mu     sync.Mutex
	rows   map[Key]*row
	total  *row
	errors map[string]*Error // by Error.ID
}

// row is a cumulative Entry with Locust's response-times cache, the
// snapshots from which "current" percentiles are computed.
type row struct {
	Entry
	cache []snapshot // oldest first, at most cacheSize
}

// snapshot is a copy of a row's histogram at one second.
type snapshot struct {
	sec           int64
	responseTimes map[int64]int64
	numRequests   int64
}

// NewTotals returns empty totals whose Aggregated row starts now.
func NewTotals() *Totals {
	return &Totals{
		rows:   make(map[Key]*row),
		total:  newRow(Key{Name: AggregatedName}, time.Now().Round(0)),
		errors: make(map[string]*Error),
	}
}

func newRow(k Key, now time.Time) *row {
	r := &row{Entry: emptyEntry(k)}
	r.reset(now)
	return r
}

// reset is Locust's StatsEntry.reset with the response-times cache on.
func (r *row) reset(now time.Time) {
	clear(r.ResponseTimes)
	clear(r.NumReqsPerSec)
	clear(r.NumFailPerSec)
	r.Entry = Entry{
		Key:           r.Key,
		ResponseTimes: r.ResponseTimes,
		NumReqsPerSec: r.NumReqsPerSec,
		NumFailPerSec: r.NumFailPerSec,
		StartTime:     now,
	}
	r.cache = r.cache[:0]
	r.snapshot(now.Unix())
}

// extend is Locust's StatsEntry.extend.
func (r *row) extend(o *Entry) {
	old := r.LastRequestTimestamp
	if o.LastRequestTimestamp.After(r.LastRequestTimestamp) {
		r.LastRequestTimestamp = o.LastRequestTimestamp
	}
	if r.StartTime.IsZero() || (!o.StartTime.IsZero() && o.StartTime.Before(r.StartTime)) {
		r.StartTime = o.StartTime
	}
	r.sum(o)
	if !r.LastRequestTimestamp.IsZero() {
		last := r.LastRequestTimestamp.Unix()
		var prev int64
		if !old.IsZero() {
			prev = old.Unix()
		}
		if last > prev {
			r.snapshot(last)
		}
	}
}

// snapshot stores a copy of the histogram for second sec, replacing an
// older copy for the same second, and drops the oldest beyond cacheSize.
func (r *row) snapshot(sec int64) {
	s := snapshot{sec: sec, responseTimes: cloneCounts(r.ResponseTimes), numRequests: r.NumRequests}
	if i := slices.IndexFunc(r.cache, func(c snapshot) bool { return c.sec == sec }); i >= 0 {
		r.cache[i] = s
		return
	}
	r.cache = append(r.cache, s)
	if n := len(r.cache) - cacheSize; n > 0 {
		r.cache = slices.Delete(r.cache, 0, n)
	}
}

// currentPercentile is Locust's get_current_response_time_percentile: the
// percentile over the requests since the snapshot taken closest to
// currentWindow seconds before now (preferring now-10, then now-11, now-9,
// now-12, now-8 ... now-18, now-2). ok is false without such a snapshot.
func (r *row) currentPercentile(p float64, now time.Time) (d time.Duration, ok bool) {
	t := now.Unix() - currentWindow
	for i := 0; i < 17; i++ {
		// Candidates in order: t, t-1, t+1, t-2, t+2, ... t-8, t+8.
		ts := t - int64((i+1)/2)
		if i%2 == 0 {
			ts = t + int64(i/2)
		}
		j := slices.IndexFunc(r.cache, func(c snapshot) bool { return c.sec == ts })
		if j < 0 {
			continue
		}
		c := r.cache[j]
		diff := make(map[int64]int64)
		for k, n := range r.ResponseTimes {
			if n -= c.responseTimes[k]; n != 0 {
				diff[k] = n
			}
		}
		return millis(percentileKey(diff, sortedKeys(diff), r.NumRequests-c.numRequests, p)), true
	}
	return 0, false
}

// Merge adds a delta report, as the Locust master does with a worker's
// stats message. A row seen for the first time starts at r.Time (or now if
// r.Time is zero) unless the report says it started earlier.
func (t *Totals) Merge(r Report) {
	now := r.Time
	if now.IsZero() {
		now = time.Now()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range r.Entries {
		e := &r.Entries[i]
		rw := t.rows[e.Key]
		if rw == nil {
			rw = newRow(e.Key, now)
			t.rows[e.Key] = rw
		}
		rw.extend(e)
	}
	t.total.extend(&r.Total)
	for _, e := range r.Errors {
		id := e.ID()
		if have := t.errors[id]; have != nil {
			have.Occurrences += e.Occurrences
		} else {
			t.errors[id] = &e
		}
	}
}

// Entries returns copies of the cumulative rows, sorted by (Name, Method)
// like Locust's table. Rows stay after Reset, with zero counts, as in
// Locust.
func (t *Totals) Entries() []Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entriesLocked()
}

func (t *Totals) entriesLocked() []Entry {
	es := make([]Entry, 0, len(t.rows))
	for _, r := range t.rows {
		es = append(es, r.Entry.clone())
	}
	sortEntries(es)
	return es
}

// Total returns a copy of the cumulative Aggregated row.
func (t *Totals) Total() Entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total.Entry.clone()
}

// Errors returns the cumulative failures sorted by ID, the order of
// Locust's failures CSV.
func (t *Totals) Errors() []Error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.errorsLocked()
}

func (t *Totals) errorsLocked() []Error {
	ids := make([]string, 0, len(t.errors))
	for id := range t.errors {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, strings.Compare)
	es := make([]Error, len(ids))
	for i, id := range ids {
		es[i] = *t.errors[id]
	}
	return es
}

// Reset zeroes every row and the total and forgets the errors, like
// Locust's reset_all (used by --reset-stats): rows are kept, now empty, and
// start now.
func (t *Totals) Reset() {
	now := time.Now().Round(0)
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range t.rows {
		r.reset(now)
	}
	t.total.reset(now)
	t.errors = make(map[string]*Error)
}

// CurrentRPS returns e's requests per second over roughly the last ten
// complete seconds exactly as Locust computes it for a table row: the
// window ends at the Aggregated row's last request, not at the wall clock,
// and starts no earlier than the Aggregated row's start.
func (t *Totals) CurrentRPS(e Entry) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return windowRate(e.NumReqsPerSec, t.total.LastRequestTimestamp, t.total.StartTime)
}

// CurrentFailPerSec is CurrentRPS for failures.
func (t *Totals) CurrentFailPerSec(e Entry) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return windowRate(e.NumFailPerSec, t.total.LastRequestTimestamp, t.total.StartTime)
}

// TotalRPS returns e's requests divided by the seconds between the
// Aggregated row's start and last request, as Locust computes the
// "Requests/s" of every row in its summary and CSV.
func (t *Totals) TotalRPS(e Entry) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return rate(e.NumRequests, t.total.LastRequestTimestamp, t.total.StartTime)
}

// TotalFailPerSec is TotalRPS for failures.
func (t *Totals) TotalFailPerSec(e Entry) float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return rate(e.NumFailures, t.total.LastRequestTimestamp, t.total.StartTime)
}

// CurrentPercentile returns the response time percentile p of row k over
// roughly the last ten seconds before now, as Locust's
// get_current_response_time_percentile (used for the charts and the
// --csv-full-history file). ok is false if the row is unknown or has no
// histogram snapshot from about ten seconds ago.
func (t *Totals) CurrentPercentile(k Key, p float64, now time.Time) (d time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rows[k]
	if r == nil {
		return 0, false
	}
	return r.currentPercentile(p, now)
}

// TotalCurrentPercentile is CurrentPercentile for the Aggregated row.
func (t *Totals) TotalCurrentPercentile(p float64, now time.Time) (d time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total.currentPercentile(p, now)
}
