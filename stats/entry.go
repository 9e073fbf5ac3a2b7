package stats

import (
	"maps"
	"slices"
	"time"
)

// Entry is one statistics row: a report window's delta in a Report, or the
// cumulative values in Totals. Times are kept unrounded, as Locust keeps
// them; only the ResponseTimes histogram is bucketed.
type Entry struct {
	Key
	// NumRequests counts requests, failed ones included.
	NumRequests int64
	// NumFailures counts failed requests.
	NumFailures int64
	// TotalResponseTime is the sum of all response times.
	TotalResponseTime time.Duration
	// MinResponseTime is the smallest response time; it is meaningful only
	// when NumRequests > 0.
	MinResponseTime time.Duration
	// MaxResponseTime is the largest response time, 0 without requests.
	MaxResponseTime time.Duration
	// TotalContentLength is the sum of the response sizes in bytes.
	TotalContentLength int64
	// ResponseTimes maps a bucket key in milliseconds (see BucketKey) to
	// the number of requests in that bucket. It is never nil.
	ResponseTimes map[int64]int64
	// NumReqsPerSec maps an integer Unix second to the requests that
	// finished in it. It is never nil.
	NumReqsPerSec map[int64]int64
	// NumFailPerSec maps an integer Unix second to the failures in it. It
	// is never nil.
	NumFailPerSec map[int64]int64
	// StartTime is when the row's window (or cumulation) started.
	StartTime time.Time
	// LastRequestTimestamp is when the latest request finished; zero if
	// there was none.
	LastRequestTimestamp time.Time
}

// emptyEntry returns a row without requests whose maps are allocated.
func emptyEntry(k Key) Entry {
	return Entry{
		Key:           k,
		ResponseTimes: make(map[int64]int64),
		NumReqsPerSec: make(map[int64]int64),
		NumFailPerSec: make(map[int64]int64),
	}
}

// clone returns a deep copy of e.
func (e Entry) clone() Entry {
	e.ResponseTimes = cloneCounts(e.ResponseTimes)
	e.NumReqsPerSec = cloneCounts(e.NumReqsPerSec)
	e.NumFailPerSec = cloneCounts(e.NumFailPerSec)
	return e
}

func cloneCounts(m map[int64]int64) map[int64]int64 {
	if m == nil {
		return make(map[int64]int64)
	}
	return maps.Clone(m)
}

func addCounts(dst, src map[int64]int64) {
	for k, n := range src {
		dst[k] += n
	}
}

// sum adds the counters, histogram and extremes of o to e, leaving e's
// StartTime alone. It is how the total row is built from the rows.
func (e *Entry) sum(o *Entry) {
	if o.NumRequests > 0 {
		if e.NumRequests == 0 {
			e.MinResponseTime = o.MinResponseTime
		} else {
			e.MinResponseTime = min(e.MinResponseTime, o.MinResponseTime)
		}
	}
	e.MaxResponseTime = max(e.MaxResponseTime, o.MaxResponseTime)
	if o.LastRequestTimestamp.After(e.LastRequestTimestamp) {
		e.LastRequestTimestamp = o.LastRequestTimestamp
	}
	e.NumRequests += o.NumRequests
	e.NumFailures += o.NumFailures
	e.TotalResponseTime += o.TotalResponseTime
	e.TotalContentLength += o.TotalContentLength
	addCounts(e.ResponseTimes, o.ResponseTimes)
	addCounts(e.NumReqsPerSec, o.NumReqsPerSec)
	addCounts(e.NumFailPerSec, o.NumFailPerSec)
}

// Percentile returns the response time that the fraction p (0 to 1) of the
// requests finished within, exactly as Locust 2.12's
// StatsEntry.get_response_time_percentile: walking the histogram from the
// slowest bucket, it returns the first bucket at which at most
// int(NumRequests*p) requests remain. The result is a bucket key, so it is
// a whole number of milliseconds; it is 0 for an empty histogram.
func (e Entry) Percentile(p float64) time.Duration {
	return millis(percentileKey(e.ResponseTimes, sortedKeys(e.ResponseTimes), e.NumRequests, p))
}

// percentileKey is Locust's calculate_response_time_percentile; keys must
// be hist's keys in ascending order.
func percentileKey(hist map[int64]int64, keys []int64, n int64, p float64) int64 {
	target := int64(float64(n) * p)
	var processed int64
	for i := len(keys) - 1; i >= 0; i-- {
		processed += hist[keys[i]]
		if n-processed <= target {
			return keys[i]
		}
	}
	return 0
}

