package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/golocust/golocust/internal/locusttest"
	"github.com/golocust/golocust/report"
)

// reportTargetHandler answers the CSV scenario's requests (csv_locust_test.go)
// with response times that differ by row, so that the charts' percentiles
// are apart; /fail fails.
func reportTargetHandler() http.Handler {
	delays := map[string]time.Duration{"/": 5 * time.Millisecond, "/item/7": 20 * time.Millisecond, "/cart": 60 * time.Millisecond}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delays[r.URL.Path])
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
}

// requireBrowser returns Debian's chromium, or skips the test without it
// (fails it in CI, which installs it).
func requireBrowser(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no browser test")
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		path, err = exec.LookPath("/usr/bin/chromium")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI has no chromium: .ci/run installs it (apt-get install chromium)")
		}
		t.Skip("no chromium (apt-get install chromium): the --html report is not opened in a browser")
	}
	if err := report.Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI builds with the chart library (.ci/run runs go generate ./report/): %v", err)
		}
		t.Skipf("%v", err)
	}
	return path
}

// browserFindings is what the page showed, read through its DOM and
// uPlot's API.
type browserFindings struct {
	Rows   int `json:"rows"`
	Charts []struct {
		Name   string `json:"name"`
		Drawn  bool   `json:"drawn"`
		Points []int  `json:"points"` // per series, x first: data[i].length
		Shown  []int  `json:"shown"`  // per y series: idxs[1]-idxs[0]+1
	} `json:"charts"`
	StatsTotal      map[string]string   `json:"statsTotal"` // data-col: text
	StatsRows       []map[string]string `json:"statsRows"`
	PercentileTotal []string            `json:"percentileTotal"`
	Occurrences     []string            `json:"occurrences"`
	ExceptionCounts []string            `json:"exceptionCounts"`
	Facts           map[string]string   `json:"facts"`
}

const readReportJS = `(() => {
	const cells = tr => Object.fromEntries([...tr.querySelectorAll("td")].map(td => [td.dataset.col, td.textContent]));
	const texts = sel => [...document.querySelectorAll(sel)].map(e => e.textContent);
	return {
		rows: golocustReport.rows,
		charts: golocustReport.charts.map(c => ({
			name: c.name,
			drawn: c.drawn,
			points: c.plot.data.map(s => s.length),
			shown: c.plot.series.slice(1).map(s => s.idxs[1] - s.idxs[0] + 1),
		})),
		statsTotal: cells(document.querySelector("#stats tfoot tr")),
		statsRows: [...document.querySelectorAll("#stats tbody tr")].map(cells),
		percentileTotal: texts("#percentiles tfoot td[data-col=percentile]"),
		occurrences: texts("#failures td[data-col=occurrences]"),
		exceptionCounts: texts("#exceptions td[data-col=count]"),
		facts: Object.fromEntries([...document.querySelectorAll("#facts dd")].map(dd => [dd.dataset.fact, dd.textContent])),
	};
})()`

// TestHTMLReportInABrowser runs a real test against a local target with
// --csv and --html, opens the report in headless chromium, and checks that
// it loads nothing, logs no error, draws every chart with one point per
// line of the CSV history, and that its tables' totals are the CSV's. The
// screenshot goes to the test's artifacts (go test -artifacts), and with
// GOLOCUST_UPDATE_SCREENSHOT=1 (a longer run) to docs/report-screenshot.png.
func TestHTMLReportInABrowser(t *testing.T) {
	chromium := requireBrowser(t)
	updateDocs := os.Getenv("GOLOCUST_UPDATE_SCREENSHOT") != ""
	target := locusttest.StartTarget(t, reportTargetHandler())
	dir := t.TempDir()
	s := &Standalone{
		Host: target.URL, Users: 4, SpawnRate: 4, RunTime: 5 * time.Second, StopTimeout: 2 * time.Second,
		Classes: csvScenarioClasses(), Output: io.Discard, OnlySummary: true,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		CSVPrefix: filepath.Join(dir, "run"), HTMLFile: filepath.Join(dir, "report.html"),
	}
	if updateDocs {
		s.Users, s.SpawnRate, s.RunTime = 12, 0.5, 40*time.Second
	}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	history := readCSV(t, s.CSVPrefix+"_stats_history.csv")[1:] // one Aggregated line per point in time
	csvStats := readCSV(t, s.CSVPrefix+"_stats.csv")
	csvTotal := csvStats[len(csvStats)-1]

	got, console, requests := openReport(t, chromium, s.HTMLFile, updateDocs)

	// Nothing fetched but the file itself, nothing logged as an error.
	for _, u := range requests {
		if u != "file://"+s.HTMLFile && !strings.HasPrefix(u, "data:") {
			t.Errorf("the report fetched %s", u)
		}
	}
	if len(console) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(console, "\n"))
	}

	// Every chart drawn, each series with one point per history line;
	// the last line, when it covers only the end of the run (the stop),
	// is part of the point before (report.History).
	if (got.Rows != len(history) && got.Rows != len(history)-1) || len(got.Charts) != 3 {
		t.Errorf("the page has %d history rows and %d charts; the CSV history has %d lines", got.Rows, len(got.Charts), len(history))
	}
	for _, c := range got.Charts {
		if !c.Drawn {
			t.Errorf("chart %s was not drawn", c.Name)
		}
		for i, n := range c.Points {
			if n != got.Rows {
				t.Errorf("chart %s series %d has %d points, the history %d rows", c.Name, i, n, got.Rows)
			}
		}
		for i, n := range c.Shown {
			if n != got.Rows {
				t.Errorf("chart %s series %d shows %d points, the history has %d rows", c.Name, i+1, n, got.Rows)
			}
		}
	}

	checkReportTables(t, got, s.CSVPrefix, csvTotal)
	if want := strconv.FormatInt(sum(res.Users), 10); !strings.HasPrefix(got.Facts["users"], want+" (") || got.Facts["host"] != target.URL {
		t.Errorf("facts %v, want %s users on %s", got.Facts, want, target.URL)
	}
	t.Logf("history %d rows; charts %+v; totals %s requests, %s failures; percentiles %v; failures %v; exceptions %v; facts %v",
		len(history), got.Charts, got.StatsTotal["requests"], got.StatsTotal["failures"], got.PercentileTotal, got.Occurrences, got.ExceptionCounts, got.Facts)
}

