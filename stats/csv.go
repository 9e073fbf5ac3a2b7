package stats

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// DefaultPercentiles returns Locust's PERCENTILES_TO_REPORT, the
// percentile columns of its tables and CSV files.
func DefaultPercentiles() []float64 {
	return []float64{0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0}
}

// PercentileLabel returns Locust's column title for the percentile p
// (0 to 1): "50%", "99.9%", "100%". It mirrors get_readable_percentiles,
// quirks included: p*100 is computed in floating point, so 0.07 gives
// "7.0%".
func PercentileLabel(p float64) string {
	pct := p * 100
	if pct == float64(int64(pct)) {
		return strconv.FormatInt(int64(pct), 10) + "%"
	}
	return pyFloatRepr(pyRound6(100*p)) + "%"
}

func percentileLabels(ps []float64) []string {
	labels := make([]string, len(ps))
	for i, p := range ps {
		labels[i] = PercentileLabel(p)
	}
	return labels
}

// WriteStatsCSV writes Locust 2.12.1's requests file (<prefix>_stats.csv)
// for t: the header, one line per row sorted by (Name, Method), and the
// Aggregated line. percentiles selects the percentile columns; nil means
// DefaultPercentiles. Numbers are formatted as Locust formats them, with
// response times as float milliseconds.
func WriteStatsCSV(w io.Writer, t *Totals, percentiles []float64) error {
	if percentiles == nil {
		percentiles = DefaultPercentiles()
	}
	var b csvBuffer
	b.row(append([]string{
		"Type",
		"Name",
		"Request Count",
		"Failure Count",
		"Median Response Time",
		"Average Response Time",
		"Min Response Time",
		"Max Response Time",
		"Average Content Size",
		"Requests/s",
		"Failures/s",
	}, percentileLabels(percentiles)...)...)

	t.mu.Lock()
	total := t.total.Entry
	for _, e := range append(t.entriesLocked(), total) {
		b.row(append([]string{
			e.Method,
			e.Name,
			strconv.FormatInt(e.NumRequests, 10),
			strconv.FormatInt(e.NumFailures, 10),
			medianRepr(e),
			averageRepr(e),
			minRepr(e),
			msRepr(e.MaxResponseTime),
			contentRepr(e),
			pyFloatRepr(rate(e.NumRequests, total.LastRequestTimestamp, total.StartTime)),
			pyFloatRepr(rate(e.NumFailures, total.LastRequestTimestamp, total.StartTime)),
		}, percentileFields(e, percentiles)...)...)
	}
	t.mu.Unlock()

	_, err := w.Write(b.Bytes())
	return err
}

