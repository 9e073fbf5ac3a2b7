// Package report writes the --html report of a run: one self-contained
// HTML file with the run's facts, the statistics, percentile, failure and
// exception tables, and charts over time of requests and failures per
// second, response-time percentiles and users, drawn by uPlot.
//
// uPlot comes from npm (package.json, package-lock.json) and is not in the
// source tree: `go generate ./report/` installs it with npm ci and copies
// its minified files into lib/, which the package embeds. A build without
// them compiles and runs, and WriteHTML returns ErrNoChartLibrary.
//
// The file fetches nothing when opened: the library, the styles and the
// data are inline, and its Content-Security-Policy allows nothing else.
package report

//go:generate npm ci --no-audit --no-fund
//go:generate go run genlib.go

// This file owns the library's embedding and WriteHTML; history.go the
// history rows; page.go what the page shows; report.html the page.

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/golocust/golocust/stats"
)

// ErrNoChartLibrary is WriteHTML's error in a build made without
// `go generate ./report/`.
var ErrNoChartLibrary = errors.New("this build has no chart library: run go generate ./report/ and build again")

// lib holds the chart library's files that genlib.go copies, and a
// committed README so that the directory always exists.
//
//go:embed lib
var lib embed.FS

//go:embed report.html
var pageSource string

// The library's files in lib/.
const (
	libScript = "lib/uPlot.iife.min.js"
	libStyle  = "lib/uPlot.min.css"
)

// Facts are the run's facts at the top of the report.
type Facts struct {
	// Start is when the test started.
	Start time.Time
	// Duration is how long it ran.
	Duration time.Duration
	// Host is the target base URL; "" means each class's own host.
	Host string
	// Users is the number of users of each class at the end of the ramp.
	Users map[string]int64
}

// Available returns nil when this build has the chart library, else
// ErrNoChartLibrary: a run can check it before it starts.
func Available() error {
	_, err := chartLibrary(lib)
	return err
}

// library is the chart library's script and style sheet.
type library struct {
	script template.JS
	style  template.CSS
}

// chartLibrary reads the library from fsys.
func chartLibrary(fsys fs.FS) (library, error) {
	script, err := fs.ReadFile(fsys, libScript)
	if errors.Is(err, fs.ErrNotExist) {
		return library{}, ErrNoChartLibrary
	}
	if err != nil {
		return library{}, fmt.Errorf("report: %w", err)
	}
	style, err := fs.ReadFile(fsys, libStyle)
	if errors.Is(err, fs.ErrNotExist) {
		return library{}, ErrNoChartLibrary
	}
	if err != nil {
		return library{}, fmt.Errorf("report: %w", err)
	}
	// Inline, a closing tag would end the element early.
	if strings.Contains(strings.ToLower(string(script)), "</script") || strings.Contains(strings.ToLower(string(style)), "</style") {
		return library{}, errors.New("report: the chart library contains a closing tag and cannot be inlined")
	}
	return library{script: template.JS(script), style: template.CSS(style)}, nil
}

// WriteHTML writes the report of a run: its facts, the final statistics
// of totals (rates over the whole test, as in the summary), the failures,
// exceptions, and the charts of history, one point per row.
func WriteHTML(w io.Writer, facts Facts, totals *stats.Totals, history []HistoryRow, exceptions []stats.ExceptionRow) error {
	return writeHTML(w, lib, facts, totals, history, exceptions)
}

func writeHTML(w io.Writer, fsys fs.FS, facts Facts, totals *stats.Totals, history []HistoryRow, exceptions []stats.ExceptionRow) error {
	l, err := chartLibrary(fsys)
	if err != nil {
		return err
	}
	tmpl, err := template.New("report").Parse(pageSource)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := tmpl.Execute(w, newPage(l, facts, totals, history, exceptions)); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
