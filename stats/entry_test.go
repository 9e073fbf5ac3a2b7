package stats

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestPercentileAndMedian(t *testing.T) {
	tests := []struct {
		name     string
		e        Entry
		p        float64
		wantP    time.Duration
		wantMed  time.Duration
		wantRepr string
	}{
		{
			name: "empty", e: Entry{ResponseTimes: counts()},
			p: 0.5, wantP: 0, wantMed: 0, wantRepr: "0",
		},
		{
			name: "single slow request clamps median to max",
			e:    Entry{NumRequests: 1, MinResponseTime: 1234567 * time.Microsecond, MaxResponseTime: 1234567 * time.Microsecond, ResponseTimes: counts(1200, 1)},
			p:    0.95, wantP: 1200 * ms, wantMed: 1234567 * time.Microsecond, wantRepr: "1234.567",
		},
		{
			name: "median clamped to min",
			e:    Entry{NumRequests: 2, MinResponseTime: 146 * ms, MaxResponseTime: 149 * ms, ResponseTimes: counts(140, 1, 150, 1)},
			p:    0.5, wantP: 150 * ms, wantMed: 146 * ms, wantRepr: "146.0",
		},
		{
			name: "median is a float bucket above 100 ms",
			e:    Entry{NumRequests: 3, MinResponseTime: 10 * ms, MaxResponseTime: 300 * ms, ResponseTimes: counts(10, 1, 150, 1, 300, 1)},
			p:    0.66, wantP: 150 * ms, wantMed: 150 * ms, wantRepr: "150.0",
		},
		{
			name: "median is an int bucket below 100 ms",
			e:    Entry{NumRequests: 4, MinResponseTime: 1 * ms, MaxResponseTime: 90 * ms, ResponseTimes: counts(1, 1, 42, 2, 90, 1)},
			p:    1, wantP: 90 * ms, wantMed: 42 * ms, wantRepr: "42",
		},
		{
			name: "zero durations",
			e:    Entry{NumRequests: 2, ResponseTimes: counts(0, 2)},
			p:    0.99, wantP: 0, wantMed: 0, wantRepr: "0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Percentile(tt.p); got != tt.wantP {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.wantP)
			}
			if got := tt.e.Median(); got != tt.wantMed {
				t.Errorf("Median() = %v, want %v", got, tt.wantMed)
			}
			if got := medianRepr(tt.e); got != tt.wantRepr {
				t.Errorf("medianRepr = %q, want %q", got, tt.wantRepr)
			}
		})
	}
}

