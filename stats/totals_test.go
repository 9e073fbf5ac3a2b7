package stats

import (
	"reflect"
	"testing"
	"time"
)

func entryAt(k Key, n, f int64, minD, maxD time.Duration, rt map[int64]int64, start, last time.Time) Entry {
	e := emptyEntry(k)
	e.NumRequests, e.NumFailures = n, f
	e.MinResponseTime, e.MaxResponseTime = minD, maxD
	e.TotalResponseTime = time.Duration(n) * (minD + maxD) / 2
	e.ResponseTimes = rt
	e.StartTime, e.LastRequestTimestamp = start, last
	if !last.IsZero() {
		e.NumReqsPerSec[last.Unix()] = n
		if f > 0 {
			e.NumFailPerSec[last.Unix()] = f
		}
	}
	return e
}

func TestTotalsMerge(t *testing.T) {
	get, post := Key{"GET", "/a"}, Key{"POST", "/a"}
	agg := Key{Name: AggregatedName}
	r1 := Report{
		Time: at(3 * time.Second),
		Entries: []Entry{
			entryAt(get, 2, 1, 0, 20*ms, counts(0, 1, 20, 1), at(1*time.Second), at(2*time.Second)),
		},
		Total:  entryAt(agg, 2, 1, 0, 20*ms, counts(0, 1, 20, 1), t0, at(2*time.Second)),
		Errors: []Error{{Key: get, Text: "E('x')", Occurrences: 1}},
	}
	r2 := Report{
		Time: at(6 * time.Second),
		Entries: []Entry{
			entryAt(get, 3, 0, 10*ms, 30*ms, counts(10, 1, 20, 1, 30, 1), at(3*time.Second), at(5*time.Second)),
			entryAt(post, 1, 1, 5*ms, 5*ms, counts(5, 1), at(4*time.Second), at(4*time.Second)),
		},
		Total: entryAt(agg, 4, 1, 5*ms, 30*ms, counts(5, 1, 10, 1, 20, 1, 30, 1), at(3*time.Second), at(5*time.Second)),
		Errors: []Error{
			{Key: get, Text: "E('x')", Occurrences: 2},
			{Key: post, Text: "E('y')", Occurrences: 1},
		},
	}
	// A second worker's report for the same window: earlier start, no requests.
	r3 := Report{Time: at(6 * time.Second), Entries: []Entry{}, Total: entryAt(agg, 0, 0, 0, 0, counts(), at(-time.Second), time.Time{})}

	tt := NewTotals()
	for _, r := range []Report{r1, r2, r3} {
		tt.Merge(r)
	}
	wantGet := Entry{
		Key: get, NumRequests: 5, NumFailures: 1,
		TotalResponseTime: 2*10*ms + 3*20*ms, MinResponseTime: 0, MaxResponseTime: 30 * ms,
		ResponseTimes: counts(0, 1, 10, 1, 20, 2, 30, 1),
		NumReqsPerSec: counts(sec0+2, 2, sec0+5, 3), NumFailPerSec: counts(sec0+2, 1),
		StartTime: at(1 * time.Second), LastRequestTimestamp: at(5 * time.Second),
	}
	wantPost := r2.Entries[1]
	wantTotal := Entry{
		Key: agg, NumRequests: 6, NumFailures: 2,
		TotalResponseTime: 2*10*ms + 4*(35*ms/2), MinResponseTime: 0, MaxResponseTime: 30 * ms,
		ResponseTimes: counts(0, 1, 5, 1, 10, 1, 20, 2, 30, 1),
		NumReqsPerSec: counts(sec0+2, 2, sec0+5, 4), NumFailPerSec: counts(sec0+2, 1, sec0+5, 1),
		StartTime: at(-time.Second), LastRequestTimestamp: at(5 * time.Second),
	}
	wantErrors := sortedErrs(
		Error{Key: get, Text: "E('x')", Occurrences: 3},
		Error{Key: post, Text: "E('y')", Occurrences: 1},
	)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Entries", tt.Entries(), []Entry{wantGet, wantPost}},
		{"Total", tt.Total(), wantTotal},
		{"Errors", tt.Errors(), wantErrors},
		{"TotalRPS of a row uses the total's times", tt.TotalRPS(wantGet), 5.0 / 6},
		{"TotalFailPerSec", tt.TotalFailPerSec(wantTotal), 2.0 / 6},
		// Window: seconds max(5-12, -1) = -1 up to 3 (exclusive); second 2 has 2.
		{"CurrentRPS", tt.CurrentRPS(wantGet), 2.0 / 4},
		{"CurrentFailPerSec", tt.CurrentFailPerSec(wantGet), 1.0 / 4},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s =\n%+v\nwant\n%+v", c.name, c.got, c.want)
		}
	}

	// Returned rows are copies.
	es := tt.Entries()
	es[0].ResponseTimes[999] = 1
	if _, ok := tt.Entries()[0].ResponseTimes[999]; ok {
		t.Error("Entries shares its maps with the totals")
	}

	// Reset keeps the rows, empty, and forgets the errors.
	before := time.Now()
	tt.Reset()
	es = tt.Entries()
	if len(es) != 2 || es[0].NumRequests != 0 || len(es[0].ResponseTimes) != 0 || es[0].StartTime.Before(before) {
		t.Errorf("after Reset: %+v", es)
	}
	if total := tt.Total(); total.NumRequests != 0 || !total.LastRequestTimestamp.IsZero() || total.StartTime.Before(before) {
		t.Errorf("after Reset: total %+v", total)
	}
	if len(tt.Errors()) != 0 {
		t.Errorf("after Reset: errors %+v", tt.Errors())
	}
}

