package worker

// This file owns --threshold: its grammar (parseThreshold), checking the
// final statistics (checkThresholds) and the verdict lines the command
// prints; main.go decides the exit code from them.

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/golocust/golocust/stats"
)

// threshold is a pass/fail criterion checked on the final statistics, as
// given to --threshold. The grammar is
//
//	[ROW:]METRIC OP VALUE
//
// METRIC is one of p50, p95, p99.9 (any percentile pNN), median, avg, min,
// max (response times; VALUE is a duration such as 300ms, 1.5s, or a bare
// number of milliseconds), fail_ratio (VALUE a fraction such as 0.01 or a
// percentage such as 1%), rps (requests per second over the whole test),
// requests or failures (counts). OP is <, <=, > or >=. ROW is a row name as
// shown in the Name column, e.g. "/item/[id]:p95<300ms"; every row of that
// name (whatever its request type) must meet the criterion. Without ROW the
// Aggregated row is checked. A threshold on a row that never had a request
// is broken.
type threshold struct {
	// Row is the row name; "" means the Aggregated row.
	Row string
	// Metric is the metric's name as written: "p95", "avg", "fail_ratio", ...
	Metric string
	// Op is "<", "<=", ">" or ">=".
	Op string
	// Value is the limit: milliseconds for times, a ratio for fail_ratio.
	Value float64
	// Text is the threshold as written.
	Text string
}

// verdict is the outcome of checking one threshold on one row.
type verdict struct {
	threshold threshold // the criterion checked
	// Key is the row checked.
	Key stats.Key
	// Actual is the measured value, in the threshold's unit.
	Actual float64
	// Pass reports whether the row met the threshold.
	Pass bool
	// Missing reports that no row had the threshold's name.
	Missing bool
}

// parseThreshold reads one --threshold value; see threshold for the
// grammar.
func parseThreshold(s string) (threshold, error) {
	th := threshold{Text: s}
	expr := strings.TrimSpace(s)
	if i := strings.LastIndex(expr, ":"); i >= 0 {
		th.Row, expr = strings.TrimSpace(expr[:i]), strings.TrimSpace(expr[i+1:])
		if th.Row == "" {
			return th, fmt.Errorf("threshold %q: empty row name before ':'", s)
		}
	}
	opAt := strings.IndexAny(expr, "<>")
	if opAt <= 0 {
		return th, fmt.Errorf("threshold %q: want METRIC<VALUE, METRIC<=VALUE, METRIC>VALUE or METRIC>=VALUE, e.g. p95<300ms", s)
	}
	th.Metric = strings.TrimSpace(expr[:opAt])
	th.Op = expr[opAt : opAt+1]
	rest := expr[opAt+1:]
	if strings.HasPrefix(rest, "=") {
		th.Op += "="
		rest = rest[1:]
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return th, fmt.Errorf("threshold %q: no value after %s", s, th.Op)
	}
	var err error
	switch kind := metricKind(th.Metric); kind {
	case kindTime:
		th.Value, err = parseMillis(rest)
	case kindRatio:
		th.Value, err = parseRatio(rest)
	case kindNumber:
		th.Value, err = strconv.ParseFloat(rest, 64)
		if err != nil {
			err = fmt.Errorf("%q is not a number", rest)
		}
	default:
		return th, fmt.Errorf("threshold %q: unknown metric %q; want pNN, median, avg, min, max, fail_ratio, rps, requests or failures", s, th.Metric)
	}
	if err != nil {
		return th, fmt.Errorf("threshold %q: %w", s, err)
	}
	return th, nil
}

type metricKindT int

const (
	kindUnknown metricKindT = iota
	kindTime
	kindRatio
	kindNumber
)

func metricKind(m string) metricKindT {
	switch m {
	case "median", "avg", "min", "max":
		return kindTime
	case "fail_ratio":
		return kindRatio
	case "rps", "requests", "failures":
		return kindNumber
	}
	if p, ok := percentileOf(m); ok && p > 0 && p <= 1 {
		return kindTime
	}
	return kindUnknown
}

// percentileOf reads "p95" as 0.95 and "p99.9" as 0.999.
func percentileOf(m string) (float64, bool) {
	if !strings.HasPrefix(m, "p") {
		return 0, false
	}
	n, err := strconv.ParseFloat(m[1:], 64)
	if err != nil {
		return 0, false
	}
	return n / 100, true
}

