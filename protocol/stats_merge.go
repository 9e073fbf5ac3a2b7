package protocol

// This file owns the arithmetic of statistics reports that a worker holds
// or cuts before sending: MergeStats adds two reports up the way the
// master does (Locust's StatsEntry.extend and error occurrences), and
// SplitStats cuts one into several that the master adds up to the same
// totals.

import (
	"maps"
	"slices"
)

// MergeStats returns the report the master would hold after receiving a
// and then b: entries of the same (name, method) and the totals extended as
// Locust's StatsEntry.extend does, error occurrences added up, and b's
// user counts (they are a state, not a delta). a and b are not modified,
// and the result shares no map with them.
func MergeStats(a, b StatsMessage) StatsMessage {
	out := StatsMessage{
		Stats:            make([]StatsEntry, 0, len(a.Stats)+len(b.Stats)),
		Total:            cloneEntry(a.Total),
		Errors:           make(map[string]StatsError, len(a.Errors)+len(b.Errors)),
		UserClassesCount: cloneCounts(b.UserClassesCount),
		UserCount:        b.UserCount,
	}
	type key struct{ name, method string }
	index := make(map[key]int, len(a.Stats)+len(b.Stats))
	for _, list := range [][]StatsEntry{a.Stats, b.Stats} {
		for _, e := range list {
			k := key{e.Name, e.Method}
			if i, ok := index[k]; ok {
				extendEntry(&out.Stats[i], e)
				continue
			}
			index[k] = len(out.Stats)
			out.Stats = append(out.Stats, cloneEntry(e))
		}
	}
	extendEntry(&out.Total, b.Total)
	maps.Copy(out.Errors, a.Errors)
	for k, e := range b.Errors {
		if have, ok := out.Errors[k]; ok {
			have.Occurrences += e.Occurrences
			have.FirstSeen = minTime(have.FirstSeen, e.FirstSeen)
			have.LastSeen = maxTime(have.LastSeen, e.LastSeen)
			e = have
		}
		out.Errors[k] = e
	}
	return out
}

// extendEntry adds o to e as Locust's StatsEntry.extend does.
func extendEntry(e *StatsEntry, o StatsEntry) {
	e.LastRequestTimestamp = maxTime(e.LastRequestTimestamp, o.LastRequestTimestamp)
	e.StartTime = min(e.StartTime, o.StartTime)
	e.NumRequests += o.NumRequests
	e.NumNoneRequests += o.NumNoneRequests
	e.NumFailures += o.NumFailures
	e.TotalResponseTime += o.TotalResponseTime
	e.MaxResponseTime = max(e.MaxResponseTime, o.MaxResponseTime)
	e.MinResponseTime = minTime(e.MinResponseTime, o.MinResponseTime)
	e.TotalContentLength += o.TotalContentLength
	e.ResponseTimes = addCounts(e.ResponseTimes, o.ResponseTimes)
	e.NumReqsPerSec = addCounts(e.NumReqsPerSec, o.NumReqsPerSec)
	e.NumFailPerSec = addCounts(e.NumFailPerSec, o.NumFailPerSec)
}

func addCounts(dst, src map[int64]int64) map[int64]int64 {
	if dst == nil {
		dst = make(map[int64]int64, len(src))
	}
	for k, v := range src {
		dst[k] += v
	}
	return dst
}

// minTime is the smaller of two optional values; nil is "none".
func minTime(a, b *float64) *float64 {
	switch {
	case a == nil:
		return cloneFloat(b)
	case b == nil || *a <= *b:
		return a
	}
	return cloneFloat(b)
}

// maxTime is the larger of two optional values; nil is "none".
func maxTime(a, b *float64) *float64 {
	switch {
	case a == nil:
		return cloneFloat(b)
	case b == nil || *a >= *b:
		return a
	}
	return cloneFloat(b)
}

func cloneFloat(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneEntry(e StatsEntry) StatsEntry {
	e.LastRequestTimestamp = cloneFloat(e.LastRequestTimestamp)
	e.MinResponseTime = cloneFloat(e.MinResponseTime)
	e.ResponseTimes = addCounts(nil, e.ResponseTimes)
	e.NumReqsPerSec = addCounts(nil, e.NumReqsPerSec)
	e.NumFailPerSec = addCounts(nil, e.NumFailPerSec)
	return e
}

func cloneCounts(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	maps.Copy(out, m)
	return out
}

// SplitStats cuts m into at most n reports (at least one) whose entries and
// errors together are m's: the master, adding them up, ends with what m
// alone gives it. The first carries m's total; the others an empty total
// with m's start time, which adds nothing. Each carries m's user counts,
// since the master takes them from every report. Entries and errors are
// spread evenly in their order (errors by key); an entry is never cut.
func SplitStats(m StatsMessage, n int) []StatsMessage {
	keys := slices.Sorted(maps.Keys(m.Errors))
	n = max(min(n, len(m.Stats)+len(keys)), 1)
	out := make([]StatsMessage, n)
	for i := range out {
		out[i] = StatsMessage{
			Stats:            []StatsEntry{},
			Errors:           map[string]StatsError{},
			UserClassesCount: cloneCounts(m.UserClassesCount),
			UserCount:        m.UserCount,
			Total:            emptyTotal(m.Total),
		}
	}
	out[0].Total = m.Total
	// Items 0..len(Stats)-1 are entries, the rest errors; part i takes
	// the i-th n-th of them.
	items := len(m.Stats) + len(keys)
	for j := range items {
		p := &out[j*n/items]
		if j < len(m.Stats) {
			p.Stats = append(p.Stats, m.Stats[j])
		} else {
			k := keys[j-len(m.Stats)]
			p.Errors[k] = m.Errors[k]
		}
	}
	return out
}

// emptyTotal is a total that adds nothing to the master's.
func emptyTotal(t StatsEntry) StatsEntry {
	return StatsEntry{
		Name: t.Name, Method: t.Method, StartTime: t.StartTime,
		ResponseTimes: map[int64]int64{}, NumReqsPerSec: map[int64]int64{}, NumFailPerSec: map[int64]int64{},
	}
}
