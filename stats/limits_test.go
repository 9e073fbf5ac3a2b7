package stats

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCollectorEphemeralPortErrors records 100,000 connection resets, each
// from its own local port, as one row of the failure table: each used to
// make a row of its own.
func TestCollectorEphemeralPortErrors(t *testing.T) {
	c := NewCollector()
	target := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	const n = 100000
	for i := range n {
		local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1024 + i%64000}
		err := fmt.Errorf(`Get "http://127.0.0.1:8080/": %w`, &net.OpError{Op: "read", Net: "tcp", Source: local, Addr: target, Err: syscall.ECONNRESET})
		c.Recorder(uint64(i)).Record(Sample{Method: "GET", Name: "/", Duration: time.Millisecond, Err: err, At: t0})
	}
	r := c.Report(t0.Add(time.Second))
	if len(r.Errors) != 1 || r.Errors[0].Occurrences != n {
		t.Fatalf("%d failure rows (first %+v), want one with %d occurrences", len(r.Errors), r.Errors[0], n)
	}
	if want := `Get "http://127.0.0.1:8080/": read tcp 127.0.0.1:....->127.0.0.1:8080: connection reset by peer`; r.Errors[0].Text != want {
		t.Errorf("text %q, want %q", r.Errors[0].Text, want)
	}
}

// TestCollectorRowCap records more distinct request names and error texts
// than the caps allow: the rows beyond the caps merge into the overflow
// rows, every request and failure is still counted, the overflow is logged
// once per kind, and Clear starts afresh.
func TestCollectorRowCap(t *testing.T) {
	var logs bytes.Buffer
	c := NewCollector()
	c.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	c.SetLimits(3, 2)
	record := func(names, perName int) {
		for i := range names {
			for j := range perName {
				c.Recorder(uint64(i*perName + j)).Record(Sample{
					Method: "GET", Name: fmt.Sprintf("/item/%d", i), Duration: time.Millisecond,
					Err: fmt.Errorf("bad item %d", i), At: t0,
				})
			}
		}
	}
	record(10, 5)
	r := c.Report(t0.Add(time.Second))
	check := func(r Report, wantOther int64) {
		t.Helper()
		var names []string
		var requests, failures int64
		for _, e := range r.Entries {
			names = append(names, e.Method+" "+e.Name)
			requests += e.NumRequests
			if e.Name == OtherName && e.NumRequests != wantOther {
				t.Errorf("%s row has %d requests, want %d", OtherName, e.NumRequests, wantOther)
			}
		}
		if len(r.Entries) != 4 || r.Entries[3].Name != OtherName || r.Entries[3].Method != "" {
			t.Errorf("rows %q, want 3 rows and %s", names, OtherName)
		}
		if requests != 50 || r.Total.NumRequests != 50 {
			t.Errorf("rows count %d requests, total %d; want 50", requests, r.Total.NumRequests)
		}
		var texts []string
		for _, e := range r.Errors {
			texts = append(texts, e.Name+": "+e.Text)
			failures += e.Occurrences
		}
		if len(r.Errors) != 3 || failures != 50 {
			t.Errorf("failure rows %q with %d failures, want 3 rows with 50", texts, failures)
		}
		if !strings.Contains(strings.Join(texts, "|"), OtherName+": "+OtherErrorsText) {
			t.Errorf("failure rows %q lack %s", texts, OtherErrorsText)
		}
	}
	check(r, 35)
	record(10, 5) // the same rows again: no new row, no new log line
	check(c.Report(t0.Add(2*time.Second)), 35)
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 {
		t.Errorf("%d warnings, want one per kind:\n%s", n, logs.String())
	}
	c.Clear(t0.Add(3 * time.Second))
	record(10, 5)
	check(c.Report(t0.Add(4*time.Second)), 35)
	if n := strings.Count(logs.String(), "level=WARN"); n != 4 {
		t.Errorf("%d warnings after Clear and a new overflow, want 4:\n%s", n, logs.String())
	}
}

// TestCollectorNewTestResetsCaps: a worker serves test after test; each new
// test has the whole cap, and nothing recorded is lost by starting one.
func TestCollectorNewTestResetsCaps(t *testing.T) {
	c := NewCollector()
	c.SetLogger(slog.New(slog.DiscardHandler))
	c.SetLimits(2, 1)
	rec := func(name string) {
		c.Recorder(1).Record(Sample{Method: "GET", Name: name, Duration: time.Millisecond, At: t0})
	}
	rec("/a")
	rec("/b")
	rec("/c") // over the cap: [other]
	c.NewTest()
	rec("/d") // a new test: its own row again
	r := c.Report(t0.Add(time.Second))
	got := map[string]int64{}
	for _, e := range r.Entries {
		got[e.Name] += e.NumRequests
	}
	want := map[string]int64{"/a": 1, "/b": 1, OtherName: 1, "/d": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}