// Median returns Locust's median_response_time: the bucket key of the
// middle request, clamped to [MinResponseTime, MaxResponseTime] because the
// buckets are coarser than the exact extremes. It is 0 without requests.
func (e Entry) Median() time.Duration {
	d, _ := e.median()
	return d
}

// median returns the median and whether it is a bucket key (true) or a
// clamped extreme (false).
func (e Entry) median() (time.Duration, bool) {
	if len(e.ResponseTimes) == 0 {
		return 0, true
	}
	m := millis(medianKey(e.ResponseTimes, e.NumRequests))
	switch {
	case m > e.MaxResponseTime:
		return e.MaxResponseTime, false
	case e.NumRequests > 0 && m < e.MinResponseTime:
		return e.MinResponseTime, false
	}
	return m, true
}

// medianKey is Locust's median_from_dict.
func medianKey(hist map[int64]int64, total int64) int64 {
	pos := float64(total-1) / 2
	var k int64
	for _, k = range sortedKeys(hist) {
		n := float64(hist[k])
		if pos < n {
			return k
		}
		pos -= n
	}
	return k
}

// Average returns the mean response time, 0 without requests.
func (e Entry) Average() time.Duration {
	if e.NumRequests == 0 {
		return 0
	}
	return e.TotalResponseTime / time.Duration(e.NumRequests)
}

// AverageContentLength returns the mean response size in bytes, a float as
// in Locust's CSV; 0 without requests.
func (e Entry) AverageContentLength() float64 {
	if e.NumRequests == 0 {
		return 0
	}
	return float64(e.TotalContentLength) / float64(e.NumRequests)
}

// FailRatio returns NumFailures/NumRequests; without requests it is 1 if
// there were failures and 0 otherwise, as in Locust.
func (e Entry) FailRatio() float64 {
	if e.NumRequests == 0 {
		if e.NumFailures > 0 {
			return 1
		}
		return 0
	}
	return float64(e.NumFailures) / float64(e.NumRequests)
}

// CurrentRPS returns the requests per second over the ten complete seconds
// ending two seconds before now (Locust's current_rps window: seconds
// now-12 up to now-3, not before StartTime). Locust passes the
// Aggregated row's LastRequestTimestamp as now and the Aggregated row's
// StartTime as the lower bound; Totals.CurrentRPS does exactly that. It is 0
// for a zero now.
func (e Entry) CurrentRPS(now time.Time) float64 {
	return windowRate(e.NumReqsPerSec, now, e.StartTime)
}

// CurrentFailPerSec is CurrentRPS for failures.
func (e Entry) CurrentFailPerSec(now time.Time) float64 {
	return windowRate(e.NumFailPerSec, now, e.StartTime)
}

// windowRate is Locust's current_rps: the mean of perSec over the seconds
// max(last-12, start) up to but excluding last-2.
func windowRate(perSec map[int64]int64, last, start time.Time) float64 {
	if last.IsZero() {
		return 0
	}
	to := last.Unix() - 2
	from := last.Unix() - 12
	if !start.IsZero() {
		from = max(from, start.Unix())
	}
	if to <= from {
		return 0
	}
	var n int64
	for s := from; s < to; s++ {
		n += perSec[s]
	}
	return float64(n) / float64(to-from)
}

// TotalRPS returns NumRequests divided by the seconds from StartTime to
// LastRequestTimestamp, 0 if either is zero or they are equal. Locust uses
// the Aggregated row's two times for every row; Totals.TotalRPS does that.
func (e Entry) TotalRPS() float64 {
	return rate(e.NumRequests, e.LastRequestTimestamp, e.StartTime)
}

// TotalFailPerSec is TotalRPS for failures.
func (e Entry) TotalFailPerSec() float64 {
	return rate(e.NumFailures, e.LastRequestTimestamp, e.StartTime)
}

// rate is Locust's total_rps.
func rate(n int64, last, start time.Time) float64 {
	if last.IsZero() || start.IsZero() {
		return 0
	}
	secs := last.Sub(start).Seconds()
	if secs == 0 {
		return 0
	}
	return float64(n) / secs
}

// millis converts a bucket key to a Duration.
func millis(ms int64) time.Duration {
	return time.Duration(ms) * time.Millisecond
}

// sortedKeys returns m's keys in ascending order.
func sortedKeys(m map[int64]int64) []int64 {
	keys := slices.Collect(maps.Keys(m))
	slices.Sort(keys)
	return keys
}
