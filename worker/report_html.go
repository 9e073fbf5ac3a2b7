package worker

// This file owns the --html report of a standalone run (standalone.go):
// the history it keeps for the charts, at each CSV interval, and the file
// written at the end; the page itself is the report package's.

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golocust/golocust/report"
)

// htmlReport is a run's --html file and the history of its charts.
type htmlReport struct {
	path    string
	history *report.History
}

// newHTMLReport checks that this build can write the report and that path
// can be created, so that a run does not find out at its end.
func newHTMLReport(path string, start time.Time) (*htmlReport, error) {
	if err := report.Available(); err != nil {
		return nil, fmt.Errorf("--html: %w", err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--html: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("--html: %w", err)
	}
	return &htmlReport{path: path, history: report.NewHistory(start, report.DefaultMaxHistoryRows)}, nil
}

// recordInterval writes the CSV files and takes the history's row at the
// end of a CSV interval; r.totals has just been merged.
func (r *standaloneRun) recordInterval(now time.Time) {
	users := int(sum(r.pool.counts()))
	if r.csv != nil {
		if err := r.csv.write(r.totals, r.arrivals, r.exceptions.list(), users, now); err != nil {
			r.logger.Warn("writing the CSV files", "err", err)
		}
	}
	if r.html != nil {
		r.html.history.Add(r.totals, users, now)
	}
}

// writeHTML takes the history's last row (no users are left, as in the
// CSV's last line) and writes the report of res.
func (r *standaloneRun) writeHTML(res *Result, start, end time.Time) {
	if r.html == nil {
		return
	}
	r.html.history.Add(r.totals, 0, end)
	facts := report.Facts{Start: start, Duration: res.Duration, Host: r.Host, Users: res.Users}
	f, err := os.Create(r.html.path)
	if err == nil {
		err = errors.Join(report.WriteHTML(f, facts, res.Stats, r.html.history.Rows(), res.Exceptions), f.Close())
	}
	if err != nil {
		r.logger.Error("writing the --html report", "file", r.html.path, "err", err)
		return
	}
	r.logger.Info("wrote the --html report", "file", r.html.path)
}
