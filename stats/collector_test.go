package stats

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// t0 is an arbitrary whole second for deterministic tests.
var t0 = time.Unix(1700000000, 0)

func at(d time.Duration) time.Time { return time.Unix(0, t0.Add(d).UnixNano()) }

func counts(kv ...int64) map[int64]int64 {
	m := make(map[int64]int64)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

var (
	sec0 = t0.Unix()
	ms   = time.Millisecond
)

func TestCollectorReport(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		samples []Sample
		want    Report
	}{
		{
			name: "empty",
			want: Report{
				Time:    at(3 * time.Second),
				Entries: []Entry{},
				Total:   Entry{Key: Key{Name: "Aggregated"}, ResponseTimes: counts(), NumReqsPerSec: counts(), NumFailPerSec: counts(), StartTime: t0},
				Errors:  []Error{},
			},
		},
		{
			name: "success failure and zero duration",
			samples: []Sample{
				{Method: "POST", Name: "/b", Duration: 0, Size: 5, At: at(2100 * ms)},
				{Method: "GET", Name: "/a", Duration: 10 * ms, Size: 100, At: at(1200 * ms)},
				{Method: "GET", Name: "/a", Duration: 30 * ms, Err: boom, At: at(1700 * ms)},
			},
			want: Report{
				Time: at(3 * time.Second),
				Entries: []Entry{
					{
						Key: Key{"GET", "/a"}, NumRequests: 2, NumFailures: 1,
						TotalResponseTime: 40 * ms, MinResponseTime: 10 * ms, MaxResponseTime: 30 * ms, TotalContentLength: 100,
						ResponseTimes: counts(10, 1, 30, 1), NumReqsPerSec: counts(sec0+1, 2), NumFailPerSec: counts(sec0+1, 1),
						StartTime: at(1200 * ms), LastRequestTimestamp: at(1700 * ms),
					},
					{
						Key: Key{"POST", "/b"}, NumRequests: 1, TotalContentLength: 5,
						ResponseTimes: counts(0, 1), NumReqsPerSec: counts(sec0+2, 1), NumFailPerSec: counts(),
						StartTime: at(2100 * ms), LastRequestTimestamp: at(2100 * ms),
					},
				},
				Total: Entry{
					Key: Key{Name: "Aggregated"}, NumRequests: 3, NumFailures: 1,
					TotalResponseTime: 40 * ms, MinResponseTime: 0, MaxResponseTime: 30 * ms, TotalContentLength: 105,
					ResponseTimes: counts(0, 1, 10, 1, 30, 1), NumReqsPerSec: counts(sec0+1, 2, sec0+2, 1), NumFailPerSec: counts(sec0+1, 1),
					StartTime: t0, LastRequestTimestamp: at(2100 * ms),
				},
				Errors: []Error{{Key: Key{"GET", "/a"}, Text: "boom", Occurrences: 1}},
			},
		},
		{
			name: "min becomes zero after a positive sample",
			samples: []Sample{
				{Method: "GET", Name: "/z", Duration: 5 * ms, At: at(0)},
				{Method: "GET", Name: "/z", Duration: 0, At: at(0)},
				{Method: "GET", Name: "/z", Duration: 7 * ms, At: at(0)},
			},
			want: Report{
				Time: at(3 * time.Second),
				Entries: []Entry{{
					Key: Key{"GET", "/z"}, NumRequests: 3, TotalResponseTime: 12 * ms, MinResponseTime: 0, MaxResponseTime: 7 * ms,
					ResponseTimes: counts(0, 1, 5, 1, 7, 1), NumReqsPerSec: counts(sec0, 3), NumFailPerSec: counts(),
					StartTime: t0, LastRequestTimestamp: t0,
				}},
				Total: Entry{
					Key: Key{Name: "Aggregated"}, NumRequests: 3, TotalResponseTime: 12 * ms, MinResponseTime: 0, MaxResponseTime: 7 * ms,
					ResponseTimes: counts(0, 1, 5, 1, 7, 1), NumReqsPerSec: counts(sec0, 3), NumFailPerSec: counts(),
					StartTime: t0, LastRequestTimestamp: t0,
				},
				Errors: []Error{},
			},
		},
		{
			name: "errors by row and text, sorted by ID",
			samples: []Sample{
				{Method: "GET", Name: "/e", Duration: 1 * ms, Err: errors.New("x"), At: at(0)},
				{Method: "GET", Name: "/e", Duration: 1 * ms, Err: errors.New("x"), At: at(0)},
				{Method: "GET", Name: "/e", Duration: 1 * ms, Err: errors.New("y"), At: at(0)},
				{Method: "PUT", Name: "/e", Duration: 1 * ms, Err: errors.New("x"), At: at(0)},
			},
			want: Report{
				Time: at(3 * time.Second),
				Entries: []Entry{
					{
						Key: Key{"GET", "/e"}, NumRequests: 3, NumFailures: 3, TotalResponseTime: 3 * ms, MinResponseTime: ms, MaxResponseTime: ms,
						ResponseTimes: counts(1, 3), NumReqsPerSec: counts(sec0, 3), NumFailPerSec: counts(sec0, 3), StartTime: t0, LastRequestTimestamp: t0,
					},
					{
						Key: Key{"PUT", "/e"}, NumRequests: 1, NumFailures: 1, TotalResponseTime: ms, MinResponseTime: ms, MaxResponseTime: ms,
						ResponseTimes: counts(1, 1), NumReqsPerSec: counts(sec0, 1), NumFailPerSec: counts(sec0, 1), StartTime: t0, LastRequestTimestamp: t0,
					},
				},
				Total: Entry{
					Key: Key{Name: "Aggregated"}, NumRequests: 4, NumFailures: 4, TotalResponseTime: 4 * ms, MinResponseTime: ms, MaxResponseTime: ms,
					ResponseTimes: counts(1, 4), NumReqsPerSec: counts(sec0, 4), NumFailPerSec: counts(sec0, 4), StartTime: t0, LastRequestTimestamp: t0,
				},
				Errors: sortedErrs(
					Error{Key: Key{"GET", "/e"}, Text: "x", Occurrences: 2},
					Error{Key: Key{"GET", "/e"}, Text: "y", Occurrences: 1},
					Error{Key: Key{"PUT", "/e"}, Text: "x", Occurrences: 1},
				),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCollector()
			c.Clear(t0)
			for i, s := range tt.samples {
				recordIn(&c.shards[i%len(c.shards)].shard, s) // spread over shards
			}
			got := c.Report(at(3 * time.Second))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Report =\n%+v\nwant\n%+v", got, tt.want)
			}
			// Everything was reset: the next report is empty but has a total.
			next := c.Report(at(6 * time.Second))
			if len(next.Entries) != 0 || len(next.Errors) != 0 || next.Total.NumRequests != 0 {
				t.Errorf("second Report not empty: %+v", next)
			}
			if !next.Total.StartTime.Equal(at(3*time.Second)) || next.Total.ResponseTimes == nil {
				t.Errorf("second Report total = %+v", next.Total)
			}
		})
	}
}

