package report

// This file owns the run's history for the charts: one row per interval
// (the CSV interval of a standalone run), kept in memory within a bound.

import (
	"maps"
	"time"

	"github.com/golocust/golocust/stats"
)

// DefaultMaxHistoryRows bounds a History: about 2 h 45 min of rows at one
// a second before neighbours start to merge.
const DefaultMaxHistoryRows = 10000

// HistoryRow is one point of the charts: what happened in the Interval
// that ended at Time.
type HistoryRow struct {
	// Time is the end of the interval.
	Time time.Time
	// Interval is how long the row covers, from the previous row's Time
	// (the first row: from the History's start).
	Interval time.Duration
	// Users is the number of running users at Time.
	Users int
	// Requests and Failures count the requests that finished in the
	// interval, failed ones included in Requests.
	Requests, Failures int64
	// P50, P95 and P99 are the response-time percentiles of the
	// interval's requests, as Locust computes percentiles (bucket keys);
	// they mean nothing when Requests is 0. In a row merged from
	// neighbours, each is the larger of theirs.
	P50, P95, P99 time.Duration
}

// RPS is the requests per second over the row's interval.
func (r HistoryRow) RPS() float64 { return perSecond(r.Requests, r.Interval) }

// FailPerSec is the failures per second over the row's interval.
func (r HistoryRow) FailPerSec() float64 { return perSecond(r.Failures, r.Interval) }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// History collects HistoryRows from cumulative statistics: each Add takes
// the difference since the previous one. An Add that covers less than
// half the interval of the one before (the run's end, just after the last
// interval) joins the last row rather than chart a rate over a few
// milliseconds. It keeps at most its maximum of
// rows: at the maximum, neighbours merge in pairs and each row from then
// on covers twice as many Adds, so a long run keeps its whole span at an
// even, coarser step. It is not safe for concurrent use.
type History struct {
	max  int
	step int       // Adds per row
	fill int       // Adds in the last row; below step, the next Add joins it
	last time.Time // the previous Add, or the start
	// every is the interval of the previous Add that made or filled a
	// row: what a tail is measured against.
	every time.Duration
	// prev is the Aggregated row at the previous Add: its counts and
	// histogram are subtracted from the next, unless the row started
	// anew since (a reset).
	prevStart                  time.Time
	prevRequests, prevFailures int64
	prevTimes                  map[int64]int64
	rows                       []HistoryRow
}

// NewHistory returns an empty history of a run that started at start,
// keeping at most maxRows rows (rounded down to an even number; below 2
// means DefaultMaxHistoryRows).
func NewHistory(start time.Time, maxRows int) *History {
	if maxRows < 2 {
		maxRows = DefaultMaxHistoryRows
	}
	return &History{max: maxRows &^ 1, step: 1, last: start, prevTimes: map[int64]int64{}}
}

// Add appends the row for the interval that ends at now: the requests of
// t's Aggregated row since the previous Add, and users. After a reset
// of the statistics (the row's start moved) it counts from zero again.
func (h *History) Add(t *stats.Totals, users int, now time.Time) {
	total := t.Total()
	if !total.StartTime.Equal(h.prevStart) || total.NumRequests < h.prevRequests {
		h.prevRequests, h.prevFailures = 0, 0
		clear(h.prevTimes)
	}
	row := HistoryRow{
		Time:     now,
		Interval: now.Sub(h.last),
		Users:    users,
		Requests: total.NumRequests - h.prevRequests,
		Failures: max(total.NumFailures-h.prevFailures, 0),
	}
	if row.Requests > 0 {
		diff := stats.Entry{NumRequests: row.Requests, ResponseTimes: map[int64]int64{}}
		for k, n := range total.ResponseTimes {
			if n -= h.prevTimes[k]; n > 0 {
				diff.ResponseTimes[k] = n
			}
		}
		row.P50, row.P95, row.P99 = diff.Percentile(0.50), diff.Percentile(0.95), diff.Percentile(0.99)
	}
	h.last, h.prevStart = now, total.StartTime
	h.prevRequests, h.prevFailures = total.NumRequests, total.NumFailures
	h.prevTimes = maps.Clone(total.ResponseTimes)
	if h.isTail(row) {
		n := len(h.rows)
		h.rows[n-1] = mergeRows(h.rows[n-1], row)
		return
	}
	h.every = row.Interval
	h.append(row)
}

// isTail reports whether row covers less than half the interval of the
// Adds before it: the end of a run, a few milliseconds after the last
// interval, with the requests cut short by the stop. As a row of its own
// it would chart their rate over those milliseconds, a spike that never
// was; it joins the last row instead, whose span it extends, and is not
// counted as an Add.
func (h *History) isTail(row HistoryRow) bool {
	return len(h.rows) > 0 && row.Interval < h.every/2
}

// append adds row to the last row while that covers fewer Adds than the
// step, else as a new row, halving the rows first at the maximum.
func (h *History) append(row HistoryRow) {
	if n := len(h.rows); n > 0 && h.fill < h.step {
		h.rows[n-1] = mergeRows(h.rows[n-1], row)
		h.fill++
		return
	}
	if len(h.rows) >= h.max {
		h.halve()
		h.step *= 2
	}
	h.rows = append(h.rows, row)
	h.fill = 1
}

// halve merges the rows in pairs; they are full, and even in number.
func (h *History) halve() {
	n := 0
	for i := 0; i < len(h.rows); i += 2 {
		r := h.rows[i]
		if i+1 < len(h.rows) {
			r = mergeRows(r, h.rows[i+1])
		}
		h.rows[n] = r
		n++
	}
	h.rows = h.rows[:n]
}

// mergeRows is the row covering a and then b.
func mergeRows(a, b HistoryRow) HistoryRow {
	m := b
	m.Interval = a.Interval + b.Interval
	m.Requests = a.Requests + b.Requests
	m.Failures = a.Failures + b.Failures
	if a.Requests > 0 {
		m.P50, m.P95, m.P99 = max(a.P50, b.P50), max(a.P95, b.P95), max(a.P99, b.P99)
	}
	return m
}

// Rows returns a copy of the rows, oldest first; the last may cover
// fewer Adds than the others, and a tail (see isTail) besides.
func (h *History) Rows() []HistoryRow {
	return append([]HistoryRow(nil), h.rows...)
}
