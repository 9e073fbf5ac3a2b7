package worker

// Tests of the pending statistics reports (pending.go): nothing recorded
// is lost when the transport drops its queue, when no master takes reports
// for long, or when a report is too large for one message.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// stallConn is a transport that keeps DialZMQ's contract: bodies are
// queued while the master does not read, written when it reads, and
// dropped (done(false)) when the connection goes away.
type stallConn struct {
	mu      sync.Mutex
	acked   *atomic.Bool // the session's: up means registered here
	up      bool
	stalled bool
	queue   []stalled
	written [][]byte
}

type stalled struct {
	body []byte
	done func(bool)
}

func (c *stallConn) Send(b []byte) error { return c.SendTracked(b, nil) }

func (c *stallConn) SendTracked(b []byte, done func(bool)) error {
	c.mu.Lock()
	if !c.up {
		c.mu.Unlock()
		return protocol.ErrDisconnected
	}
	if c.stalled {
		c.queue = append(c.queue, stalled{b, done})
		c.mu.Unlock()
		return nil
	}
	c.written = append(c.written, b)
	c.mu.Unlock()
	if done != nil {
		done(true)
	}
	return nil
}

// connect brings a connection up, stalled or reading.
func (c *stallConn) connect(stall bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up, c.stalled = true, stall
	c.acked.Store(true)
}

// writeSome writes the n oldest queued bodies, as a master that reads a
// little before it stalls.
func (c *stallConn) writeSome(n int) {
	c.mu.Lock()
	q := c.queue[:n]
	c.queue = c.queue[n:]
	for _, s := range q {
		c.written = append(c.written, s.body)
	}
	c.mu.Unlock()
	for _, s := range q {
		if s.done != nil {
			s.done(true)
		}
	}
}

// teardown drops the connection and its queue.
func (c *stallConn) teardown() {
	c.mu.Lock()
	q := c.queue
	c.queue, c.up = nil, false
	c.acked.Store(false)
	c.mu.Unlock()
	for _, s := range q {
		if s.done != nil {
			s.done(false)
		}
	}
}

// received decodes what the master got: requests in the totals, in the
// rows, and the stats messages.
func (c *stallConn) received(t *testing.T) (total, rows int64, msgs []protocol.StatsMessage) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.written {
		env, err := protocol.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		m := env.Message.(protocol.StatsMessage)
		total += m.Total.NumRequests
		for _, e := range m.Stats {
			rows += e.NumRequests
		}
		msgs = append(msgs, m)
	}
	return total, rows, msgs
}

func (c *stallConn) Recv() <-chan []byte             { return nil }
func (c *stallConn) Events() <-chan protocol.Event   { return nil }
func (c *stallConn) Reset()                          {}
func (c *stallConn) Flush(ctx context.Context) error { return nil }
func (c *stallConn) Close() error                    { return nil }

// reportSession is a session whose reports go to a stallConn; record adds
// n requests to its collector.
func reportSession(t *testing.T) (s *session, c *stallConn, record func(n int)) {
	t.Helper()
	classes, err := validateClasses([]*UserClass{Class("U", func() *idleUser { return &idleUser{} })})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	collector := stats.NewCollector()
	c = &stallConn{}
	s = &session{conn: c, nodeID: "testhost_0123456789abcdef0123456789abcdef", collector: collector,
		logger: logger, limiter: newLogLimiter(badInputLogEvery)}
	s.pool = newPool(classes, collector, logger, nil)
	c.acked = &s.acked
	s.setState(stateReady)
	record = func(n int) {
		for range n {
			collector.Record(stats.Sample{Method: "GET", Name: "/x", Duration: time.Millisecond})
		}
	}
	return s, c, record
}

// TestReportsKeptUntilWritten: reports queued while the master stalls,
// then dropped with the connection, reach the master after the next
// registration; so do those written before the stall and in part of it.
// Before the fix a report left the session once queued, and every one
// dropped at teardown was lost (190 of 208 requests here).
func TestReportsKeptUntilWritten(t *testing.T) {
	s, c, record := reportSession(t)
	want := int64(0)
	step := func(n int) {
		record(n)
		want += int64(n)
		s.reportStats(time.Now())
	}
	c.connect(false)
	step(5)
	c.stall()
	for range 200 {
		step(1)
	}
	c.writeSome(10) // the master read a little before it stalled
	c.teardown()
	step(3) // while disconnected
	c.connect(false)
	step(0) // registered again: the first report after the ack
	total, rows, _ := c.received(t)
	if total != want || rows != want {
		t.Fatalf("the master counted %d requests (%d in rows), want %d", total, rows, want)
	}
	if n := s.countPending(reportUnsent) + s.countPending(reportInFlight); n != 0 {
		t.Errorf("%d reports still pending", n)
	}
}

