package protocol

// Tests of MergeStats and SplitStats, in Go and against Locust's own merge
// (testdata/pymerge.py).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func fp(v float64) *float64 { return &v }

// report builds a stats report: rows named by names, each with n requests
// of rt ms at second sec, and one error row per name when fails > 0.
func report(sec int64, rt float64, n, fails int64, users int64, names ...string) StatsMessage {
	m := StatsMessage{
		Errors:           map[string]StatsError{},
		UserClassesCount: map[string]int64{"U": users},
		UserCount:        users,
	}
	entry := func(name, method string, k int64) StatsEntry {
		return StatsEntry{
			Name: name, Method: method,
			LastRequestTimestamp: fp(float64(sec) + 0.5), StartTime: float64(sec),
			NumRequests: k, NumFailures: fails * k / n, TotalResponseTime: rt * float64(k),
			MaxResponseTime: rt, MinResponseTime: fp(rt), TotalContentLength: 10 * k,
			ResponseTimes: map[int64]int64{int64(rt): k}, NumReqsPerSec: map[int64]int64{sec: k},
			NumFailPerSec: map[int64]int64{sec: fails * k / n},
		}
	}
	for _, name := range names {
		m.Stats = append(m.Stats, entry(name, "GET", n))
		if fails > 0 {
			m.Errors["err-"+name] = StatsError{Name: name, Method: "GET", Error: "boom " + name, Occurrences: fails}
		}
	}
	m.Total = entry("Aggregated", "", n*int64(len(names)))
	return m
}

func TestMergeStats(t *testing.T) {
	a := report(100, 20, 10, 2, 5, "/a", "/b")
	b := report(103, 50, 4, 1, 7, "/b", "/c")
	b.Stats[0].MinResponseTime = nil // a row with failures only
	got := MergeStats(a, b)
	if got.UserCount != 7 || got.UserClassesCount["U"] != 7 {
		t.Errorf("user counts %d %v, want b's 7", got.UserCount, got.UserClassesCount)
	}
	if len(got.Stats) != 3 {
		t.Fatalf("%d rows, want /a /b /c", len(got.Stats))
	}
	rowB := got.Stats[1]
	want := StatsEntry{
		Name: "/b", Method: "GET", LastRequestTimestamp: fp(103.5), StartTime: 100,
		NumRequests: 14, NumFailures: 3, TotalResponseTime: 400, MaxResponseTime: 50,
		MinResponseTime: fp(20), TotalContentLength: 140,
		ResponseTimes: map[int64]int64{20: 10, 50: 4}, NumReqsPerSec: map[int64]int64{100: 10, 103: 4},
		NumFailPerSec: map[int64]int64{100: 2, 103: 1},
	}
	if !reflect.DeepEqual(rowB, want) {
		t.Errorf("merged /b =\n%+v\nwant\n%+v", rowB, want)
	}
	if got.Total.NumRequests != 28 || got.Total.StartTime != 100 || *got.Total.LastRequestTimestamp != 103.5 {
		t.Errorf("total %+v", got.Total)
	}
	if e := got.Errors["err-/b"]; e.Occurrences != 3 {
		t.Errorf("err-/b occurrences %d, want 3", e.Occurrences)
	}
	// The inputs are untouched and share nothing with the result.
	got.Stats[0].ResponseTimes[999] = 1
	got.UserClassesCount["U"] = 0
	if a.Stats[0].ResponseTimes[999] != 0 || b.UserClassesCount["U"] != 7 || a.Stats[1].NumRequests != 10 {
		t.Error("MergeStats modified or shares its inputs")
	}
}

func TestSplitStats(t *testing.T) {
	m := report(100, 20, 10, 1, 3, "/a", "/b", "/c", "/d", "/e")
	for n := 1; n <= 12; n++ {
		parts := SplitStats(m, n)
		if want := min(n, 10); len(parts) != want {
			t.Fatalf("SplitStats(10 items, %d) gave %d parts, want %d", n, len(parts), want)
		}
		back := parts[0]
		for _, p := range parts {
			if p.UserCount != 3 || p.UserClassesCount["U"] != 3 {
				t.Fatalf("part without the user counts: %+v", p)
			}
			if len(p.Stats)+len(p.Errors) == 0 {
				t.Fatalf("n=%d: an empty part", n)
			}
		}
		for _, p := range parts[1:] {
			back = MergeStats(back, p)
		}
		if !reflect.DeepEqual(back.Stats, MergeStats(m, StatsMessage{UserClassesCount: m.UserClassesCount, UserCount: 3, Total: emptyTotal(m.Total)}).Stats) ||
			back.Total.NumRequests != m.Total.NumRequests || len(back.Errors) != len(m.Errors) {
			t.Fatalf("n=%d: the parts do not add up to the report", n)
		}
	}
	if parts := SplitStats(StatsMessage{}, 4); len(parts) != 1 {
		t.Errorf("an empty report split into %d parts", len(parts))
	}
}

// TestMergeAndSplitLikeTheMaster feeds the master's own merge code (Locust
// 2.12's worker_report listener) with three reports and with their merge,
// and with a report and its parts: the master's tables must be the same.
func TestMergeAndSplitLikeTheMaster(t *testing.T) {
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s not available: %v", python, err)
	}
	reports := []StatsMessage{
		report(100, 20, 10, 2, 5, "/a", "/b"),
		report(103, 50, 4, 1, 7, "/b", "/c"),
		report(106, 7, 30, 0, 7, "/a", "/c", "/d"),
	}
	merged := MergeStats(MergeStats(reports[0], reports[1]), reports[2])
	big := report(109, 12, 6, 3, 2, "/1", "/2", "/3", "/4", "/5", "/6", "/7")
	cases := []struct {
		name string
		a, b []StatsMessage
	}{
		{"merge", reports, []StatsMessage{merged}},
		{"split", []StatsMessage{big}, SplitStats(big, 4)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"testdata/pymerge.py"}
			write := func(i int, m StatsMessage) string {
				body, err := Encode("w", m)
				if err != nil {
					t.Fatal(err)
				}
				p := filepath.Join(dir, fmt.Sprintf("%d.msgpack", i))
				if err := os.WriteFile(p, body, 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			for i, m := range c.a {
				args = append(args, write(i, m))
			}
			args = append(args, "--")
			for i, m := range c.b {
				args = append(args, write(100+i, m))
			}
			out, err := exec.Command(python, args...).CombinedOutput()
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == 3 {
				t.Skipf("locust not importable: %s", out)
			}
			if err != nil || !strings.Contains(string(out), "pymerge: equal") {
				t.Fatalf("the master's tables differ: %v\n%s", err, out)
			}
		})
	}
}
