package stats

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// newConsoleTable returns an ASCII table with Locust-like alignment: the
// first len(left) columns left-aligned, the others right-aligned.
func newConsoleTable(w io.Writer, columns, left int) *tablewriter.Table {
	align := make([]tw.Align, columns)
	for i := range align {
		align[i] = tw.AlignRight
		if i < left {
			align[i] = tw.AlignLeft
		}
	}
	cell := tw.CellAlignment{PerColumn: align}
	return tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithFooterAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignmentConfig(cell),
		tablewriter.WithRowAlignmentConfig(cell),
		tablewriter.WithFooterAlignmentConfig(cell),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithTrimSpace(tw.Off),
	)
}

// ms formats d as whole milliseconds, truncated like Locust's "%d".
func consoleMillis(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// WriteStatsTable writes the statistics table `locust --headless` prints:
// one line per row sorted by (Name, Method) and the Aggregated row, with
// request and failure counts, response times in milliseconds (average,
// minimum, maximum, median), the average response size in bytes, and
// requests and failures per second. With current the rates are over about
// the last ten seconds, as in Locust's live table; otherwise over the whole
// test, as in its final summary.
func WriteStatsTable(w io.Writer, t *Totals, current bool) error {
	table := newConsoleTable(w, 11, 2)
	table.Header([]string{"Type", "Name", "# reqs", "# fails", "Avg", "Min", "Max", "Med", "Avg size", "req/s", "failures/s"})
	row := func(e Entry) []string {
		rps, fps := t.TotalRPS(e), t.TotalFailPerSec(e)
		if current {
			rps, fps = t.CurrentRPS(e), t.CurrentFailPerSec(e)
		}
		minimum := time.Duration(0)
		if e.NumRequests > 0 {
			minimum = e.MinResponseTime
		}
		return []string{
			e.Method,
			e.Name,
			strconv.FormatInt(e.NumRequests, 10),
			fmt.Sprintf("%d(%.2f%%)", e.NumFailures, e.FailRatio()*100),
			consoleMillis(e.Average()),
			consoleMillis(minimum),
			consoleMillis(e.MaxResponseTime),
			consoleMillis(e.Median()),
			strconv.FormatInt(int64(e.AverageContentLength()), 10),
			fmt.Sprintf("%.2f", rps),
			fmt.Sprintf("%.2f", fps),
		}
	}
	for _, e := range t.Entries() {
		if err := table.Append(row(e)); err != nil {
			return err
		}
	}
	table.Footer(row(t.Total()))
	return table.Render()
}

// WritePercentileTable writes Locust's "Response time percentiles
// (approximated)" table: for every row with requests and for the
// Aggregated row, the response time in milliseconds under which each
// fraction of percentiles (nil means DefaultPercentiles) finished, and the
// request count.
func WritePercentileTable(w io.Writer, t *Totals, percentiles []float64) error {
	if percentiles == nil {
		percentiles = DefaultPercentiles()
	}
	if _, err := fmt.Fprintln(w, "Response time percentiles (approximated)"); err != nil {
		return err
	}
	table := newConsoleTable(w, len(percentiles)+3, 2)
	table.Header(append(append([]string{"Type", "Name"}, percentileLabels(percentiles)...), "# reqs"))
	row := func(e Entry) []string {
		out := []string{e.Method, e.Name}
		for _, p := range percentiles {
			out = append(out, consoleMillis(e.Percentile(p)))
		}
		return append(out, strconv.FormatInt(e.NumRequests, 10))
	}
	for _, e := range t.Entries() {
		if e.NumRequests == 0 {
			continue
		}
		if err := table.Append(row(e)); err != nil {
			return err
		}
	}
	total := t.Total()
	if total.NumRequests > 0 {
		table.Footer(row(total))
	}
	return table.Render()
}

// WriteFailuresTable writes Locust's "Error report": one line per error
// with its occurrences, request type, row name and text, in the order of
// Totals.Errors. It writes nothing when there were no failures.
func WriteFailuresTable(w io.Writer, t *Totals) error {
	errs := t.Errors()
	if len(errs) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "Error report"); err != nil {
		return err
	}
	table := newConsoleTable(w, 4, 0)
	table.Configure(func(c *tablewriter.Config) {
		c.Row.Alignment.PerColumn = []tw.Align{tw.AlignRight, tw.AlignLeft, tw.AlignLeft, tw.AlignLeft}
		c.Header.Alignment.PerColumn = c.Row.Alignment.PerColumn
	})
	table.Header([]string{"# occurrences", "Type", "Name", "Error"})
	for _, e := range errs {
		if err := table.Append([]string{strconv.FormatInt(e.Occurrences, 10), e.Method, e.Name, e.Text}); err != nil {
			return err
		}
	}
	return table.Render()
}

// WriteExceptionsTable writes the exceptions raised in user code outside
// of requests: count, message and the first line of the traceback. It
// writes nothing for no rows.
func WriteExceptionsTable(w io.Writer, rows []ExceptionRow) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := fmt.Fprintln(w, "Exceptions"); err != nil {
		return err
	}
	table := newConsoleTable(w, 3, 0)
	table.Configure(func(c *tablewriter.Config) {
		c.Row.Alignment.PerColumn = []tw.Align{tw.AlignRight, tw.AlignLeft, tw.AlignLeft}
		c.Header.Alignment.PerColumn = c.Row.Alignment.PerColumn
	})
	table.Header([]string{"# occurrences", "Message", "Where"})
	for _, r := range rows {
		where := r.Traceback
		for i, c := range where {
			if c == '\n' {
				where = where[:i]
				break
			}
		}
		if err := table.Append([]string{strconv.FormatInt(r.Count, 10), r.Message, where}); err != nil {
			return err
		}
	}
	return table.Render()
}
