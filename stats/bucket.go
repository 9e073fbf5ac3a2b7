package stats

import (
	"math"
	"time"
)

// BucketKey returns Locust's response-time histogram key, in milliseconds,
// for a response time of d.
//
// The key is d in milliseconds rounded to a whole number below 100 ms, to a
// multiple of 10 below 1 s, to a multiple of 100 below 10 s and to a multiple
// of 1000 above that; the range is chosen on the unrounded value and ties go
// to the even multiple, as Python's round does (125 ms gives 120, 99.6 ms
// gives 100). The result equals what Locust computes from the float
// millisecond value float64(d)/1e6; it is computed exactly in integer
// nanoseconds, so ties are never lost to floating-point error.
func BucketKey(d time.Duration) int64 {
	if d < 0 {
		// Negative times only come from broken clocks; they are all in the
		// "below 100 ms" range, where half-to-even rounding is symmetric.
		if d == math.MinInt64 {
			d++
		}
		return -roundHalfEven(int64(-d), int64(time.Millisecond))
	}
	ns := int64(d)
	unit := bucketUnit(ns)
	return roundHalfEven(ns, unit) * (unit / int64(time.Millisecond))
}

// bucketUnit returns the rounding unit in nanoseconds for a response time of
// ns nanoseconds.
func bucketUnit(ns int64) int64 {
	const ms = int64(time.Millisecond)
	switch {
	case ns < 100*ms:
		return ms
	case ns < 1000*ms:
		return 10 * ms
	case ns < 10000*ms:
		return 100 * ms
	default:
		return 1000 * ms
	}
}

// roundHalfEven returns n/unit rounded to the nearest integer, ties to even,
// for n >= 0 and unit > 0.
func roundHalfEven(n, unit int64) int64 {
	q, r := n/unit, n%unit
	if 2*r > unit || (2*r == unit && q%2 == 1) {
		q++
	}
	return q
}

// BucketKeyMillis returns Locust's histogram key for a response time given
// as float milliseconds, matching Python's round(ms) / round(ms, -1) /
// round(ms, -2) / round(ms, -3) on the exact binary value of ms. NaN gives 0
// and values beyond the int64 range saturate; Python would raise instead.
func BucketKeyMillis(ms float64) int64 {
	switch {
	case math.IsNaN(ms):
		return 0
	case ms < 100:
		return saturate(math.RoundToEven(ms))
	case ms < 1000:
		return roundFloatHalfEven(ms, 10)
	case ms < 10000:
		return roundFloatHalfEven(ms, 100)
	default:
		return roundFloatHalfEven(ms, 1000)
	}
}

// roundFloatHalfEven rounds x >= 0 to the nearest multiple of unit, ties to
// even, deciding ties on the exact value of x rather than on the rounded
// quotient x/unit.
func roundFloatHalfEven(x, unit float64) int64 {
	if math.IsInf(x, 1) || x >= math.MaxInt64 {
		return math.MaxInt64
	}
	q := math.Floor(x / unit)
	// x - q*unit is exactly representable here, and FMA rounds only once,
	// so r is the exact remainder; the division above may be off by one.
	r := math.FMA(-q, unit, x)
	for r < 0 {
		q--
		r += unit
	}
	for r >= unit {
		q++
		r -= unit
	}
	if 2*r > unit || (2*r == unit && math.Mod(q, 2) == 1) {
		q++
	}
	return saturate(q * unit)
}

// saturate converts an integral float to int64, clamping at the int64 range.
func saturate(f float64) int64 {
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}