// parseMillis reads a duration ("300ms", "1.5s") or a bare number of
// milliseconds and returns milliseconds.
func parseMillis(s string) (float64, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return n, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 300ms or 1.5s", s)
	}
	return milliseconds(d), nil
}

// parseRatio reads "0.01" or "1%".
func parseRatio(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	n, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a ratio like 0.01 or 1%%", s)
	}
	if pct {
		n /= 100
	}
	return n, nil
}

// measure returns the threshold's metric for e, in its unit.
func (th threshold) measure(t *stats.Totals, e stats.Entry) float64 {
	switch th.Metric {
	case "median":
		return milliseconds(e.Median())
	case "avg":
		return milliseconds(e.Average())
	case "min":
		if e.NumRequests == 0 {
			return 0
		}
		return milliseconds(e.MinResponseTime)
	case "max":
		return milliseconds(e.MaxResponseTime)
	case "fail_ratio":
		return e.FailRatio()
	case "rps":
		return t.TotalRPS(e)
	case "requests":
		return float64(e.NumRequests)
	case "failures":
		return float64(e.NumFailures)
	}
	p, _ := percentileOf(th.Metric)
	return milliseconds(e.Percentile(p))
}

func (th threshold) holds(v float64) bool {
	switch th.Op {
	case "<":
		return v < th.Value
	case "<=":
		return v <= th.Value
	case ">":
		return v > th.Value
	default:
		return v >= th.Value
	}
}

// checkThresholds checks every threshold on the final statistics t and
// returns one verdict per threshold and matching row, in order.
func checkThresholds(t *stats.Totals, thresholds []threshold) []verdict {
	var out []verdict
	for _, th := range thresholds {
		var rows []stats.Entry
		if th.Row == "" || th.Row == "Aggregated" {
			rows = []stats.Entry{t.Total()}
		} else {
			for _, e := range t.Entries() {
				if e.Name == th.Row {
					rows = append(rows, e)
				}
			}
		}
		if len(rows) == 0 {
			out = append(out, verdict{threshold: th, Key: stats.Key{Name: th.Row}, Missing: true})
			continue
		}
		for _, e := range rows {
			v := th.measure(t, e)
			out = append(out, verdict{threshold: th, Key: e.Key, Actual: v, Pass: e.NumRequests > 0 && th.holds(v)})
		}
	}
	return out
}

// String formats the verdict as one line, e.g.
// "PASS  p95<300ms  Aggregated: p95 = 212ms".
func (v verdict) String() string {
	status := "PASS"
	if !v.Pass {
		status = "FAIL"
	}
	row := strings.TrimSpace(v.Key.Method + " " + v.Key.Name)
	if row == "" {
		row = "Aggregated"
	}
	if v.Missing {
		return fmt.Sprintf("%s  %s  no row named %q", status, v.threshold.Text, v.threshold.Row)
	}
	var actual string
	switch metricKind(v.threshold.Metric) {
	case kindTime:
		actual = strconv.FormatFloat(v.Actual, 'f', -1, 64) + "ms"
		if v.Actual != float64(int64(v.Actual)) {
			actual = strconv.FormatFloat(v.Actual, 'f', 1, 64) + "ms"
		}
	case kindRatio:
		actual = strconv.FormatFloat(v.Actual, 'f', 4, 64)
	default:
		if v.threshold.Metric == "rps" {
			actual = strconv.FormatFloat(v.Actual, 'f', 2, 64)
		} else {
			actual = strconv.FormatFloat(v.Actual, 'f', 0, 64)
		}
	}
	return fmt.Sprintf("%s  %s  %s: %s = %s", status, v.threshold.Text, row, v.threshold.Metric, actual)
}

// printVerdicts writes one line per verdict and reports whether all passed.
func printVerdicts(w io.Writer, verdicts []verdict) bool {
	if len(verdicts) == 0 {
		return true
	}
	fmt.Fprintln(w, "Thresholds")
	ok := true
	for _, v := range verdicts {
		fmt.Fprintln(w, "  "+v.String())
		ok = ok && v.Pass
	}
	return ok
}
