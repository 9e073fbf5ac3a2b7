package worker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/stats"
)

func TestLogStatus(t *testing.T) {
	c := stats.NewCollector()
	now := time.Now()
	c.Clear(now.Add(-3 * time.Second))
	for i := range 30 {
		var err error
		if i%10 == 0 {
			err = errors.New("x")
		}
		c.Record(stats.Sample{Method: "GET", Name: "/", Duration: time.Millisecond, Err: err, At: now})
	}
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	logStatus(logger, "running", map[string]int64{"WebUser": 3, "APIUser": 1}, c.Report(now))
	want := `level=INFO msg=status state=running users=4 classes=APIUser:1,WebUser:3 req/s=10.00 fail/s=1.00` + "\n"
	if got := buf.String(); got != want {
		t.Errorf("status line\n got %s\nwant %s", got, want)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Error("not one line")
	}
}