func sortedErrs(es ...Error) []Error {
	sortErrors(es)
	return es
}

// TestCollectorStartTimes checks Locust's start_time rule: a new row
// starts at its first request, a known row at the previous report.
func TestCollectorStartTimes(t *testing.T) {
	c := NewCollector()
	c.Clear(t0)
	a := &c.shards[0].shard
	b := &c.shards[1].shard
	get := Key{"GET", "/x"}
	steps := []struct {
		sh        *shard
		at, now   time.Duration
		wantStart time.Duration
	}{
		{a, 1 * time.Second, 3 * time.Second, 1 * time.Second}, // new row
		{b, 4 * time.Second, 6 * time.Second, 3 * time.Second}, // known, though new in b's shard
		{a, -1, 9 * time.Second, -1},                           // idle window: no row
		{a, 10 * time.Second, 12 * time.Second, 9 * time.Second},
	}
	for i, s := range steps {
		if s.at >= 0 {
			recordIn(s.sh, Sample{Method: get.Method, Name: get.Name, Duration: ms, At: at(s.at)})
		}
		r := c.Report(at(s.now))
		if !r.Total.StartTime.Equal(at(s.now - 3*time.Second)) {
			t.Errorf("step %d: total start %v", i, r.Total.StartTime)
		}
		if s.wantStart < 0 {
			if len(r.Entries) != 0 {
				t.Errorf("step %d: entries %+v, want none", i, r.Entries)
			}
			continue
		}
		if len(r.Entries) != 1 || !r.Entries[0].StartTime.Equal(at(s.wantStart)) {
			t.Errorf("step %d: entries %+v, want one starting at %v", i, r.Entries, at(s.wantStart))
		}
	}
	// Clear forgets the row: it is new again.
	c.Clear(at(20 * time.Second))
	recordIn(a, Sample{Method: get.Method, Name: get.Name, At: at(21 * time.Second)})
	if r := c.Report(at(22 * time.Second)); !r.Entries[0].StartTime.Equal(at(21 * time.Second)) {
		t.Errorf("after Clear: start %v", r.Entries[0].StartTime)
	}
}

