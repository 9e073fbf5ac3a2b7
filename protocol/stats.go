package protocol

// StatsMessage is the worker's periodic statistics report ("stats", worker
// to master, every 3 s). It holds what was recorded since the previous
// report; the master merges it into its totals.
//
// Encode writes the keys in Python's order (stats, stats_total, errors,
// user_classes_count, user_count) and writes nil slices and maps as empty
// ones: a nil in their place makes the master drop the report.
type StatsMessage struct {
	// Stats holds one entry per (name, method) that had requests or
	// failures in this window.
	Stats []StatsEntry
	// Total is the "Aggregated" entry ("stats_total"), accumulated
	// independently of Stats.
	Total StatsEntry
	// Errors maps an error key (docs/protocol.md §5.4: a SHA-256 over
	// method, name and error text) to the failures in this window.
	Errors map[string]StatsError
	// UserClassesCount is the number of running users per user class; it
	// replaces the master's view of this worker.
	UserClassesCount map[string]int64
	// UserCount is the total number of running users (informational).
	UserCount int64
}

// Type returns "stats".
func (StatsMessage) Type() string { return TypeStats }

// StatsEntry is one row of request statistics for a report window: the
// payload of "stats" entries and of "stats_total".
type StatsEntry struct {
	// Name is the request name; "Aggregated" for the total.
	Name string
	// Method is the request type, such as "GET"; "" for the total. A nil
	// method (Locust 2.12 before the first test) decodes as "".
	Method string
	// LastRequestTimestamp is the time of the window's last request in
	// seconds since the epoch, or nil when there was none.
	LastRequestTimestamp *float64
	// StartTime is the start of the window in seconds since the epoch.
	StartTime float64
	// NumRequests counts requests, failures included.
	NumRequests int64
	// NumNoneRequests counts requests logged without a response time
	// (always 0 for Go workers).
	NumNoneRequests int64
	// NumFailures counts failed requests.
	NumFailures int64
	// TotalResponseTime is the sum of the raw response times in ms.
	TotalResponseTime float64
	// MaxResponseTime is the largest raw response time in ms (0 without
	// requests; never nil on the wire).
	MaxResponseTime float64
	// MinResponseTime is the smallest raw response time in ms, or nil when
	// there was no request.
	MinResponseTime *float64
	// TotalContentLength is the sum of the response sizes in bytes.
	TotalContentLength int64
	// ResponseTimes is the histogram: rounded response time in ms -> count.
	// Keys are always ints on the wire (Locust 2.12 floats such as 150.0
	// decode to 150).
	ResponseTimes map[int64]int64
	// NumReqsPerSec maps an integer epoch second to the requests in it.
	NumReqsPerSec map[int64]int64
	// NumFailPerSec maps an integer epoch second to the failures in it.
	NumFailPerSec map[int64]int64
}

// StatsError is one row of the errors table in a StatsMessage.
type StatsError struct {
	// Name is the request name.
	Name string
	// Method is the request type.
	Method string
	// Error is the error text.
	Error string
	// Occurrences counts the failures in this window.
	Occurrences int64
	// FirstSeen is when the error was first seen, in seconds since the
	// epoch (Locust 2.44 and later; omitted from the wire when nil).
	FirstSeen *float64
	// LastSeen is when the error was last seen, in seconds since the epoch
	// (Locust 2.44 and later; omitted from the wire when nil).
	LastSeen *float64
}

func (m StatsMessage) appendData(w *writer) error {
	w.writeMapLen(5)
	w.writeStr("stats")
	if err := checkLen(len(m.Stats)); err != nil {
		return fieldErr("stats", err)
	}
	w.writeArrayLen(len(m.Stats))
	for i := range m.Stats {
		m.Stats[i].appendTo(w)
	}
	w.writeStr("stats_total")
	m.Total.appendTo(w)
	w.writeStr("errors")
	keys := sortedKeys(m.Errors)
	w.writeMapLen(len(keys))
	for _, k := range keys {
		if err := w.writeKey(k); err != nil {
			return fieldErr("errors", err)
		}
		m.Errors[k].appendTo(w)
	}
	w.writeStr("user_classes_count")
	if err := w.writeCounts(m.UserClassesCount); err != nil {
		return fieldErr("user_classes_count", err)
	}
	w.writeStr("user_count")
	w.writeInt(m.UserCount)
	return nil
}