// TestCurrentPercentile follows Locust's response-times cache: a snapshot
// per second in which the last request timestamp advanced, looked up
// about ten seconds back.
func TestCurrentPercentile(t *testing.T) {
	k := Key{"GET", "/"}
	agg := Key{Name: AggregatedName}
	tt := NewTotals()
	// Ten reports, one per second; report i has i+1 requests of (i+1)*10 ms.
	for i := range int64(10) {
		d := time.Duration(i+1) * 10 * ms
		rt := counts(BucketKey(d), i+1)
		last := at(time.Duration(i) * time.Second)
		tt.Merge(Report{
			Time:    last,
			Entries: []Entry{entryAt(k, i+1, 0, d, d, rt, last, last)},
			Total:   entryAt(agg, i+1, 0, d, d, counts(BucketKey(d), i+1), last, last),
		})
	}
	tests := []struct {
		now    time.Duration
		p      float64
		want   time.Duration
		wantOK bool
	}{
		// At t0+15 the preferred snapshot is t0+5, taken after report 5: the
		// requests since are 7*70ms, 8*80, 9*90, 10*100.
		{15 * time.Second, 0, 70 * ms, true},
		{15 * time.Second, 0.5, 90 * ms, true},
		{15 * time.Second, 1, 100 * ms, true},
		// At t0+12 the snapshot t0+2 is used.
		{12 * time.Second, 0.01, 40 * ms, true},
		// At t0+30 no snapshot lies within t0+12 ... t0+28.
		{30 * time.Second, 0.5, 0, false},
		// At t0+27 the snapshot t0+9 (t-18) is the last acceptable one:
		// nothing happened since, and the percentile of nothing is 0.
		{27 * time.Second, 0.5, 0, true},
	}
	for _, c := range tests {
		got, ok := tt.CurrentPercentile(k, c.p, at(c.now))
		if got != c.want || ok != c.wantOK {
			t.Errorf("CurrentPercentile(%v, at +%v) = %v, %v; want %v, %v", c.p, c.now, got, ok, c.want, c.wantOK)
		}
		gotT, okT := tt.TotalCurrentPercentile(c.p, at(c.now))
		if gotT != c.want || okT != c.wantOK {
			t.Errorf("TotalCurrentPercentile(%v, at +%v) = %v, %v; want %v, %v", c.p, c.now, gotT, okT, c.want, c.wantOK)
		}
	}
	if _, ok := tt.CurrentPercentile(Key{"GET", "/unknown"}, 0.5, at(15*time.Second)); ok {
		t.Error("CurrentPercentile of an unknown row is ok")
	}
}