func TestRecordZeroAtUsesNow(t *testing.T) {
	c := NewCollector()
	before := time.Now()
	c.Record(Sample{Method: "GET", Name: "/now", Duration: ms})
	after := time.Now()
	r := c.Report(after)
	last := r.Entries[0].LastRequestTimestamp
	if last.Before(before.Truncate(0)) || last.After(after) {
		t.Errorf("LastRequestTimestamp %v not in [%v, %v]", last, before, after)
	}
}

func TestZeroRecorder(t *testing.T) {
	var r Recorder
	r.Record(Sample{Method: "GET", Name: "/", Duration: ms}) // must not panic
}

func TestLayout(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s != cacheLine {
		t.Errorf("entry is %d bytes, want %d", s, cacheLine)
	}
	if s := unsafe.Sizeof(paddedShard{}); s%cacheLine != 0 {
		t.Errorf("paddedShard is %d bytes, want a multiple of %d", s, cacheLine)
	}
	c := NewCollector()
	if n := len(c.shards); n&(n-1) != 0 {
		t.Errorf("%d shards, want a power of two", n)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	c := NewCollector()
	r := c.Recorder(7)
	s := Sample{Method: "GET", Name: "/items", Duration: 42 * ms, Size: 512, At: t0}
	r.Record(s)
	if n := testing.AllocsPerRun(1000, func() { r.Record(s) }); n != 0 {
		t.Errorf("Record allocates %v times per call", n)
	}
	// Also after a report: the row and its maps are kept while in use.
	c.Report(t0)
	r.Record(s)
	if n := testing.AllocsPerRun(1000, func() { r.Record(s) }); n != 0 {
		t.Errorf("Record allocates %v times per call after Report", n)
	}
}

// TestConcurrentRecordAndReport records known counts from many goroutines
// while reports are taken concurrently; the reports must add up exactly.
func TestConcurrentRecordAndReport(t *testing.T) {
	const (
		goroutines = 16
		perG       = 3000
	)
	c := NewCollector()
	c.Clear(t0)
	stop := make(chan struct{})
	var reports []Report
	var reporter sync.WaitGroup
	reporter.Add(1)
	go func() {
		defer reporter.Done()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
				reports = append(reports, c.Report(at(time.Duration(n)*time.Millisecond)))
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.Recorder(uint64(g))
			for i := range perG {
				s := Sample{
					Method:   "GET",
					Name:     fmt.Sprintf("/k%d", i%5),
					Duration: time.Duration(i%200) * ms,
					Size:     int64(i % 3),
					At:       at(time.Duration(i%7) * time.Second),
				}
				if i%10 == 0 {
					s.Err = fmt.Errorf("e%d", i%20)
				}
				r.Record(s)
			}
		}()
	}
	wg.Wait()
	close(stop)
	reporter.Wait()
	reports = append(reports, c.Report(at(time.Hour)))
	if len(reports) < 2 {
		t.Logf("only %d reports were taken", len(reports))
	}

	var requests, failures, content, hist, perSec, failSec, occurrences, totalReqs int64
	var rt time.Duration
	for _, r := range reports {
		for _, e := range r.Entries {
			requests += e.NumRequests
			failures += e.NumFailures
			content += e.TotalContentLength
			rt += e.TotalResponseTime
			for _, n := range e.ResponseTimes {
				hist += n
			}
			for _, n := range e.NumReqsPerSec {
				perSec += n
			}
			for _, n := range e.NumFailPerSec {
				failSec += n
			}
		}
		for _, e := range r.Errors {
			occurrences += e.Occurrences
		}
		totalReqs += r.Total.NumRequests
	}
	var wantRT time.Duration
	var wantContent int64
	for i := range perG {
		wantRT += time.Duration(i%200) * ms
		wantContent += int64(i % 3)
	}
	const n, f = goroutines * perG, goroutines * perG / 10
	checks := []struct {
		name      string
		got, want int64
	}{
		{"requests", requests, n},
		{"total row requests", totalReqs, n},
		{"failures", failures, f},
		{"histogram", hist, n},
		{"requests per second", perSec, n},
		{"failures per second", failSec, f},
		{"error occurrences", occurrences, f},
		{"content", content, goroutines * wantContent},
		{"response time", int64(rt), goroutines * int64(wantRT)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, c.got, c.want)
		}
	}
}

