package stats

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestPyFloatReprMatchesPython(t *testing.T) {
	fs := []float64{0, 1, -1, 0.1, 0.5, 12.0, 123.456, 1e15, 1e16, 9999999999999998, 1.5e16, 0.0001, 0.00009999, 1e-5,
		1e100, 1e-100, 5e-324, math.MaxFloat64, 2.0 / 3, 1234.5678901234567, 0.3333333333333333, 3.0000000000000004}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		fs = append(fs, math.Float64frombits(rng.Uint64()&^(0x7ff<<52)|uint64(1023-20+rng.IntN(60))<<52))
	}
	var got []string
	runLocust(t, `json.dump([repr(float(x)) for x in json.load(sys.stdin)], sys.stdout)`, fs, &got)
	for i, f := range fs {
		if r := pyFloatRepr(f); r != got[i] {
			t.Errorf("pyFloatRepr(%v) = %s, Python %s", f, r, got[i])
		}
	}
	if r := pyFloatRepr(math.Copysign(0, -1)); r != "-0.0" {
		t.Errorf("pyFloatRepr(-0) = %s", r)
	}
}

func TestPercentileLabelMatchesLocust(t *testing.T) {
	ps := append(DefaultPercentiles(), 0.07, 0.333, 0.12345678, 0.001, 0.9999999, 0, 0.25, 0.123456789)
	var got []string
	runLocust(t, `json.dump(ls.get_readable_percentiles([float(p) for p in json.load(sys.stdin)]), sys.stdout)`, ps, &got)
	for i, p := range ps {
		if l := PercentileLabel(p); l != got[i] {
			t.Errorf("PercentileLabel(%v) = %s, Locust %s", p, l, got[i])
		}
	}
}

