package stats

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"
)

// pyFloat marshals as Python's json module writes a float (its repr).
type pyFloat float64

func (f pyFloat) MarshalJSON() ([]byte, error) { return []byte(pyFloatRepr(float64(f))), nil }

// jsonEntry is one element of Locust's serialize_stats, keys in
// StatsEntryDict order.
type jsonEntry struct {
	Name                 string          `json:"name"`
	Method               string          `json:"method"`
	LastRequestTimestamp *pyFloat        `json:"last_request_timestamp"`
	StartTime            pyFloat         `json:"start_time"`
	NumRequests          int64           `json:"num_requests"`
	NumNoneRequests      int64           `json:"num_none_requests"`
	NumFailures          int64           `json:"num_failures"`
	TotalResponseTime    pyFloat         `json:"total_response_time"`
	MaxResponseTime      pyFloat         `json:"max_response_time"`
	MinResponseTime      *pyFloat        `json:"min_response_time"`
	TotalContentLength   int64           `json:"total_content_length"`
	ResponseTimes        json.RawMessage `json:"response_times"`
	NumReqsPerSec        json.RawMessage `json:"num_reqs_per_sec"`
	NumFailPerSec        json.RawMessage `json:"num_fail_per_sec"`
}

// intMap writes m as a JSON object with its integer keys ascending, as
// Python writes a dict whose keys are ints.
func intMap(m map[int64]int64) json.RawMessage { return keyedMap(m, false) }

// histogramMap writes a response time histogram as Locust's json.dumps
// does for float response times: keys below 100 ms are Python ints
// (round(ms)), the others floats (round(ms, -1) and coarser), so "12" but
// "250.0".
func histogramMap(m map[int64]int64) json.RawMessage { return keyedMap(m, true) }

func keyedMap(m map[int64]int64, floatKeys bool) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(',')
		}
		key := strconv.FormatInt(k, 10)
		if floatKeys && k >= 100 {
			key += ".0"
		}
		b.WriteString(`"` + key + `":` + strconv.FormatInt(m[k], 10))
	}
	b.WriteByte('}')
	return b.Bytes()
}

func epoch(t time.Time) pyFloat { return pyFloat(float64(t.UnixNano()) / 1e9) }

func jsonMillis(d time.Duration) pyFloat { return pyFloat(float64(d) / 1e6) }

// WriteJSON writes the statistics as the newest Locust's --json option
// prints them (json.dumps(stats.serialize_stats(), indent=4)): an array
// with one object per row that has requests or failures, without the
// Aggregated row. Keys and value types are Locust's: times in float
// milliseconds, timestamps in float Unix seconds, the histogram and the
// per-second counters as objects keyed by integer. Rows come sorted by
// (Name, Method); Locust lists them in the order they were first seen.
// Locust 2.12.1 has no --json; this follows Locust 2.22 and later.
func WriteJSON(w io.Writer, t *Totals) error {
	out := []jsonEntry{}
	for _, e := range t.Entries() {
		if e.NumRequests == 0 && e.NumFailures == 0 {
			continue
		}
		j := jsonEntry{
			Name:               e.Name,
			Method:             e.Method,
			StartTime:          epoch(e.StartTime),
			NumRequests:        e.NumRequests,
			NumFailures:        e.NumFailures,
			TotalResponseTime:  jsonMillis(e.TotalResponseTime),
			MaxResponseTime:    jsonMillis(e.MaxResponseTime),
			TotalContentLength: e.TotalContentLength,
			ResponseTimes:      histogramMap(e.ResponseTimes),
			NumReqsPerSec:      intMap(e.NumReqsPerSec),
			NumFailPerSec:      intMap(e.NumFailPerSec),
		}
		if !e.LastRequestTimestamp.IsZero() {
			last := epoch(e.LastRequestTimestamp)
			j.LastRequestTimestamp = &last
		}
		if e.NumRequests > 0 {
			minimum := jsonMillis(e.MinResponseTime)
			j.MinResponseTime = &minimum
		}
		out = append(out, j)
	}
	data, err := json.MarshalIndent(out, "", "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}
