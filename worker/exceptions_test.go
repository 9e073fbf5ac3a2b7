package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// unsentCount matches the count a throttled message carries.
var unsentCount = regexp.MustCompile(`\(and (\d+) more like it in `)

// represented returns how many exceptions the messages stand for: the
// count a message's text carries, else one.
func represented(t *testing.T, msgs []protocol.ExceptionMessage) int64 {
	t.Helper()
	var n int64
	for _, m := range msgs {
		if m.Traceback == throttledTraceback {
			var k int64
			if _, err := fmt.Sscanf(m.Msg, "%d exceptions", &k); err != nil {
				t.Fatalf("message %q: %v", m.Msg, err)
			}
			n += k
			continue
		}
		if sub := unsentCount.FindStringSubmatch(m.Msg); sub != nil {
			k, _ := strconv.ParseInt(sub[1], 10, 64)
			n += k
		} else {
			n++
		}
	}
	return n
}

// TestExceptionThrottle drives the throttle with made-up times: each
// traceback is sent once per window, the rest are counted into one message
// at the window's end, tracebacks beyond the limit are counted together,
// and the messages always stand for every exception.
func TestExceptionThrottle(t *testing.T) {
	base := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	th := newExceptionThrottle(time.Second, 1, 3)
	var msgs []protocol.ExceptionMessage
	add := func(msg, tb string, at time.Duration) bool {
		out, _, held := th.add(msg, tb, base.Add(at))
		msgs = append(msgs, out...)
		return held
	}
	// 28,000 exceptions of one traceback in the first second: one message
	// at once, the rest held.
	for i := range 28000 {
		if held := add("panic: boom", "tb-a", time.Duration(i)*time.Microsecond*35); held != (i > 0) {
			t.Fatalf("exception %d: held %v", i, held)
		}
	}
	if len(msgs) != 1 || msgs[0] != (protocol.ExceptionMessage{Msg: "panic: boom", Traceback: "tb-a"}) {
		t.Fatalf("messages after the first window's exceptions: %+v", msgs)
	}
	// Five more tracebacks in the same window: two sent, three counted
	// together.
	for i, tb := range []string{"tb-b", "tb-c", "tb-d", "tb-e", "tb-d"} {
		add("err "+tb, tb, 990*time.Millisecond+time.Duration(i))
	}
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3 (tracebacks a, b, c): %+v", len(msgs), msgs)
	}
	if out, counted := th.flush(base.Add(999 * time.Millisecond)); out != nil || counted != 0 {
		t.Fatalf("flush before the window's end sent %+v", out)
	}
	out, counted := th.flush(base.Add(time.Second))
	msgs = append(msgs, out...)
	if counted != 28002 {
		t.Errorf("the window's end counts %d exceptions, want 28002", counted)
	}
	want := []protocol.ExceptionMessage{
		{Msg: "panic: boom (and 27999 more like it in 1s, not sent one by one)", Traceback: "tb-a"},
		{Msg: "3 exceptions of 2 other tracebacks in 1s, not sent one by one (more than 3 tracebacks); the latest: err tb-d", Traceback: throttledTraceback},
	}
	if got := msgs[3:]; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("window end messages:\n%+v\nwant\n%+v", got, want)
	}
	if n := represented(t, msgs); n != 28005 {
		t.Errorf("messages stand for %d exceptions, want 28005", n)
	}
	// A window opens at the next exception; an exception after its end
	// flushes it first.
	msgs = msgs[:0]
	add("panic: boom", "tb-a", 5*time.Second)
	add("panic: boom", "tb-a", 5*time.Second+time.Millisecond)
	add("panic: boom", "tb-a", 6*time.Second)
	if len(msgs) != 3 || msgs[1].Msg != "panic: boom (and 1 more like it in 1s, not sent one by one)" || msgs[2].Msg != "panic: boom" {
		t.Errorf("messages over two windows: %+v", msgs)
	}
}