// WriteFailuresCSV writes Locust's failures file (<prefix>_failures.csv):
// Method, Name, Error, Occurrences, one line per error sorted by
// Error.ID as Locust sorts them. Error is the text as a standalone Locust
// writes it (the repr of the exception, which is what Error.Text holds).
func WriteFailuresCSV(w io.Writer, t *Totals) error {
	var b csvBuffer
	b.row("Method", "Name", "Error", "Occurrences")
	for _, e := range t.Errors() {
		b.row(e.Method, e.Name, e.Text, strconv.FormatInt(e.Occurrences, 10))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// ExceptionRow is one line of the exceptions file: an exception raised in
// user code outside of a request, and how often.
type ExceptionRow struct {
	// Count is the number of times the exception was raised.
	Count int64
	// Message is str(exception) in Python terms.
	Message string
	// Traceback is the formatted stack.
	Traceback string
	// Nodes names the workers that raised it; standalone Locust shows
	// "local".
	Nodes []string
}

// WriteExceptionsCSV writes Locust's exceptions file
// (<prefix>_exceptions.csv): Count, Message, Traceback, Nodes, one line per
// row in the given order, the nodes joined by ", ".
func WriteExceptionsCSV(w io.Writer, rows []ExceptionRow) error {
	var b csvBuffer
	b.row("Count", "Message", "Traceback", "Nodes")
	for _, r := range rows {
		b.row(strconv.FormatInt(r.Count, 10), r.Message, r.Traceback, strings.Join(r.Nodes, ", "))
	}
	_, err := w.Write(b.Bytes())
	return err
}

// StatsHistoryCSV writes Locust's history file
// (<prefix>_stats_history.csv), to which Locust appends the current
// statistics every second.
type StatsHistoryCSV struct {
	w           io.Writer
	percentiles []float64
	fullHistory bool
}

// NewStatsHistoryCSV returns a history writer to w. percentiles selects
// the percentile columns (nil means DefaultPercentiles). With fullHistory
// (Locust's --csv-full-history) every row gets a line with "current"
// percentiles over about the last ten seconds; otherwise only the
// Aggregated row is written, with cumulative percentiles.
func NewStatsHistoryCSV(w io.Writer, percentiles []float64, fullHistory bool) *StatsHistoryCSV {
	if percentiles == nil {
		percentiles = DefaultPercentiles()
	}
	return &StatsHistoryCSV{w: w, percentiles: percentiles, fullHistory: fullHistory}
}

// WriteHeader writes the header line; Locust writes it once, when the
// file is created.
func (h *StatsHistoryCSV) WriteHeader() error {
	var b csvBuffer
	cols := []string{"Timestamp", "User Count", "Type", "Name", "Requests/s", "Failures/s"}
	cols = append(cols, percentileLabels(h.percentiles)...)
	cols = append(cols,
		"Total Request Count",
		"Total Failure Count",
		"Total Median Response Time",
		"Total Average Response Time",
		"Total Min Response Time",
		"Total Max Response Time",
		"Total Average Content Size",
	)
	b.row(cols...)
	_, err := h.w.Write(b.Bytes())
	return err
}

// WriteRows appends the lines for one point in time: now is the time of
// the line and of the "current" percentiles, userCount the number of
// running users.
func (h *StatsHistoryCSV) WriteRows(t *Totals, userCount int, now time.Time) error {
	var b csvBuffer
	t.mu.Lock()
	var rows []*row
	if h.fullHistory {
		for _, e := range t.entriesLocked() {
			rows = append(rows, t.rows[e.Key])
		}
	}
	rows = append(rows, t.total)
	total := t.total.Entry
	for _, r := range rows {
		e := r.Entry
		var pcts []string
		if h.fullHistory && e.NumRequests > 0 {
			pcts = make([]string, len(h.percentiles))
			for i, p := range h.percentiles {
				d, _ := r.currentPercentile(p, now)
				pcts[i] = strconv.FormatInt(d.Milliseconds(), 10)
			}
		} else {
			pcts = percentileFields(e, h.percentiles)
		}
		fields := []string{
			strconv.FormatInt(now.Unix(), 10),
			strconv.Itoa(userCount),
			e.Method,
			e.Name,
			fmt.Sprintf("%2f", windowRate(e.NumReqsPerSec, total.LastRequestTimestamp, total.StartTime)),
			fmt.Sprintf("%2f", windowRate(e.NumFailPerSec, total.LastRequestTimestamp, total.StartTime)),
		}
		fields = append(fields, pcts...)
		fields = append(fields,
			strconv.FormatInt(e.NumRequests, 10),
			strconv.FormatInt(e.NumFailures, 10),
			medianRepr(e),
			averageRepr(e),
			minRepr(e),
			msRepr(e.MaxResponseTime),
			contentRepr(e),
		)
		b.row(fields...)
	}
	t.mu.Unlock()
	_, err := h.w.Write(b.Bytes())
	return err
}

// percentileFields is Locust's _percentile_fields for cumulative values:
// "N/A" without requests, else the integer bucket keys.
func percentileFields(e Entry, percentiles []float64) []string {
	fields := make([]string, len(percentiles))
	if e.NumRequests == 0 {
		for i := range fields {
			fields[i] = "N/A"
		}
		return fields
	}
	keys := sortedKeys(e.ResponseTimes)
	for i, p := range percentiles {
		fields[i] = strconv.FormatInt(percentileKey(e.ResponseTimes, keys, e.NumRequests, p), 10)
	}
	return fields
}

// medianRepr formats the median as Locust 2.12 shows it for float
// response times: Python's round gives an int below 100 ms and a float
// ("150.0") above; a median clamped to the minimum or maximum is that raw
// float value.
func medianRepr(e Entry) string {
	d, bucket := e.median()
	if !bucket {
		return msRepr(d)
	}
	ms := d.Milliseconds()
	if ms < 100 {
		return strconv.FormatInt(ms, 10)
	}
	return strconv.FormatInt(ms, 10) + ".0"
}

// averageRepr is avg_response_time, always a float.
func averageRepr(e Entry) string {
	if e.NumRequests == 0 {
		return "0.0"
	}
	return pyFloatRepr(float64(e.TotalResponseTime) / 1e6 / float64(e.NumRequests))
}

// minRepr is "min_response_time or 0".
func minRepr(e Entry) string {
	if e.NumRequests == 0 {
		return "0"
	}
	return msRepr(e.MinResponseTime)
}

// contentRepr is avg_content_length: a float, or the integer 0 without
// requests.
func contentRepr(e Entry) string {
	if e.NumRequests == 0 {
		return "0"
	}
	return pyFloatRepr(e.AverageContentLength())
}
