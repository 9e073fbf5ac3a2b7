package worker

// This file owns the one-line status a worker logs at each report, in
// place of the standalone live table.

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/golocust/golocust/stats"
)

// logStatus logs the one-line status a worker prints at each report
// instead of the standalone live table: its state, the users it runs (in
// total and per class), and the requests and failures per second of the
// report window r covers (from r.Total.StartTime, the previous report, to
// r.Time). The session's reporter calls it with each report it sends
// (session.reportStats).
func logStatus(logger *slog.Logger, state string, counts map[string]int64, r stats.Report) {
	logger.Info("status", statusAttrs(state, counts, r, r.Time.Sub(r.Total.StartTime))...)
}

// statusAttrs returns logStatus's attributes: state, users, classes,
// req/s, fail/s.
func statusAttrs(state string, counts map[string]int64, r stats.Report, window time.Duration) []any {
	var users int64
	parts := make([]string, 0, len(counts))
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		users += counts[name]
		parts = append(parts, fmt.Sprintf("%s:%d", name, counts[name]))
	}
	rps, fps := 0.0, 0.0
	if secs := window.Seconds(); secs > 0 {
		rps = float64(r.Total.NumRequests) / secs
		fps = float64(r.Total.NumFailures) / secs
	}
	return []any{
		"state", state,
		"users", users,
		"classes", strings.Join(parts, ","),
		"req/s", fmt.Sprintf("%.2f", rps),
		"fail/s", fmt.Sprintf("%.2f", fps),
	}
}
