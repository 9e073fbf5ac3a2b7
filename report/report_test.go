package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/golocust/golocust/stats"
)

// fakeLibrary stands for uPlot, so that these tests run in a build made
// without go generate.
func fakeLibrary() fstest.MapFS {
	return fstest.MapFS{
		"lib/README.md": {Data: []byte("placeholder")},
		libScript:       {Data: []byte("window.uPlot = function () {}; /* fake uPlot */")},
		libStyle:        {Data: []byte(".uplot { display: block }")},
	}
}

// sampleRun is a run of 3 seconds with two rows, failures, a name to
// escape and an exception.
func sampleRun(t *testing.T) (Facts, *stats.Totals, []HistoryRow, []stats.ExceptionRow) {
	t.Helper()
	start := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	r := newRun()
	h := NewHistory(start, 0)
	for s := 1; s <= 3; s++ {
		at := start.Add(time.Duration(s) * time.Second)
		r.requests(10*s, s-1, 20*time.Millisecond, at.Add(-time.Millisecond))
		r.c.Record(stats.Sample{Method: "POST", Name: "<script>alert(1)</script>", Duration: 300 * time.Millisecond, At: at.Add(-time.Millisecond)})
		r.merge(at)
		h.Add(r.t, 4, at)
	}
	facts := Facts{Start: start, Duration: 3 * time.Second, Host: "http://127.0.0.1:8089", Users: map[string]int64{"Visitor": 3, "Buyer": 1}}
	ex := []stats.ExceptionRow{{Count: 7, Message: "boom", Traceback: "main.go:12 <here>", Nodes: []string{"local"}}}
	return facts, r.t, h.Rows(), ex
}

func TestWriteHTMLWithoutLibrary(t *testing.T) {
	facts, totals, history, ex := sampleRun(t)
	var buf bytes.Buffer
	err := writeHTML(&buf, fstest.MapFS{"lib/README.md": {Data: []byte("placeholder")}}, facts, totals, history, ex)
	if !errors.Is(err, ErrNoChartLibrary) {
		t.Fatalf("err %v, want ErrNoChartLibrary", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes without a library", buf.Len())
	}
}

func TestWriteHTMLRefusesALibraryThatEndsItsElement(t *testing.T) {
	fsys := fakeLibrary()
	fsys[libScript] = &fstest.MapFile{Data: []byte(`var s = "</SCRIPT>";`)}
	facts, totals, history, ex := sampleRun(t)
	if err := writeHTML(&bytes.Buffer{}, fsys, facts, totals, history, ex); err == nil {
		t.Fatal("a library with </script> was inlined")
	}
}

func TestWriteHTMLShowsTheRun(t *testing.T) {
	facts, totals, history, ex := sampleRun(t)
	var buf bytes.Buffer
	if err := writeHTML(&buf, fakeLibrary(), facts, totals, history, ex); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`,
		"/* fake uPlot */",
		".uplot { display: block }",
		`<dd data-fact="start">2026-11-02 10:00:00 UTC</dd>`,
		`<dd data-fact="duration">3s</dd>`,
		`<dd data-fact="users">4 (Buyer 1, Visitor 3)</dd>`,
		`<dd data-fact="host">http://127.0.0.1:8089</dd>`,
		`<td data-col="requests">63</td><td data-col="failures">3</td>`, // the Aggregated row
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		`<td data-col="count">7</td><td class="l wrap">boom</td><td class="l wrap"><pre>main.go:12 &lt;here&gt;</pre></td><td class="l">local</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("a row name went into the page unescaped")
	}
	if n := strings.Count(page, `<td data-col="occurrences">`); n != 1 {
		t.Errorf("%d failure rows, want 1", n)
	}

	// The charts' data: one point per history row, in each series.
	_, js, ok := strings.Cut(page, "const d = ")
	js, _, _ = strings.Cut(js, ";\n")
	var c charts
	if err := json.Unmarshal([]byte(js), &c); !ok || err != nil {
		t.Fatalf("the charts' data %.200q: %v", js, err)
	}
	for name, n := range map[string]int{"time": len(c.Time), "users": len(c.Users), "rps": len(c.RPS), "fps": len(c.FPS), "p50": len(c.P50), "p95": len(c.P95), "p99": len(c.P99)} {
		if n != len(history) {
			t.Errorf("series %s has %d points, history %d rows", name, n, len(history))
		}
	}
	if c.Time[2] != 1_793_613_603 || c.RPS[2] != 31 || c.FPS[2] != 2 || *c.P99[2] != 300 || *c.P50[2] != 20 || c.Users[2] != 4 {
		t.Errorf("the last point: time %v rps %v fps %v p50 %v p99 %v users %v", c.Time[2], c.RPS[2], c.FPS[2], *c.P50[2], *c.P99[2], c.Users[2])
	}
}

func TestWriteHTMLWithoutRequests(t *testing.T) {
	var buf bytes.Buffer
	facts := Facts{Start: time.Unix(0, 0).UTC()}
	if err := writeHTML(&buf, fakeLibrary(), facts, stats.NewTotals(), nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"No requests.", "No failures.", "No exceptions.", "each user class&#39;s own host", `"time":[]`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// TestEmbeddedLibrary checks the build's own uPlot, which go generate
// copied; CI runs go generate first, so there it must be present.
func TestEmbeddedLibrary(t *testing.T) {
	if err := Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI builds with the chart library: %v", err)
		}
		t.Skipf("%v", err)
	}
	l, err := chartLibrary(lib)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(l.script), "uPlot") || len(l.script) < 10_000 || !strings.Contains(string(l.style), ".uplot") {
		t.Errorf("the embedded library is not uPlot's minified build: %d bytes of script, %d of style", len(l.script), len(l.style))
	}
}