// appendTo writes the 14 keys in Python's order.
func (e *StatsEntry) appendTo(w *writer) {
	w.writeMapLen(14)
	w.writeStr("name")
	w.writeStr(e.Name)
	w.writeStr("method")
	w.writeStr(e.Method)
	w.writeStr("last_request_timestamp")
	w.writeOptFloat(e.LastRequestTimestamp)
	w.writeStr("start_time")
	w.writeFloat(e.StartTime)
	w.writeStr("num_requests")
	w.writeInt(e.NumRequests)
	w.writeStr("num_none_requests")
	w.writeInt(e.NumNoneRequests)
	w.writeStr("num_failures")
	w.writeInt(e.NumFailures)
	w.writeStr("total_response_time")
	w.writeFloat(e.TotalResponseTime)
	w.writeStr("max_response_time")
	w.writeFloat(e.MaxResponseTime)
	w.writeStr("min_response_time")
	w.writeOptFloat(e.MinResponseTime)
	w.writeStr("total_content_length")
	w.writeInt(e.TotalContentLength)
	w.writeStr("response_times")
	w.writeIntKeyed(e.ResponseTimes)
	w.writeStr("num_reqs_per_sec")
	w.writeIntKeyed(e.NumReqsPerSec)
	w.writeStr("num_fail_per_sec")
	w.writeIntKeyed(e.NumFailPerSec)
}

func (e StatsError) appendTo(w *writer) {
	n := 4
	if e.FirstSeen != nil {
		n++
	}
	if e.LastSeen != nil {
		n++
	}
	w.writeMapLen(n)
	w.writeStr("name")
	w.writeStr(e.Name)
	w.writeStr("method")
	w.writeStr(e.Method)
	w.writeStr("error")
	w.writeStr(e.Error)
	w.writeStr("occurrences")
	w.writeInt(e.Occurrences)
	if e.FirstSeen != nil {
		w.writeStr("first_seen")
		w.writeFloat(*e.FirstSeen)
	}
	if e.LastSeen != nil {
		w.writeStr("last_seen")
		w.writeFloat(*e.LastSeen)
	}
}

func decodeStats(r *reader) (Message, error) {
	var m StatsMessage
	err := r.readObject(func(key string) error {
		var err error
		switch key {
		case "stats":
			m.Stats, err = decodeStatsEntries(r)
		case "stats_total":
			m.Total, err = decodeStatsEntry(r)
		case "errors":
			m.Errors, err = decodeStatsErrors(r)
		case "user_classes_count":
			m.UserClassesCount, err = r.readCounts()
		case "user_count":
			m.UserCount, err = r.readInt()
		default:
			return r.skip(1)
		}
		return fieldErr(key, err)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func decodeStatsEntries(r *reader) ([]StatsEntry, error) {
	n, err := r.readArrayLen()
	if err != nil {
		return nil, err
	}
	s := make([]StatsEntry, n)
	for i := range s {
		if s[i], err = decodeStatsEntry(r); err != nil {
			return nil, indexErr(i, err)
		}
	}
	return s, nil
}

func decodeStatsEntry(r *reader) (StatsEntry, error) {
	var e StatsEntry
	err := r.readObject(func(key string) error {
		var err error
		switch key {
		case "name":
			e.Name, err = r.readStr()
		case "method":
			e.Method, err = r.readOptStr()
		case "last_request_timestamp":
			e.LastRequestTimestamp, err = r.readOptFloat()
		case "start_time":
			e.StartTime, err = r.readFloat()
		case "num_requests":
			e.NumRequests, err = r.readInt()
		case "num_none_requests":
			e.NumNoneRequests, err = r.readInt()
		case "num_failures":
			e.NumFailures, err = r.readInt()
		case "total_response_time":
			e.TotalResponseTime, err = r.readFloat()
		case "max_response_time":
			e.MaxResponseTime, err = r.readFloat()
		case "min_response_time":
			e.MinResponseTime, err = r.readOptFloat()
		case "total_content_length":
			e.TotalContentLength, err = r.readInt()
		case "response_times":
			e.ResponseTimes, err = r.readIntKeyed()
		case "num_reqs_per_sec":
			e.NumReqsPerSec, err = r.readIntKeyed()
		case "num_fail_per_sec":
			e.NumFailPerSec, err = r.readIntKeyed()
		default:
			return r.skip(1)
		}
		return fieldErr(key, err)
	})
	return e, err
}

func decodeStatsErrors(r *reader) (map[string]StatsError, error) {
	n, err := r.readMapLen()
	if err != nil {
		return nil, err
	}
	m := make(map[string]StatsError, n)
	for i := 0; i < n; i++ {
		k, err := r.readStr()
		if err != nil {
			return nil, keyErr(err)
		}
		if isReservedKey(k) {
			return nil, reservedKeyError(k)
		}
		e, err := decodeStatsError(r)
		if err != nil {
			return nil, fieldErr(k, err)
		}
		m[k] = e
	}
	return m, nil
}

func decodeStatsError(r *reader) (StatsError, error) {
	var e StatsError
	err := r.readObject(func(key string) error {
		var err error
		switch key {
		case "name":
			e.Name, err = r.readStr()
		case "method":
			e.Method, err = r.readOptStr()
		case "error":
			e.Error, err = r.readStr()
		case "occurrences":
			e.Occurrences, err = r.readInt()
		case "first_seen":
			e.FirstSeen, err = r.readOptFloat()
		case "last_seen":
			e.LastSeen, err = r.readOptFloat()
		default:
			return r.skip(1)
		}
		return fieldErr(key, err)
	})
	return e, err
}
