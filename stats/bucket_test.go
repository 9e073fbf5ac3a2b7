package stats

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketKeyMillis(t *testing.T) {
	tests := []struct {
		ms   float64
		want int64
	}{
		// The examples of docs/protocol.md §5.3.
		{0.5, 0},
		{2.5, 2},
		{3.5, 4},
		{99.5, 100},
		{145, 140},
		{155, 160},
		{125, 120},
		{3450, 3400},
		{1050, 1000},
		{58500, 58000},
		{995, 1000},
		{147.3, 150},
		{1234.5, 1200},
		{58760.2, 59000},
		{99.6, 100},
		// Edges of the ranges.
		{0, 0},
		{1.5, 2},
		{99.4, 99},
		{99.99999, 100},
		{100, 100},
		{104.99999, 100},
		{105, 100},
		{115, 120},
		{999.9, 1000},
		{1000, 1000},
		{9950, 10000},
		{9999.9, 10000},
		{10000, 10000},
		{10500, 10000},
		{11500, 12000},
		{1e9 + 500, 1e9},
		// Just above and below ties; the decision is on the exact value.
		{math.Nextafter(125, 200), 130},
		{math.Nextafter(125, 0), 120},
		{math.Nextafter(0.5, 1), 1},
		{math.Nextafter(3450, 4000), 3500},
		{-0.5, 0},
		{-1.5, -2},
		{math.NaN(), 0},
	}
	for _, tt := range tests {
		if got := BucketKeyMillis(tt.ms); got != tt.want {
			t.Errorf("BucketKeyMillis(%v) = %d, want %d", tt.ms, got, tt.want)
		}
	}
}

func TestBucketKey(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * 1e6) }
	tests := []struct {
		d    time.Duration
		want int64
	}{
		{0, 0},
		{ms(0.5), 0},
		{ms(2.5), 2},
		{ms(3.5), 4},
		{ms(99.5), 100},
		{ms(145), 140},
		{ms(155), 160},
		{ms(125), 120},
		{ms(3450), 3400},
		{ms(1050), 1000},
		{ms(58500), 58000},
		{ms(995), 1000},
		{ms(147.3), 150},
		{ms(1234.5), 1200},
		{ms(58760.2), 59000},
		{ms(99.6), 100},
		{ms(125) + 1, 130},
		{ms(125) - 1, 120},
		{500*time.Microsecond + 1, 1},
		{100*time.Millisecond - 1, 100},
		{time.Hour, 3600000},
		{-time.Millisecond, -1},
		{-1500 * time.Microsecond, -2},
		{math.MinInt64, -9223372036855},
	}
	for _, tt := range tests {
		if got := BucketKey(tt.d); got != tt.want {
			t.Errorf("BucketKey(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// TestBucketKeyMatchesLocust compares the bucketing with Locust's own
// StatsEntry._log_response_time on random float milliseconds (ties and
// near-ties included) and on random durations converted as float64(d)/1e6.
func TestBucketKeyMatchesLocust(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var floats []float64
	for _, tie := range []float64{0.5, 2.5, 99.5, 105, 125, 995, 1050, 3450, 9950, 10500, 58500} {
		floats = append(floats, tie, math.Nextafter(tie, 0), math.Nextafter(tie, math.Inf(1)))
	}
	for len(floats) < 2000 {
		switch rng.IntN(4) {
		case 0: // uniform in a random decade
			floats = append(floats, rng.Float64()*math.Pow(10, float64(rng.IntN(6))))
		case 1: // exact ties: odd multiples of half a unit
			unit := math.Pow(10, float64(rng.IntN(4)))
			floats = append(floats, (float64(rng.IntN(2000))+0.5)*unit)
		case 2: // whole milliseconds
			floats = append(floats, float64(rng.IntN(100000)))
		default: // float milliseconds as Python's perf_counter yields them
			floats = append(floats, float64(rng.Int64N(int64(20*time.Second)))/1e9*1000)
		}
	}
	durations := make([]int64, 2000)
	for i := range durations {
		durations[i] = rng.Int64N(int64(100 * time.Second))
		if i%3 == 0 { // land on ties of the nanosecond grid
			durations[i] = durations[i] / 500000 * 500000
		}
	}
	in := map[string]any{"floats": floats, "ns": durations}
	var out struct{ Floats, NS []int64 }
	runLocust(t, `
def key(rt):
    e = ls.StatsEntry(None, "n", "GET")
    e._log_response_time(rt)
    (k,) = e.response_times
    return int(k)
d = json.load(sys.stdin)
json.dump({"floats": [key(x) for x in d["floats"]], "ns": [key(n / 1e6) for n in d["ns"]]}, sys.stdout)
`, in, &out)
	for i, f := range floats {
		if got := BucketKeyMillis(f); got != out.Floats[i] {
			t.Errorf("BucketKeyMillis(%v) = %d, Locust %d", f, got, out.Floats[i])
		}
	}
	for i, ns := range durations {
		if got := BucketKey(time.Duration(ns)); got != out.NS[i] {
			t.Errorf("BucketKey(%v) = %d, Locust %d", time.Duration(ns), got, out.NS[i])
		}
	}
}
