package stats

import "time"

// Key identifies a statistics row: a request method (or type) and a name.
type Key struct {
	// Method is the request method or type, shown in Locust's "Type" column.
	Method string
	// Name is the row name, usually a URL path or a custom label.
	Name string
}

// AggregatedName is the name of the row that sums all requests, Locust's
// "Aggregated" row. Its method is empty.
const AggregatedName = "Aggregated"

// Sample is one finished request.
type Sample struct {
	// Method and Name select the statistics row, see Key.
	Method, Name string
	// Duration is the response time.
	Duration time.Duration
	// Size is the number of response bytes.
	Size int64
	// Err is nil for a success. A failure still counts as a request.
	Err error
	// At is when the request finished; it selects the per-second counter and
	// the row's last request timestamp. The zero value means time.Now().
	At time.Time
}