func (c *stallConn) stall() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stalled = true
}

// TestReportsMergedBeyondLimit: with no master for 450 reports, the
// session keeps at most maxPendingReports of them, merged, and the master
// gets every request once one takes them. Before the fix the oldest 250
// were dropped.
func TestReportsMergedBeyondLimit(t *testing.T) {
	s, c, record := reportSession(t)
	for range 450 {
		record(1)
		s.reportStats(time.Now())
		if n := len(s.pending); n > maxPendingReports {
			t.Fatalf("%d reports kept, want at most %d", n, maxPendingReports)
		}
	}
	c.connect(false)
	s.reportStats(time.Now())
	total, rows, msgs := c.received(t)
	if total != 450 || rows != 450 {
		t.Fatalf("the master counted %d requests (%d in rows), want 450", total, rows)
	}
	if len(msgs) > maxPendingReports+1 {
		t.Errorf("%d messages sent, want at most %d", len(msgs), maxPendingReports+1)
	}
}

// TestLargeReportSplit: a report too large for one message goes out in
// several, each within maxReportBytes and with the user counts, adding up
// to the report. Before the fix it went out as one 7.3 MiB message (and one
// over the transport's queue limit could never be sent).
func TestLargeReportSplit(t *testing.T) {
	s, c, _ := reportSession(t)
	c.connect(false)
	const rows = 15_000
	m := protocol.StatsMessage{
		Errors:           map[string]protocol.StatsError{},
		UserClassesCount: map[string]int64{"U": 3},
		UserCount:        3,
		Total:            protocol.StatsEntry{Name: "Aggregated", NumRequests: rows},
	}
	for i := range rows {
		name := fmt.Sprintf("/%06d/%s", i, strings.Repeat("p", 150))
		m.Stats = append(m.Stats, protocol.StatsEntry{Name: name, Method: "GET", NumRequests: 1,
			ResponseTimes: map[int64]int64{1: 1}, NumReqsPerSec: map[int64]int64{100: 1}})
		if i%3 == 0 {
			m.Errors[fmt.Sprint("e", i)] = protocol.StatsError{Name: name, Method: "GET", Error: "boom", Occurrences: 1}
		}
	}
	s.statsMu.Lock()
	s.queueReportLocked(time.Now(), m)
	s.statsMu.Unlock()
	total, got, msgs := c.received(t)
	if len(msgs) < 2 || total != rows || got != rows {
		t.Fatalf("%d messages with %d requests (%d in rows), want several with %d", len(msgs), total, got, rows)
	}
	errs := 0
	c.mu.Lock()
	for i, b := range c.written {
		t.Logf("message %d: %d bytes", i, len(b))
		if len(b) > maxReportBytes {
			t.Errorf("message %d is %d bytes, over %d", i, len(b), maxReportBytes)
		}
	}
	c.mu.Unlock()
	for _, m := range msgs {
		errs += len(m.Errors)
		if m.UserCount != 3 || m.UserClassesCount["U"] != 3 {
			t.Errorf("a part says %d users (%v), want 3", m.UserCount, m.UserClassesCount)
		}
	}
	if errs != rows/3 {
		t.Errorf("%d error rows arrived, want %d", errs, rows/3)
	}
}

// TestReportsWaitForRegistration: a connection that is up but not yet
// acked gets no report (a master's ROUTER ignores it, and writes to it
// would count as done); the reports go out once the master registers the
// worker. Before the fix they were written at once and lost when the
// master ignored the connection.
func TestReportsWaitForRegistration(t *testing.T) {
	s, c, record := reportSession(t)
	c.connect(false)
	s.acked.Store(false) // connected, client_ready sent, no ack yet
	record(7)
	s.reportStats(time.Now())
	c.mu.Lock()
	early := len(c.written)
	c.mu.Unlock()
	if early != 0 {
		t.Fatalf("%d reports written before the master registered the worker, want 0", early)
	}
	s.acked.Store(true)
	s.reportStats(time.Now())
	if total, _, _ := c.received(t); total != 7 {
		t.Errorf("the master counted %d requests after registering, want 7", total)
	}
}
