package worker

// This file owns turning a statistics report (stats.Report) into the
// stats message a master merges; the session (session.go) sends it.

import (
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// statsMessage turns a delta report into the wire form a master merges.
func statsMessage(r stats.Report, counts map[string]int64) protocol.StatsMessage {
	m := protocol.StatsMessage{
		Stats:            make([]protocol.StatsEntry, 0, len(r.Entries)),
		Total:            wireEntry(r.Total),
		Errors:           make(map[string]protocol.StatsError, len(r.Errors)),
		UserClassesCount: counts,
	}
	if m.UserClassesCount == nil {
		m.UserClassesCount = map[string]int64{}
	}
	for _, e := range r.Entries {
		m.Stats = append(m.Stats, wireEntry(e))
	}
	for _, e := range r.Errors {
		m.Errors[e.ID()] = protocol.StatsError{Name: e.Name, Method: e.Method, Error: e.Text, Occurrences: e.Occurrences}
	}
	for _, n := range m.UserClassesCount {
		m.UserCount += n
	}
	return m
}

func wireEntry(e stats.Entry) protocol.StatsEntry {
	w := protocol.StatsEntry{
		Name:               e.Name,
		Method:             e.Method,
		StartTime:          epochSeconds(e.StartTime),
		NumRequests:        e.NumRequests,
		NumFailures:        e.NumFailures,
		TotalResponseTime:  milliseconds(e.TotalResponseTime),
		TotalContentLength: e.TotalContentLength,
		ResponseTimes:      nonNil(e.ResponseTimes),
		NumReqsPerSec:      nonNil(e.NumReqsPerSec),
		NumFailPerSec:      nonNil(e.NumFailPerSec),
	}
	if e.NumRequests > 0 {
		minimum, maximum := milliseconds(e.MinResponseTime), milliseconds(e.MaxResponseTime)
		w.MinResponseTime = &minimum
		w.MaxResponseTime = maximum
	}
	if !e.LastRequestTimestamp.IsZero() {
		last := epochSeconds(e.LastRequestTimestamp)
		w.LastRequestTimestamp = &last
	}
	return w
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func epochSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func nonNil(m map[int64]int64) map[int64]int64 {
	if m == nil {
		return map[int64]int64{}
	}
	return m
}
