package report

// This file owns what report.html shows: the facts, the table rows as
// text, and the charts' data.

import (
	"cmp"
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golocust/golocust/stats"
)

// page is report.html's data.
type page struct {
	Script template.JS
	Style  template.CSS

	Start, End, Duration, Host string
	Users                      int64
	UsersByClass               string

	Stats      []statsRow
	StatsTotal statsRow

	PercentileLabels []string
	Percentiles      []percentileRow
	PercentileTotal  *percentileRow // nil without requests

	Failures   []stats.Error
	Exceptions []stats.ExceptionRow

	Charts charts
}

// statsRow is a line of the statistics table, as the summary shows it:
// times in whole milliseconds, rates over the whole test.
type statsRow struct {
	Method, Name                                     string
	Requests, Failures, FailPercent                  string
	Average, Min, Max, Median, AverageSize, RPS, FPS string
}

type percentileRow struct {
	Method, Name string
	Values       []string
	Requests     string
}

// charts are the history's columns for uPlot: x in Unix seconds, then one
// array per series; a percentile of an interval without requests is null.
type charts struct {
	Time  []float64  `json:"time"`
	Users []int      `json:"users"`
	RPS   []float64  `json:"rps"`
	FPS   []float64  `json:"fps"`
	P50   []*float64 `json:"p50"`
	P95   []*float64 `json:"p95"`
	P99   []*float64 `json:"p99"`
}

func newPage(l library, facts Facts, totals *stats.Totals, history []HistoryRow, exceptions []stats.ExceptionRow) page {
	p := page{
		Script:     l.script,
		Style:      l.style,
		Start:      facts.Start.Format("2006-01-02 15:04:05 MST"),
		End:        facts.Start.Add(facts.Duration).Format("2006-01-02 15:04:05 MST"),
		Duration:   facts.Duration.Round(time.Millisecond).String(),
		Host:       cmp.Or(facts.Host, "each user class's own host"),
		Failures:   totals.Errors(),
		Exceptions: exceptions,
		Charts:     newCharts(history),
	}
	p.Users, p.UsersByClass = users(facts.Users)
	for _, e := range totals.Entries() {
		p.Stats = append(p.Stats, newStatsRow(totals, e))
	}
	total := totals.Total()
	p.StatsTotal = newStatsRow(totals, total)
	percentiles := stats.DefaultPercentiles()
	for _, q := range percentiles {
		p.PercentileLabels = append(p.PercentileLabels, stats.PercentileLabel(q))
	}
	for _, e := range totals.Entries() {
		if e.NumRequests > 0 {
			p.Percentiles = append(p.Percentiles, newPercentileRow(e, percentiles))
		}
	}
	if total.NumRequests > 0 {
		r := newPercentileRow(total, percentiles)
		p.PercentileTotal = &r
	}
	return p
}

// users returns the sum of the users per class and "Class n, ..." in
// the classes' order by name.
func users(byClass map[string]int64) (int64, string) {
	var sum int64
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(byClass)) {
		sum += byClass[name]
		parts = append(parts, fmt.Sprintf("%s %d", name, byClass[name]))
	}
	return sum, strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

func newStatsRow(t *stats.Totals, e stats.Entry) statsRow {
	minimum := time.Duration(0)
	if e.NumRequests > 0 {
		minimum = e.MinResponseTime
	}
	return statsRow{
		Method:      e.Method,
		Name:        e.Name,
		Requests:    strconv.FormatInt(e.NumRequests, 10),
		Failures:    strconv.FormatInt(e.NumFailures, 10),
		FailPercent: fmt.Sprintf("%.2f%%", e.FailRatio()*100),
		Average:     ms(e.Average()),
		Min:         ms(minimum),
		Max:         ms(e.MaxResponseTime),
		Median:      ms(e.Median()),
		AverageSize: strconv.FormatInt(int64(e.AverageContentLength()), 10),
		RPS:         fmt.Sprintf("%.2f", t.TotalRPS(e)),
		FPS:         fmt.Sprintf("%.2f", t.TotalFailPerSec(e)),
	}
}

func newPercentileRow(e stats.Entry, percentiles []float64) percentileRow {
	r := percentileRow{Method: e.Method, Name: e.Name, Requests: strconv.FormatInt(e.NumRequests, 10)}
	for _, q := range percentiles {
		r.Values = append(r.Values, ms(e.Percentile(q)))
	}
	return r
}

func newCharts(history []HistoryRow) charts {
	n := len(history)
	c := charts{
		Time: make([]float64, n), Users: make([]int, n), RPS: make([]float64, n), FPS: make([]float64, n),
		P50: make([]*float64, n), P95: make([]*float64, n), P99: make([]*float64, n),
	}
	for i, r := range history {
		c.Time[i] = round3(float64(r.Time.UnixMilli()) / 1000)
		c.Users[i] = r.Users
		c.RPS[i] = round3(r.RPS())
		c.FPS[i] = round3(r.FailPerSec())
		if r.Requests > 0 {
			c.P50[i], c.P95[i], c.P99[i] = msPtr(r.P50), msPtr(r.P95), msPtr(r.P99)
		}
	}
	return c
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func msPtr(d time.Duration) *float64 {
	f := float64(d.Milliseconds())
	return &f
}