// checkReportTables compares the page's tables with the CSV files.
func checkReportTables(t *testing.T, got browserFindings, prefix string, csvTotal []string) {
	t.Helper()
	if got.StatsTotal["requests"] != csvTotal[2] || got.StatsTotal["failures"] != csvTotal[3] || csvTotal[2] == "0" || csvTotal[3] == "0" {
		t.Errorf("stats total: page %s requests, %s failures; CSV %s, %s (both must be > 0)", got.StatsTotal["requests"], got.StatsTotal["failures"], csvTotal[2], csvTotal[3])
	}
	csvStats := readCSV(t, prefix+"_stats.csv")
	if len(got.StatsRows) != len(csvStats)-2 {
		t.Errorf("stats: %d rows on the page, %d in the CSV", len(got.StatsRows), len(csvStats)-2)
	}
	for i, row := range got.StatsRows {
		if i+1 < len(csvStats) {
			c := csvStats[i+1]
			if row["type"] != c[0] || row["name"] != c[1] || row["requests"] != c[2] || row["failures"] != c[3] {
				t.Errorf("stats row %d: page %v, CSV %v", i, row, c[:4])
			}
		}
	}
	if want := csvTotal[11:]; !slices.Equal(got.PercentileTotal, want) {
		t.Errorf("Aggregated percentiles: page %v, CSV %v", got.PercentileTotal, want)
	}
	sumColumn := func(rows [][]string, col int) int64 {
		var n int64
		for _, r := range rows[1:] {
			v, _ := strconv.ParseInt(r[col], 10, 64)
			n += v
		}
		return n
	}
	sumTexts := func(texts []string) int64 {
		var n int64
		for _, s := range texts {
			v, _ := strconv.ParseInt(s, 10, 64)
			n += v
		}
		return n
	}
	failures := readCSV(t, prefix+"_failures.csv")
	if page, csv := sumTexts(got.Occurrences), sumColumn(failures, 3); page != csv || len(got.Occurrences) != len(failures)-1 || page == 0 {
		t.Errorf("failures: page %d rows, %d occurrences; CSV %d rows, %d", len(got.Occurrences), page, len(failures)-1, csv)
	}
	exceptions := readCSV(t, prefix+"_exceptions.csv")
	if page, csv := sumTexts(got.ExceptionCounts), sumColumn(exceptions, 0); page != csv || page == 0 {
		t.Errorf("exceptions: page %d, CSV %d", page, csv)
	}
}

// openReport opens path in headless chromium and returns what the page
// shows, its console errors and exceptions, and the URLs it requested; it
// saves a screenshot.
func openReport(t *testing.T, chromium, path string, updateDocs bool) (browserFindings, []string, []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	ctx, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()

	var mu sync.Mutex
	var console, requests []string
	err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				console = append(console, fmt.Sprintf("console.%s: %v", ev.Type, ev.Args))
			}
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			if d.Exception != nil {
				console = append(console, fmt.Sprintf("exception: %s %s at %s:%d", d.Text, d.Exception.Description, d.URL, d.LineNumber))
			} else {
				console = append(console, fmt.Sprintf("exception: %s at %s:%d", d.Text, d.URL, d.LineNumber))
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				console = append(console, fmt.Sprintf("log %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		}
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 1200), chromedp.Navigate("file://"+path)); err != nil {
		t.Fatalf("opening the report: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.golocustReport !== undefined && golocustReport.charts.length === 3 && golocustReport.charts.every(c => c.drawn)`)); err != nil {
		t.Errorf("waiting for the charts: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[browserFindings](readReportJS))
	if err != nil {
		t.Fatalf("reading the report: %v", err)
	}
	saveScreenshots(ctx, t, updateDocs)
	mu.Lock()
	defer mu.Unlock()
	return got, slices.Clone(console), slices.Clone(requests)
}

// saveScreenshots saves the whole page to the test's artifacts and, when
// asked, the top of the page (facts and charts) to docs/.
func saveScreenshots(ctx context.Context, t *testing.T, updateDocs bool) {
	t.Helper()
	full, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	name := filepath.Join(t.ArtifactDir(), "report.png")
	if err := os.WriteFile(name, full, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the whole report: %s (%d bytes)", name, len(full))
	if !updateDocs {
		return
	}
	top, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "report-screenshot.png"), top, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("docs/report-screenshot.png: %d bytes", len(top))
}

// TestHTMLReportFileErrorAtStart: a report that cannot be written stops
// the run before it starts, not after it ran.
func TestHTMLReportFileErrorAtStart(t *testing.T) {
	s := &Standalone{
		Users: 1, RunTime: time.Minute, Classes: csvScenarioClasses(), Output: io.Discard,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		HTMLFile: filepath.Join(t.TempDir(), "no such dir", "report.html"),
	}
	begin := time.Now()
	res, err := s.Run(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "--html: ") || res != nil {
		t.Fatalf("Run: %v, %v; want an --html error and no result", res, err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("the error came after %v: the run went on", d)
	}
	t.Logf("error: %v", err)
}