// TestPercentilesMatchLocust builds random histograms in Go and in
// Locust's StatsEntry and compares percentiles and medians, including the
// way Locust 2.12 prints the median.
func TestPercentilesMatchLocust(t *testing.T) {
	type histCase struct {
		Hist  [][2]int64 // bucket key, count
		N     int64
		MinNS int64
		MaxNS int64
		Pcts  []float64
		entry Entry
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var cases []histCase
	for range 300 {
		e := emptyEntry(Key{"GET", "/"})
		buckets := 1 + rng.IntN(25)
		var minNS, maxNS int64 = -1, 0
		for range buckets {
			ns := rng.Int64N(int64(15 * time.Second))
			if rng.IntN(3) == 0 {
				ns = rng.Int64N(int64(100 * time.Millisecond))
			}
			e.ResponseTimes[BucketKey(time.Duration(ns))] += 1 + rng.Int64N(40)
			if minNS < 0 || ns < minNS {
				minNS = ns
			}
			maxNS = max(maxNS, ns)
		}
		for _, n := range e.ResponseTimes {
			e.NumRequests += n
		}
		e.MinResponseTime, e.MaxResponseTime = time.Duration(minNS), time.Duration(maxNS)
		c := histCase{N: e.NumRequests, MinNS: minNS, MaxNS: maxNS, Pcts: DefaultPercentiles(), entry: e}
		for k, n := range e.ResponseTimes {
			c.Hist = append(c.Hist, [2]int64{k, n})
		}
		for range 5 {
			c.Pcts = append(c.Pcts, rng.Float64())
		}
		cases = append(cases, c)
	}
	var out []struct {
		Pcts   []float64
		Median float64
		Repr   string
	}
	runLocust(t, `
res = []
for c in json.load(sys.stdin):
    e = ls.StatsEntry(None, "/", "GET")
    # Locust 2.12 keys float response times >= 100 ms with floats.
    e.response_times = {(float(k) if k >= 100 else k): n for k, n in c["Hist"]}
    e.num_requests = c["N"]
    e.min_response_time = c["MinNS"] / 1e6
    e.max_response_time = c["MaxNS"] / 1e6 if c["MaxNS"] else 0
    m = e.median_response_time
    res.append({"Pcts": [e.get_response_time_percentile(p) for p in c["Pcts"]], "Median": m, "Repr": repr(m)})
json.dump(res, sys.stdout)
`, cases, &out)
	for i, c := range cases {
		for j, p := range c.Pcts {
			if got, want := c.entry.Percentile(p), time.Duration(out[i].Pcts[j]*1e6); got != want {
				t.Errorf("case %d: Percentile(%v) = %v, Locust %v", i, p, got, want)
			}
		}
		if got, want := float64(c.entry.Median())/1e6, out[i].Median; got != want {
			t.Errorf("case %d: Median() = %v ms, Locust %v", i, got, want)
		}
		if got, want := medianRepr(c.entry), out[i].Repr; got != want {
			t.Errorf("case %d: median printed %s, Locust %s", i, got, want)
		}
	}
}

func TestRates(t *testing.T) {
	e := Entry{
		NumRequests: 30, NumFailures: 6,
		NumReqsPerSec: counts(sec0+0, 5, sec0+1, 10, sec0+5, 15, sec0+9, 100),
		NumFailPerSec: counts(sec0+1, 6),
		StartTime:     t0, LastRequestTimestamp: at(10 * time.Second),
	}
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		// Window [max(now-12, start), now-2): seconds 0..7 at now=t0+10.
		{"CurrentRPS", e.CurrentRPS(at(10 * time.Second)), 30.0 / 8},
		{"CurrentRPS late", e.CurrentRPS(at(10*time.Second + 900*time.Millisecond)), 30.0 / 8},
		{"CurrentRPS 20s later", e.CurrentRPS(at(20 * time.Second)), 100.0 / 10},
		{"CurrentRPS too early", e.CurrentRPS(at(2 * time.Second)), 0},
		{"CurrentRPS zero now", e.CurrentRPS(time.Time{}), 0},
		{"CurrentFailPerSec", e.CurrentFailPerSec(at(10 * time.Second)), 6.0 / 8},
		{"TotalRPS", e.TotalRPS(), 3},
		{"TotalFailPerSec", e.TotalFailPerSec(), 0.6},
		{"TotalRPS no requests", Entry{StartTime: t0}.TotalRPS(), 0},
		{"FailRatio", e.FailRatio(), 0.2},
		{"FailRatio only failures", Entry{NumFailures: 1}.FailRatio(), 1},
		{"FailRatio nothing", Entry{}.FailRatio(), 0},
		{"AverageContentLength", Entry{NumRequests: 4, TotalContentLength: 10}.AverageContentLength(), 2.5},
		{"AverageContentLength nothing", Entry{}.AverageContentLength(), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if got := (Entry{NumRequests: 3, TotalResponseTime: 10 * ms}).Average(); got != 3333333 {
		t.Errorf("Average = %v", got)
	}
}

func TestBucketIndex(t *testing.T) {
	seen := make(map[int]int64)
	for ms := range int64(20001) {
		k := BucketKey(time.Duration(ms) * time.Millisecond)
		i := bucketIndex(k)
		if k > 10000 {
			if i != -1 {
				t.Errorf("bucketIndex(%d) = %d, want -1", k, i)
			}
			continue
		}
		if i < 0 || i >= histSize {
			t.Fatalf("bucketIndex(%d) = %d out of range", k, i)
		}
		if prev, dup := seen[i]; dup && prev != k {
			t.Errorf("keys %d and %d share index %d", prev, k, i)
		}
		seen[i] = k
		if back := bucketKeyAt(i); back != k {
			t.Errorf("bucketKeyAt(bucketIndex(%d)) = %d", k, back)
		}
	}
	if len(seen) != histSize {
		t.Errorf("%d indexes used, want %d", len(seen), histSize)
	}
}

// TestHistogramSpill records more samples into one bucket than the
// compact counter holds, and long durations that bypass it.
func TestHistogramSpill(t *testing.T) {
	c := NewCollector()
	r := c.Recorder(1)
	const n = 3*65535 + 7
	for range n {
		r.Record(Sample{Method: "GET", Name: "/", Duration: 42 * ms, At: t0})
	}
	r.Record(Sample{Method: "GET", Name: "/", Duration: 12345 * ms, At: t0})
	r.Record(Sample{Method: "GET", Name: "/", Duration: -ms, At: t0})
	got := c.Report(t0).Entries[0].ResponseTimes
	want := counts(42, n, 12000, 1, -1, 1)
	if len(got) != len(want) || got[42] != want[42] || got[12000] != 1 || got[-1] != 1 {
		t.Errorf("ResponseTimes = %v, want %v", got, want)
	}
}