// TestExceptionThrottleBurst checks that a window sends the first burst
// exceptions of a traceback one by one, so that the master's count stays
// exact at low rates.
func TestExceptionThrottleBurst(t *testing.T) {
	base := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	th := newExceptionThrottle(time.Second, 3, 10)
	var msgs []protocol.ExceptionMessage
	for i := range 5 {
		out, _, held := th.add(fmt.Sprint("boom ", i), "tb", base.Add(time.Duration(i)*time.Millisecond))
		msgs = append(msgs, out...)
		if held != (i >= 3) {
			t.Errorf("exception %d: held %v", i, held)
		}
	}
	out, counted := th.flush(base.Add(time.Second))
	msgs = append(msgs, out...)
	want := []string{"boom 0", "boom 1", "boom 2", "boom 4 (and 2 more like it in 1s, not sent one by one)"}
	if len(msgs) != len(want) || counted != 2 {
		t.Fatalf("messages %+v counting %d, want %q counting 2", msgs, counted, want)
	}
	for i, m := range msgs {
		if m.Msg != want[i] || m.Traceback != "tb" {
			t.Errorf("message %d: %+v, want %q", i, m, want[i])
		}
	}
}

// TestLogLimiterCounts checks that the limiter lets one line a key through
// per interval and counts the ones it held back.
func TestLogLimiterCounts(t *testing.T) {
	base := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	l := newLogLimiter(time.Second)
	steps := []struct {
		key     string
		at      time.Duration
		ok      bool
		skipped int64
	}{
		{"a", 0, true, 0},
		{"a", 100 * time.Millisecond, false, 0},
		{"b", 200 * time.Millisecond, true, 0},
		{"a", 999 * time.Millisecond, false, 0},
		{"a", time.Second, true, 2},
		{"a", 1500 * time.Millisecond, false, 0},
		{"a", 3 * time.Second, true, 1},
		{"b", 3 * time.Second, true, 0},
	}
	for i, s := range steps {
		ok, skipped := l.allowAt(s.key, base.Add(s.at))
		if ok != s.ok || skipped != s.skipped {
			t.Errorf("step %d (%s at %s): %v, %d; want %v, %d", i, s.key, s.at, ok, skipped, s.ok, s.skipped)
		}
	}
}

// TestWorkerExceptionsThrottled runs 10 users that panic with no wait, as
// a worker's pool does, until they have raised 2,000 exceptions: the
// master gets a few messages, not one per exception (it got 28,034 in a
// second before the throttle), and they stand for every exception.
func TestWorkerExceptionsThrottled(t *testing.T) {
	const want = 2000
	var mu sync.Mutex
	var msgs []protocol.ExceptionMessage
	logged := &countLog{}
	sender := newExceptionSender(func(m protocol.ExceptionMessage) {
		mu.Lock()
		defer mu.Unlock()
		msgs = append(msgs, m)
	}, slog.New(logged))
	var raised atomic.Int64
	enough := make(chan struct{})
	class := Class("Panicky", func() *funcUser {
		return &funcUser{tasks: func(*funcUser) []Task {
			return []Task{{Name: "boom", Run: func(context.Context) error {
				if raised.Add(1) == want {
					close(enough)
				}
				panic("boom")
			}}}
		}}
	})
	byName, err := validateClasses([]*UserClass{class})
	if err != nil {
		t.Fatal(err)
	}
	var reported atomic.Int64 // a panic raised as the user is cancelled is not reported
	p := newPool(byName, stats.NewCollector(), slog.New(slog.NewTextHandler(io.Discard, nil)), func(msg, traceback string) {
		reported.Add(1)
		sender.exception(msg, traceback)
	})
	start := time.Now()
	p.setTarget(context.Background(), map[string]int64{"Panicky": 10})
	waitFor(t, enough, fmt.Sprintf("%d exceptions", want))
	p.stopAllWithin(context.Background(), 0)
	waitPool(t, p)
	elapsed := time.Since(start)
	sender.close()
	mu.Lock()
	defer mu.Unlock()
	// One traceback: at most exceptionBurst+1 messages a window (the first
	// exceptions and the count), and a window opens at most once per
	// exceptionWindow.
	if limit := (exceptionBurst + 1) * (int(elapsed/exceptionWindow) + 2); len(msgs) > limit {
		t.Errorf("%d messages for %d exceptions in %s, want at most %d", len(msgs), raised.Load(), elapsed, limit)
	}
	if n := represented(t, msgs); n != reported.Load() {
		t.Errorf("the messages stand for %d exceptions, the pool reported %d", n, reported.Load())
	}
	// What a master counts (a message, one) and the worker's log give the
	// true count.
	logged.mu.Lock()
	defer logged.mu.Unlock()
	if n := int64(len(msgs)) - logged.countMsgs + logged.counted; n != reported.Load() {
		t.Errorf("%d messages - %d count messages + %d counted (the log) = %d, want the %d exceptions reported",
			len(msgs), logged.countMsgs, logged.counted, n, reported.Load())
	}
	t.Logf("%d exceptions in %s: %d messages", raised.Load(), elapsed.Round(time.Millisecond), len(msgs))
}

