package report

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/golocust/golocust/stats"
)

// run is a made-up run: a collector and totals merged at given times.
type run struct {
	c *stats.Collector
	t *stats.Totals
}

func newRun() *run { return &run{c: stats.NewCollector(), t: stats.NewTotals()} }

// requests records n requests of duration d finishing at at, failed ones
// first.
func (r *run) requests(n, failed int, d time.Duration, at time.Time) {
	for i := range n {
		var err error
		if i < failed {
			err = errors.New("boom")
		}
		r.c.Record(stats.Sample{Method: "GET", Name: "/", Duration: d, Err: err, At: at})
	}
}

func (r *run) merge(now time.Time) { r.t.Merge(r.c.Report(now)) }

func TestHistoryRowsAreIntervals(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	r := newRun()
	h := NewHistory(start, 0)

	r.requests(20, 2, 10*time.Millisecond, start.Add(500*time.Millisecond))
	r.merge(start.Add(time.Second))
	h.Add(r.t, 5, start.Add(time.Second))

	r.requests(10, 0, 200*time.Millisecond, start.Add(1500*time.Millisecond))
	r.merge(start.Add(3 * time.Second))
	h.Add(r.t, 7, start.Add(3*time.Second))

	h.Add(r.t, 0, start.Add(4*time.Second)) // nothing new

	rows := h.Rows()
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	first, second, third := rows[0], rows[1], rows[2]
	if first.Requests != 20 || first.Failures != 2 || first.Users != 5 || first.Interval != time.Second {
		t.Errorf("first row %+v", first)
	}
	if first.RPS() != 20 || first.FailPerSec() != 2 || first.P50 != 10*time.Millisecond || first.P99 != 10*time.Millisecond {
		t.Errorf("first row rates %v %v, percentiles %v %v", first.RPS(), first.FailPerSec(), first.P50, first.P99)
	}
	// The second interval's percentiles are its own requests', not mixed
	// with the first's 10 ms ones.
	if second.Requests != 10 || second.Failures != 0 || second.Interval != 2*time.Second || second.RPS() != 5 {
		t.Errorf("second row %+v, rps %v", second, second.RPS())
	}
	if second.P50 != 200*time.Millisecond || second.P95 != 200*time.Millisecond {
		t.Errorf("second row percentiles %v %v, want 200ms", second.P50, second.P95)
	}
	if third.Requests != 0 || third.RPS() != 0 || third.Users != 0 {
		t.Errorf("third row %+v", third)
	}
}

func TestHistoryAfterReset(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	r := newRun()
	h := NewHistory(start, 0)
	r.requests(50, 0, 10*time.Millisecond, start.Add(500*time.Millisecond))
	r.merge(start.Add(time.Second))
	h.Add(r.t, 1, start.Add(time.Second))

	r.t.Reset() // --reset-stats: the totals count from zero
	r.requests(80, 0, 30*time.Millisecond, start.Add(1500*time.Millisecond))
	r.merge(start.Add(2 * time.Second))
	h.Add(r.t, 1, start.Add(2*time.Second))

	rows := h.Rows()
	if got := rows[1]; got.Requests != 80 || got.P50 != 30*time.Millisecond {
		t.Errorf("row after the reset: %d requests, p50 %v; want 80, 30ms", got.Requests, got.P50)
	}
}

func TestHistoryMergesNeighboursAtItsBound(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	r := newRun()
	h := NewHistory(start, 4)
	var want int64
	for i := range 9 {
		at := start.Add(time.Duration(i+1) * time.Second)
		r.requests(i+1, 0, time.Duration(i+1)*time.Millisecond, at.Add(-time.Millisecond))
		want += int64(i + 1)
		r.merge(at)
		h.Add(r.t, i, at)
		if n := len(h.Rows()); n > 4 {
			t.Fatalf("after %d adds: %d rows, bound 4", i+1, n)
		}
	}
	rows := h.Rows()
	// 4 rows, then halved to 2 (+1), to 4, halved to 2 (+1): seconds 1-4,
	// 5-8 and 9.
	if len(rows) != 3 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	var got int64
	var span time.Duration
	for _, row := range rows {
		got += row.Requests
		span += row.Interval
	}
	if got != want || span != 9*time.Second {
		t.Errorf("rows hold %d requests over %v, want %d over 9s", got, span, want)
	}
	if m := rows[1]; m.Time != start.Add(8*time.Second) || m.Users != 7 || m.Requests != 5+6+7+8 || m.P99 != 8*time.Millisecond {
		t.Errorf("merged row %+v, want seconds 5-8: 26 requests, 7 users, p99 8ms", m)
	}
	if m := rows[1]; m.RPS() != 26.0/4 {
		t.Errorf("merged row rps %v, want 6.5", m.RPS())
	}
}