// TestRecordsFollowTheProcessor records for 10,000 users, each with its own
// recorder, from one goroutine: the records land in the shard of the
// goroutine's P (one, or a few if the goroutine moves), not spread over
// every shard by user id.
func TestRecordsFollowTheProcessor(t *testing.T) {
	if raceEnabled() {
		t.Skip("with -race, sync.Pool drops a quarter of what is put back, so shards are handed out again")
	}
	c := NewCollector()
	const users = 10000
	for id := range users {
		c.Recorder(uint64(id)).Record(Sample{Method: "GET", Name: "/", Duration: ms, At: t0})
	}
	used := 0
	for i := range c.shards {
		if len(c.shards[i].entries) != 0 {
			used++
		}
	}
	if used > len(c.shards)/2 {
		t.Errorf("one goroutine recorded into %d of %d shards, want at most half", used, len(c.shards))
	}
	if n := c.Report(t0).Total.NumRequests; n != users {
		t.Errorf("%d requests reported, want %d", n, users)
	}
}

// TestNextShardTakesTurns: the shards a P gets when it has none are
// handed out in turn, so that Ps asking one after the other get different
// shards.
func TestNextShardTakesTurns(t *testing.T) {
	c := NewCollector()
	for round := range 2 {
		for i := range c.shards {
			if got := c.nextShard(); got != &c.shards[i].shard {
				t.Fatalf("round %d: call %d got another shard than shard %d", round, i, i)
			}
		}
	}
}

// TestRecordLeavesALockedShard: when the shard of the caller's P is locked
// (by another P that shares it, or by Report), a record goes to another
// shard instead of waiting, and is counted. The timer only unblocks the
// test if the record does wait, which then fails.
func TestRecordLeavesALockedShard(t *testing.T) {
	c := NewCollector()
	r := c.Recorder(1)
	s := Sample{Method: "GET", Name: "/", Duration: ms, At: t0}
	r.Record(s)
	sh := c.local.Get().(*shard) // the shard of this goroutine's P
	c.local.Put(sh)
	sh.mu.Lock()
	waited := time.AfterFunc(10*time.Second, sh.mu.Unlock)
	r.Record(s)
	if !waited.Stop() {
		t.Fatal("Record waited for the locked shard of its P")
	}
	sh.mu.Unlock()
	if n := c.Report(t0).Total.NumRequests; n != 2 {
		t.Errorf("%d requests reported, want 2", n)
	}
}

// TestRowCapAcrossShards: the cap on distinct rows holds for the collector,
// not per shard, when rows are recorded in different shards (different Ps).
func TestRowCapAcrossShards(t *testing.T) {
	c := NewCollector()
	c.SetLogger(slog.New(slog.DiscardHandler))
	c.SetLimits(3, 2)
	for i := range 10 {
		s := Sample{Method: "GET", Name: fmt.Sprintf("/item/%d", i), Duration: ms, Err: fmt.Errorf("bad %d", i), At: t0}
		recordIn(&c.shards[i%len(c.shards)].shard, s)
	}
	r := c.Report(t0.Add(time.Second))
	rows := map[string]int64{}
	for _, e := range r.Entries {
		rows[e.Name] += e.NumRequests
	}
	if len(rows) != 4 || rows[OtherName] != 7 || r.Total.NumRequests != 10 {
		t.Errorf("rows %v (total %d), want 3 rows of 1 and %s with 7", rows, r.Total.NumRequests, OtherName)
	}
	errs := map[string]int64{}
	for _, e := range r.Errors {
		errs[e.Text] += e.Occurrences
	}
	if len(errs) != 3 || errs[OtherErrorsText] != 8 {
		t.Errorf("failure rows %v, want 2 rows of 1 and %q with 8", errs, OtherErrorsText)
	}
}

// recordIn records s into shard sh, whichever P the caller runs on.
func recordIn(sh *shard, s Sample) {
	text, bucket, ns, sec := prepare(&s)
	sh.mu.Lock()
	sh.add(&s, bucket, ns, sec, text)
	sh.mu.Unlock()
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// TestRecorderListener: a recorder's listener sees every sample it
// records, after the statistics have it; without one nothing changes.
func TestRecorderListener(t *testing.T) {
	c := NewCollector()
	var seen []Sample
	r := c.Recorder(1).WithListener(func(s Sample) { seen = append(seen, s) })
	plain := c.Recorder(2)
	r.Record(Sample{Method: "GET", Name: "/a", Duration: time.Millisecond, At: t0})
	r.Record(Sample{Method: "GET", Name: "/b", Duration: time.Millisecond, Err: errors.New("x"), At: t0})
	plain.Record(Sample{Method: "GET", Name: "/c", Duration: time.Millisecond, At: t0})
	if len(seen) != 2 || seen[0].Name != "/a" || seen[1].Err == nil {
		t.Errorf("listener saw %+v, want /a and the failed /b", seen)
	}
	if got := c.Report(t0.Add(time.Second)).Total.NumRequests; got != 3 {
		t.Errorf("collector has %d requests, want 3", got)
	}
}