// TestExceptionLogCap adds exceptions of more distinct tracebacks than a
// standalone run keeps: the rest are counted in one row, and every
// exception is counted.
func TestExceptionLogCap(t *testing.T) {
	var l exceptionLog
	const distinct = maxExceptionRows + 500
	for i := range distinct {
		for range 2 {
			l.add(fmt.Sprint("error ", i), fmt.Sprint("Class.task: error ", i))
		}
	}
	rows := l.list()
	var total int64
	for _, r := range rows {
		total += r.Count
	}
	if len(rows) != maxExceptionRows+1 || total != 2*distinct {
		t.Errorf("%d rows counting %d, want %d rows counting %d", len(rows), total, maxExceptionRows+1, 2*distinct)
	}
	if last := rows[len(rows)-1]; last.Traceback != otherExceptions || last.Count != 2*500 {
		t.Errorf("last row %+v, want %s counting 1000", last, otherExceptions)
	}
}

// TestExceptionTextsBounded sends an exception with a huge message and
// traceback: the message sent is cut to the bounds, at a character
// boundary, and says so.
func TestExceptionTextsBounded(t *testing.T) {
	var got []protocol.ExceptionMessage
	sender := newExceptionSender(func(m protocol.ExceptionMessage) { got = append(got, m) }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	huge := strings.Repeat("é", 5<<20) // 10 MB, two bytes a character
	sender.exception("panic: "+huge, "panic in A.t\n"+huge)
	sender.close()
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	m := got[0]
	if len(m.Msg) > maxExceptionMsg || len(m.Traceback) > maxExceptionTraceback ||
		!strings.HasSuffix(m.Msg, "[truncated]") || !utf8.ValidString(m.Msg) || !utf8.ValidString(m.Traceback) {
		t.Errorf("message of %d bytes, traceback of %d; want at most %d and %d, valid UTF-8, marked as cut",
			len(m.Msg), len(m.Traceback), maxExceptionMsg, maxExceptionTraceback)
	}
}

// countLog is a slog.Handler that sums the counted and count_messages
// attributes of the records.
type countLog struct {
	mu                 sync.Mutex
	counted, countMsgs int64
}

func (l *countLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *countLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *countLog) WithGroup(string) slog.Handler            { return l }
func (l *countLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "counted":
			l.counted += a.Value.Int64()
		case "count_messages":
			l.countMsgs += a.Value.Int64()
		}
		return true
	})
	return nil
}

