package worker

// This file owns the four CSV files of --csv as a standalone run writes
// them (standalone.go), and the open model's fifth, PREFIX_arrivals.csv;
// their contents come from the stats package.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/golocust/golocust/stats"
)

// csvFiles are the four files of --csv, kept as Locust 2.12.1's
// StatsCSVFileWriter keeps them: the stats, failures and exceptions files
// rewritten on each write, the history file appended to.
type csvFiles struct {
	prefix  string
	history *os.File
	writer  *stats.StatsHistoryCSV
}

func createCSVFiles(prefix string, fullHistory bool) (*csvFiles, error) {
	f, err := os.Create(prefix + "_stats_history.csv")
	if err != nil {
		return nil, fmt.Errorf("--csv: %w", err)
	}
	c := &csvFiles{prefix: prefix, history: f, writer: stats.NewStatsHistoryCSV(f, nil, fullHistory)}
	if err := c.writer.WriteHeader(); err != nil {
		f.Close()
		return nil, fmt.Errorf("--csv: %w", err)
	}
	// Create the other files at once, with their headers, as Locust does.
	if err := c.rewrite(stats.NewTotals(), nil); err != nil {
		f.Close()
		return nil, err
	}
	return c, nil
}

// write rewrites the stats, failures and exceptions files and appends the
// history lines for now.
// With the open model, arrivals (else nil) are rewritten to
// PREFIX_arrivals.csv in the stats file's form.
func (c *csvFiles) write(t, arrivals *stats.Totals, exceptions []stats.ExceptionRow, userCount int, now time.Time) error {
	err := errors.Join(c.rewrite(t, exceptions), c.writer.WriteRows(t, userCount, now))
	if arrivals != nil {
		var buf bytes.Buffer
		err = errors.Join(err, stats.WriteStatsCSV(&buf, arrivals, nil), writeFile(c.prefix+"_arrivals.csv", buf.Bytes()))
	}
	return err
}

func (c *csvFiles) rewrite(t *stats.Totals, exceptions []stats.ExceptionRow) error {
	var st, fa, ex bytes.Buffer
	if err := stats.WriteStatsCSV(&st, t, nil); err != nil {
		return err
	}
	if err := stats.WriteFailuresCSV(&fa, t); err != nil {
		return err
	}
	if err := stats.WriteExceptionsCSV(&ex, exceptions); err != nil {
		return err
	}
	return errors.Join(
		writeFile(c.prefix+"_stats.csv", st.Bytes()),
		writeFile(c.prefix+"_failures.csv", fa.Bytes()),
		writeFile(c.prefix+"_exceptions.csv", ex.Bytes()),
	)
}

func writeFile(name string, data []byte) error {
	if err := os.WriteFile(name, data, 0o644); err != nil {
		return fmt.Errorf("--csv: %w", err)
	}
	return nil
}

func (c *csvFiles) close() error { return c.history.Close() }
