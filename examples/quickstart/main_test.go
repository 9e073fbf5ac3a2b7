package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

// TestQuickstart runs the README's first command's program with its
// defaults: a summary in under 30 s, both classes 3:1, no failures, exit 0.
func TestQuickstart(t *testing.T) {
	bin := locusttest.Build(t, ".")
	start := time.Now()
	p := locusttest.Start(t, t.TempDir(), bin)
	if code := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("took %v to the summary, want under 30 s", d)
	}
	out := p.Output.String()
	if !strings.Contains(out, `msg="all users spawned" users="map[Buyer:5 Visitor:15]"`) {
		t.Errorf("20 users at weights 3:1 should be 15 visitors and 5 buyers:\n%s", out)
	}
	_, summary, ok := strings.Cut(out, "Test finished after")
	if !ok {
		t.Fatalf("no summary:\n%s", out)
	}
	for _, row := range []string{"| GET  | /          |", "| POST | /cart      |", "| GET  | /item/[id] |", "|      | Aggregated |"} {
		if !strings.Contains(summary, row) {
			t.Errorf("summary lacks the row %q:\n%s", row, summary)
		}
	}
	if !regexp.MustCompile(`\|      \| Aggregated \| +\d+ \| 0\(0\.00%\) \|`).MatchString(summary) {
		t.Errorf("summary shows failures:\n%s", summary)
	}
	if !strings.Contains(summary, "Response time percentiles (approximated)") {
		t.Errorf("no percentile table:\n%s", summary)
	}
}
