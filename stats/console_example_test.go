package stats_test

import (
	"os"
	"time"

	"github.com/golocust/golocust/stats"
)

func exampleTotals() *stats.Totals {
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	c := stats.NewCollector()
	c.Clear(start)
	for i := range 10 {
		at := start.Add(time.Duration(i) * 100 * time.Millisecond)
		c.Record(stats.Sample{Method: "GET", Name: "/", Duration: time.Duration(10+i) * time.Millisecond, Size: 512, At: at})
	}
	c.Record(stats.Sample{Method: "POST", Name: "/cart", Duration: 120 * time.Millisecond, Size: 20, At: start.Add(time.Second)})
	t := stats.NewTotals()
	t.Merge(c.Report(start.Add(2 * time.Second)))
	return t
}

// ExampleWriteStatsTable prints the final summary table of a test.
func ExampleWriteStatsTable() {
	stats.WriteStatsTable(os.Stdout, exampleTotals(), false)
	// Output:
	// +------+------------+--------+----------+-----+-----+-----+-----+----------+-------+------------+
	// | Type | Name       | # reqs |  # fails | Avg | Min | Max | Med | Avg size | req/s | failures/s |
	// +------+------------+--------+----------+-----+-----+-----+-----+----------+-------+------------+
	// | GET  | /          |     10 | 0(0.00%) |  14 |  10 |  19 |  14 |      512 | 10.00 |       0.00 |
	// | POST | /cart      |      1 | 0(0.00%) | 120 | 120 | 120 | 120 |       20 |  1.00 |       0.00 |
	// +------+------------+--------+----------+-----+-----+-----+-----+----------+-------+------------+
	// |      | Aggregated |     11 | 0(0.00%) |  24 |  10 | 120 |  15 |      467 | 11.00 |       0.00 |
	// +------+------------+--------+----------+-----+-----+-----+-----+----------+-------+------------+
}

// ExampleWriteJSON prints the statistics as Locust's --json does.
func ExampleWriteJSON() {
	c := stats.NewCollector()
	at := time.Unix(1714564800, 0)
	c.Clear(at)
	c.Record(stats.Sample{Method: "GET", Name: "/", Duration: 12 * time.Millisecond, Size: 100, At: at})
	t := stats.NewTotals()
	t.Merge(c.Report(at.Add(time.Second)))
	stats.WriteJSON(os.Stdout, t)
	// Output:
	// [
	//     {
	//         "name": "/",
	//         "method": "GET",
	//         "last_request_timestamp": 1714564800.0,
	//         "start_time": 1714564800.0,
	//         "num_requests": 1,
	//         "num_none_requests": 0,
	//         "num_failures": 0,
	//         "total_response_time": 12.0,
	//         "max_response_time": 12.0,
	//         "min_response_time": 12.0,
	//         "total_content_length": 100,
	//         "response_times": {
	//             "12": 1
	//         },
	//         "num_reqs_per_sec": {
	//             "1714564800": 1
	//         },
	//         "num_fail_per_sec": {}
	//     }
	// ]
}