// TestExceptionLogStableTracebacks: a standalone run groups the panics of
// one place as a worker does, whatever their goroutine, argument values
// and panic value; the message kept is the first's, the texts bounded.
func TestExceptionLogStableTracebacks(t *testing.T) {
	frame := func(goroutine, creator int, arg string) string {
		return fmt.Sprintf("goroutine %d [running]:\nruntime/debug.Stack()\n\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e\n"+
			"main.explode(%s)\n\t/src/main.go:50 +0x1d\n"+
			"created by worker.(*pool).startLocked in goroutine %d\n\t/src/pool.go:190 +0x2c5", goroutine, arg, creator)
	}
	var l exceptionLog
	l.add("panic: run 1", "panic in Panicky.explode: run 1\n"+frame(41, 7, "0xc000123450"))
	l.add("panic: run 2", "panic in Panicky.explode: run 2\n"+frame(977, 12, "0xc0009abcd0"))
	l.add("panic: "+strings.Repeat("x", 1<<20), "panic in Panicky.explode: "+strings.Repeat("x", 1<<20)+"\n"+frame(5, 1, "0xc000000008"))
	l.add("panic: elsewhere", "panic in Panicky.other: elsewhere\n"+frame(41, 7, "0xc000123450"))
	rows := l.list()
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2 (explode, other): %+v", len(rows), rows)
	}
	if r := rows[0]; r.Count != 3 || r.Message != "panic: run 1" || !strings.HasPrefix(r.Traceback, "panic in Panicky.explode\n") ||
		!strings.Contains(r.Traceback, "main.explode(...)") || strings.Contains(r.Traceback, "goroutine") {
		t.Errorf("first row %+v, want 3 exceptions of explode, the first message, a traceback without goroutines or values", r)
	}
	if r := rows[1]; r.Count != 1 || !strings.HasPrefix(r.Traceback, "panic in Panicky.other\n") {
		t.Errorf("second row %+v, want the one panic of other", r)
	}
	l.add("panic: "+strings.Repeat("y", 1<<20), "Panicky.explode: "+strings.Repeat("y", 1<<20))
	if r := l.list()[2]; len(r.Message) > maxExceptionMsg || len(r.Traceback) > maxExceptionTraceback {
		t.Errorf("a 1 MB exception kept a message of %d bytes and a traceback of %d, bounds %d and %d",
			len(r.Message), len(r.Traceback), maxExceptionMsg, maxExceptionTraceback)
	}
}

// panickyUser panics in its task, from a frame whose argument is a new
// pointer each time, until the class has panicked panickyRuns times; then
// it stops.
type panickyUser struct{ raised *atomic.Int64 }

const panickyRuns = 300

func (u panickyUser) Tasks() []Task {
	return []Task{{Name: "explode", Run: func(context.Context) error {
		if n := u.raised.Add(1); n <= panickyRuns {
			explode(&n)
		}
		return ErrStopUser
	}}}
}

//go:noinline
func explode(n *int64) { panic(fmt.Sprintf("run %d", *n)) }

// TestStandaloneGroupsPanics runs 8 users that panic at one place 300
// times in all, on 8 goroutines with a new argument each time: the result
// has one exception row that counts the 300.
func TestStandaloneGroupsPanics(t *testing.T) {
	var raised atomic.Int64
	s := &Standalone{
		Users: 8, Iterations: 100_000, RunTime: time.Minute, // the users stop themselves first
		Classes: []*UserClass{Class("Panicky", func() panickyUser { return panickyUser{raised: &raised} })},
		Output:  io.Discard, OnlySummary: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Exceptions) != 1 {
		t.Fatalf("%d exception rows, want 1:\n%+v", len(res.Exceptions), res.Exceptions)
	}
	if r := res.Exceptions[0]; r.Count != panickyRuns || !strings.HasPrefix(r.Traceback, "panic in Panicky.explode\n") || !strings.HasPrefix(r.Message, "panic: run ") {
		t.Errorf("row %+v, want %d panics of Panicky.explode", r, panickyRuns)
	}
	t.Logf("%d panics in one row; traceback:\n%s", res.Exceptions[0].Count, res.Exceptions[0].Traceback)
}