func TestCSVQuotingMatchesPython(t *testing.T) {
	rows := [][]string{
		{"a", "b c", " lead", "trail "},
		{"comma,", `quote"`, "new\nline", "cr\rret", "tab\t"},
		{""},
		{"", ""},
		{"ünïcode", "日本", `\`},
	}
	var want string
	runLocust(t, `
import csv, io
buf = io.StringIO()
w = csv.writer(buf)
for r in json.load(sys.stdin):
    w.writerow(r)
json.dump(buf.getvalue(), sys.stdout)
`, rows, &want)
	var b csvBuffer
	for _, r := range rows {
		b.row(r...)
	}
	if got := b.String(); got != want {
		t.Errorf("csv =\n%q\nPython\n%q", got, want)
	}
}

// csvFixture records a few report windows with awkward values and returns
// the reports and their merged totals. All durations are multiples of
// 1/64 ms and all times multiples of 1/64 s, so Python's float sums agree
// with Go's integer sums bit for bit.
func csvFixture() ([]Report, *Totals) {
	const tick = 15625 * time.Nanosecond // 1/64 ms
	rng := rand.New(rand.NewPCG(7, 8))
	c := NewCollector()
	c.Clear(t0)
	keys := []Key{
		{"GET", "/"}, {"GET", "/items?id=1,2"}, {"POST", "/items"}, {"grpc", `svc/"Quoted"`}, {"GET", "/slow"}, {"", "custom"},
	}
	errs := []error{
		errors.New(`HTTPError('500 Server Error: Internal, "oops" for url: /items')`),
		errors.New("ConnectionError(<urllib3.Conn object at 0x7f00ab12>: refused)"),
		errors.New("multi\nline"),
	}
	var reports []Report
	tt := NewTotals()
	for w := range 6 {
		start := time.Duration(w) * 3 * time.Second
		for i := range 40 + rng.IntN(40) {
			k := keys[rng.IntN(len(keys))]
			if w == 0 && k.Name == "/slow" {
				continue // a row that first appears later
			}
			d := time.Duration(rng.Int64N(int64(2*time.Second/tick))) * tick
			switch {
			case k.Name == "/slow":
				d = time.Duration(rng.Int64N(int64(30*time.Second/tick))) * tick
			case i%13 == 0:
				d = 0
			}
			s := Sample{
				Method: k.Method, Name: k.Name, Duration: d, Size: rng.Int64N(5000),
				At: at(start + time.Duration(rng.Int64N(3*64))*time.Second/64),
			}
			if rng.IntN(6) == 0 {
				s.Err = errs[rng.IntN(len(errs))]
			}
			c.Recorder(uint64(i)).Record(s)
		}
		r := c.Report(at(start + 3*time.Second))
		reports = append(reports, r)
		tt.Merge(r)
	}
	return reports, tt
}

// wireEntry is an Entry as a 2.12 Python worker would put it on the wire,
// in JSON for the Python side of the test.
type wireEntry struct {
	Name, Method        string
	Last                *float64
	Start               float64
	N, F, Content       int64
	TotalMs             float64
	MinMs               *float64
	MaxMs               float64
	RT, RPS, FPS        [][2]int64
	MaxIsZero, MinIsSet bool
}

func toWire(e Entry) wireEntry {
	secs := func(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
	pairs := func(m map[int64]int64) [][2]int64 {
		var p [][2]int64
		for _, k := range sortedKeys(m) {
			p = append(p, [2]int64{k, m[k]})
		}
		return p
	}
	w := wireEntry{
		Name: e.Name, Method: e.Method, Start: secs(e.StartTime),
		N: e.NumRequests, F: e.NumFailures, Content: e.TotalContentLength,
		TotalMs: float64(e.TotalResponseTime) / 1e6, MaxMs: float64(e.MaxResponseTime) / 1e6,
		RT: pairs(e.ResponseTimes), RPS: pairs(e.NumReqsPerSec), FPS: pairs(e.NumFailPerSec),
	}
	if !e.LastRequestTimestamp.IsZero() {
		l := secs(e.LastRequestTimestamp)
		w.Last = &l
	}
	if e.NumRequests > 0 {
		m := float64(e.MinResponseTime) / 1e6
		w.MinMs = &m
	}
	return w
}

// locustCSVScript feeds the reports to a Locust 2.12 master's own merge
// code and writes its CSV files.
const locustCSVScript = `
import csv, io, os, tempfile, time as realtime, types

d = json.load(sys.stdin)
clock = [realtime.time()]
ls.time = types.SimpleNamespace(time=lambda: clock[0])

def entry(w):
    return {
        "name": w["Name"], "method": w["Method"], "last_request_timestamp": w["Last"],
        "start_time": w["Start"], "num_requests": w["N"], "num_none_requests": 0,
        "num_failures": w["F"], "total_response_time": w["TotalMs"] if w["N"] else 0,
        "max_response_time": w["MaxMs"] if w["MaxMs"] else 0, "min_response_time": w["MinMs"],
        "total_content_length": w["Content"],
        # A 2.12 worker measuring float milliseconds keys buckets >= 100 with floats.
        "response_times": {(float(k) if k >= 100 else k): n for k, n in (w["RT"] or [])},
        "num_reqs_per_sec": {k: n for k, n in (w["RPS"] or [])},
        "num_fail_per_sec": {k: n for k, n in (w["FPS"] or [])},
    }

stats = ls.RequestStats()
events = ls.Events()
ls.setup_distributed_stats_event_listeners(events, stats)
(on_worker_report,) = events.worker_report._handlers
for r in d["Reports"]:
    clock[0] = r["Time"]
    on_worker_report(client_id="w", data={
        "stats": [entry(e) for e in r["Entries"]],
        "stats_total": entry(r["Total"]),
        "errors": {e["ID"]: {"name": e["Name"], "method": e["Method"], "error": e["Text"], "occurrences": e["N"]} for e in r["Errors"]},
    })

# A standalone Locust keeps the exception object, whose repr is the text.
class Exc:
    def __init__(self, text): self.text = text
    def __repr__(self): return self.text
for e in stats.errors.values():
    e.error = Exc(e.error)

clock[0] = d["Now"]
exceptions = {i: {"count": x["Count"], "msg": x["Message"], "traceback": x["Traceback"], "nodes": x["Nodes"]} for i, x in enumerate(d["Exceptions"])}
env = types.SimpleNamespace(stats=stats, runner=types.SimpleNamespace(user_count=d["Users"], exceptions=exceptions))

def out(fn):
    buf = io.StringIO()
    fn(csv.writer(buf))
    return buf.getvalue()

res = {}
for name, pcts in (("default", ls.PERCENTILES_TO_REPORT), ("custom", [float(p) for p in d["Percentiles"]])):
    sc = ls.StatsCSV(env, pcts)
    res[name + "_stats"] = out(sc.requests_csv)
    res[name + "_failures"] = out(sc.failures_csv)
    res[name + "_exceptions"] = out(sc.exceptions_csv)
    with tempfile.TemporaryDirectory() as tmp:
        for full in (False, True):
            fw = ls.StatsCSVFileWriter(env, pcts, os.path.join(tmp, "x"), full_history=full)
            def hist(w):
                w.writerow(fw.stats_history_csv_columns)
                fw._stats_history_data_rows(w, d["Now"])
            res[name + "_history_" + str(full)] = out(hist)
            fw.close_files()
json.dump(res, sys.stdout)
`

// TestCSVMatchesLocust writes all CSV files from Go and from Locust 2.12's
// StatsCSV fed with the same reports, and compares them byte for byte.
func TestCSVMatchesLocust(t *testing.T) {
	reports, tt := csvFixture()
	type wireError struct {
		ID, Method, Name, Text string
		N                      int64
	}
	type wireReport struct {
		Time    float64
		Entries []wireEntry
		Total   wireEntry
		Errors  []wireError
	}
	exceptions := []ExceptionRow{
		{Count: 3, Message: "division by zero", Traceback: "  File \"x.py\", line 1, in task\n    1/0\n", Nodes: []string{"local"}},
		{Count: 1, Message: `comma, "quote"`, Traceback: "", Nodes: []string{"w1", "w2"}},
	}
	now := at(20*time.Second + 500*time.Millisecond)
	custom := []float64{0.07, 0.333, 0.5, 0.999, 1}
	in := struct {
		Reports     []wireReport
		Now         float64
		Users       int
		Percentiles []float64
		Exceptions  []ExceptionRow
	}{Now: float64(now.UnixNano()) / 1e9, Users: 42, Percentiles: custom, Exceptions: exceptions}
	for _, r := range reports {
		wr := wireReport{Time: float64(r.Time.UnixNano()) / 1e9, Total: toWire(r.Total)}
		for _, e := range r.Entries {
			wr.Entries = append(wr.Entries, toWire(e))
		}
		for _, e := range r.Errors {
			wr.Errors = append(wr.Errors, wireError{e.ID(), e.Method, e.Name, e.Text, e.Occurrences})
		}
		in.Reports = append(in.Reports, wr)
	}
	var want map[string]string
	runLocust(t, locustCSVScript, in, &want)

	got := make(map[string]string)
	for name, pcts := range map[string][]float64{"default": nil, "custom": custom} {
		var b bytes.Buffer
		if err := WriteStatsCSV(&b, tt, pcts); err != nil {
			t.Fatal(err)
		}
		got[name+"_stats"] = b.String()
		b.Reset()
		if err := WriteFailuresCSV(&b, tt); err != nil {
			t.Fatal(err)
		}
		got[name+"_failures"] = b.String()
		b.Reset()
		if err := WriteExceptionsCSV(&b, exceptions); err != nil {
			t.Fatal(err)
		}
		got[name+"_exceptions"] = b.String()
		for _, full := range []bool{false, true} {
			b.Reset()
			h := NewStatsHistoryCSV(&b, pcts, full)
			if err := h.WriteHeader(); err != nil {
				t.Fatal(err)
			}
			if err := h.WriteRows(tt, 42, now); err != nil {
				t.Fatal(err)
			}
			got[fmt.Sprintf("%s_history_%s", name, map[bool]string{false: "False", true: "True"}[full])] = b.String()
		}
	}
	if len(got) != len(want) {
		t.Fatalf("Go wrote %d files, Locust %d", len(got), len(want))
	}
	for name, w := range want {
		if g := got[name]; g != w {
			t.Errorf("%s differs:\n%s", name, lineDiff(g, w))
		}
	}
	t.Logf("stats CSV:\n%s", got["default_stats"])
	t.Logf("history CSV (full):\n%s", got["default_history_True"])
}

// lineDiff shows the lines that differ between got and want.
func lineDiff(got, want string) string {
	g, w := strings.Split(got, "\r\n"), strings.Split(want, "\r\n")
	var b strings.Builder
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			fmt.Fprintf(&b, "line %d:\n  go:     %q\n  locust: %q\n", i, gl, wl)
		}
	}
	return b.String()
}
