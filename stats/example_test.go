package stats_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golocust/golocust/stats"
)

func ExampleCollector() {
	c := stats.NewCollector()
	start := time.Unix(1700000000, 0)
	c.Clear(start)

	// Each user goroutine keeps its own recorder.
	r := c.Recorder(1)
	r.Record(stats.Sample{Method: "GET", Name: "/items", Duration: 42 * time.Millisecond, Size: 512, At: start.Add(time.Second)})
	r.Record(stats.Sample{Method: "GET", Name: "/items", Duration: 147300 * time.Microsecond, At: start.Add(2 * time.Second),
		Err: errors.New("HTTPError('503 Server Error')")})

	// Every three seconds the worker sends what happened since the last report.
	rep := c.Report(start.Add(3 * time.Second))
	for _, e := range rep.Entries {
		fmt.Println(e.Method, e.Name, e.NumRequests, e.NumFailures, e.ResponseTimes)
	}
	fmt.Println(rep.Total.Name, rep.Total.NumRequests)
	for _, e := range rep.Errors {
		fmt.Println(e.Text, e.Occurrences)
	}
	fmt.Println(len(c.Report(start.Add(6 * time.Second)).Entries))
	// Output:
	// GET /items 2 1 map[42:1 150:1]
	// Aggregated 2
	// HTTPError('503 Server Error') 1
	// 0
}

func ExampleBucketKey() {
	for _, d := range []time.Duration{
		2500 * time.Microsecond,    // 2.5 ms: ties go to even
		99600 * time.Microsecond,   // 99.6 ms: below 100, rounds to 100
		125 * time.Millisecond,     // multiples of 10 below 1 s
		1234500 * time.Microsecond, // multiples of 100 below 10 s
		58760 * time.Millisecond,   // multiples of 1000 above
	} {
		fmt.Println(stats.BucketKey(d))
	}
	// Output:
	// 2
	// 100
	// 120
	// 1200
	// 59000
}

func ExampleError_ID() {
	e := stats.Error{Key: stats.Key{Method: "POST", Name: "/api"}, Text: "Exception('synthetic failure: HTTP 503')"}
	fmt.Println(e.ID())
	// Output: babdaa54cddbc70e14faacdbd85a4610b1d2e0502828085f4fc4ad72316b249e
}

func ExamplePyRepr() {
	fmt.Println(stats.PyRepr("plain"))
	fmt.Println(stats.PyRepr("it's"))
	fmt.Println(stats.PyRepr("tab\there\x00"))
	// Output:
	// 'plain'
	// "it's"
	// 'tab\there\x00'
}

func ExampleErrorText() {
	fmt.Println(stats.ErrorText(errors.New("<Conn object at 0x7f3a2b1c>: refused")))
	// Output: <Conn object at 0x....>: refused
}

func ExampleTotals() {
	c := stats.NewCollector()
	start := time.Unix(1700000000, 0)
	c.Clear(start)
	t := stats.NewTotals()
	r := c.Recorder(1)
	for i := range 10 {
		r.Record(stats.Sample{Method: "GET", Name: "/", Duration: time.Duration(i+1) * 10 * time.Millisecond, At: start.Add(time.Second)})
	}
	t.Merge(c.Report(start.Add(3 * time.Second)))
	total := t.Total()
	fmt.Println(total.NumRequests, total.Median(), total.Percentile(0.95), total.Average())
	// Output: 10 50ms 100ms 55ms
}

func ExampleWriteStatsCSV() {
	c := stats.NewCollector()
	start := time.Unix(1700000000, 0)
	c.Clear(start)
	c.Recorder(1).Record(stats.Sample{Method: "GET", Name: "/", Duration: 12500 * time.Microsecond, Size: 100, At: start.Add(2 * time.Second)})
	t := stats.NewTotals()
	t.Merge(c.Report(start.Add(3 * time.Second)))
	var b strings.Builder
	if err := stats.WriteStatsCSV(&b, t, []float64{0.5, 0.999}); err != nil {
		fmt.Println(err)
	}
	// Like Python's csv module, the writers end lines with "\r\n".
	fmt.Print(strings.ReplaceAll(b.String(), "\r\n", "\n"))
	// Output:
	// Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,99.9%
	// GET,/,1,0,12.5,12.5,12.5,12.5,100.0,0.5,0.0,12,12
	// ,Aggregated,1,0,12.5,12.5,12.5,12.5,100.0,0.5,0.0,12,12
}