// TestHistoryTailJoinsTheLastRow: a run of 10 users at 20 requests a
// second, stopped 3 ms after its second interval with 10 requests cut
// short. The tail joins the second row, so no point charts 10 requests
// over 3 ms (3333 a second); every request is still in the rows.
func TestHistoryTailJoinsTheLastRow(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	r := newRun()
	h := NewHistory(start, 0)
	for s := 1; s <= 2; s++ {
		at := start.Add(time.Duration(s) * time.Second)
		r.requests(20, 0, 400*time.Millisecond, at.Add(-time.Millisecond))
		r.merge(at)
		h.Add(r.t, 10, at)
	}
	end := start.Add(2*time.Second + 3*time.Millisecond)
	r.requests(10, 10, 100*time.Millisecond, end) // cut short by the stop
	r.merge(end)
	h.Add(r.t, 0, end)

	rows := h.Rows()
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2 (the tail joined the last): %+v", len(rows), rows)
	}
	last := rows[1]
	if last.Time != end || last.Interval != 1003*time.Millisecond || last.Requests != 30 || last.Failures != 10 || last.Users != 0 {
		t.Errorf("last row %+v, want 30 requests, 10 failures over 1.003s to the end, 0 users", last)
	}
	if rps, fps := last.RPS(), last.FailPerSec(); math.Abs(rps-30/1.003) > 1e-9 || math.Abs(fps-10/1.003) > 1e-9 {
		t.Errorf("last row %v requests/s, %v failures/s; want %v and %v", rps, fps, 30/1.003, 10/1.003)
	}
	if first := rows[0]; first.RPS() != 20 || first.FailPerSec() != 0 {
		t.Errorf("first row %v requests/s, %v failures/s; want 20 and 0", first.RPS(), first.FailPerSec())
	}
	var all int64
	for _, row := range rows {
		all += row.Requests
	}
	if total := r.t.Total().NumRequests; all != total || all != 50 {
		t.Errorf("rows hold %d requests, the totals %d; want 50", all, total)
	}
}

// TestHistoryLongTailIsARow: a last interval of at least half a step is
// a row of its own, and a tail does not count as an Add of a merged row.
func TestHistoryLongTailIsARow(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	r := newRun()
	h := NewHistory(start, 0)
	at := start
	for _, d := range []time.Duration{time.Second, time.Second, 600 * time.Millisecond, 250 * time.Millisecond} {
		at = at.Add(d)
		r.requests(6, 0, 10*time.Millisecond, at.Add(-time.Millisecond))
		r.merge(at)
		h.Add(r.t, 1, at)
	}
	rows := h.Rows()
	// 1s, 1s, 600ms (a row: not under half a second), then 250ms joins
	// it (under half of 600ms).
	if len(rows) != 3 || rows[2].Interval != 850*time.Millisecond || rows[2].Requests != 12 {
		t.Fatalf("rows %+v, want 3, the last 12 requests over 850ms", rows)
	}

	// At its bound, rows cover two Adds each; a tail joins the last row
	// without taking the place of its second Add.
	h = NewHistory(start, 2)
	r = newRun()
	at = start
	for _, d := range []time.Duration{time.Second, time.Second, time.Second, 10 * time.Millisecond, time.Second} {
		at = at.Add(d)
		r.requests(1, 0, 10*time.Millisecond, at.Add(-time.Millisecond))
		r.merge(at)
		h.Add(r.t, 1, at)
	}
	rows = h.Rows()
	// Seconds 1-2 (halved), then 3, the 10 ms tail and 4 in one row.
	if len(rows) != 2 || rows[1].Requests != 3 || rows[1].Interval != 2010*time.Millisecond {
		t.Errorf("rows %+v, want 2: 2 requests over 2s, then 3 over 2.01s", rows)
	}
}
