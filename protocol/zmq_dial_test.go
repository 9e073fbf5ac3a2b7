package protocol

// Tests of dialing: failed dials say why at warning level, rate-limited,
// and a peer that trickles its greeting cannot hold a dial past its
// deadline.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineLog is a slog.Handler keeping "LEVEL message err" lines.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *lineLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lineLog) WithGroup(string) slog.Handler            { return l }
func (l *lineLog) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		line += fmt.Sprintf(" %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	return nil
}

func (l *lineLog) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// waitLine waits until a line containing s was logged.
func (l *lineLog) waitLine(t *testing.T, s string) string {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for time.Now().Before(deadline) {
		if m := l.matching(s); len(m) > 0 {
			return m[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line with %q", s)
	return ""
}

// TestZMQDialFailureLogged: with nothing listening, dozens of failed dials
// make one warning that says why. Before, they were logged at debug level
// only, so "still waiting for the master" never said why.
func TestZMQDialFailureLogged(t *testing.T) {
	var logs lineLog
	opts := fastOptions("tcp://" + freeAddr(t))
	opts.Logger = slog.New(&logs)
	c := dial(t, opts)
	line := logs.waitLine(t, "connection refused")
	if !strings.HasPrefix(line, "WARN protocol: cannot connect to the master") {
		t.Errorf("dial failure logged as %q, want a warning", line)
	}
	time.Sleep(500 * time.Millisecond) // about 25 more attempts
	closeConn(t, c)
	if n := len(logs.matching("connection refused")); n != 1 {
		t.Errorf("%d lines about the same failure within 0.5 s, want 1", n)
	}
}

// TestZMQTrickledGreeting: a peer that sends its greeting one byte every
// 50 ms cannot hold the dial past SendTimeout: the Conn gives up, says
// why, and dials again.
func TestZMQTrickledGreeting(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
			go func() {
				for _, b := range greeting() {
					if _, err := c.Write([]byte{b}); err != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}
	}()
	var logs lineLog
	opts := fastOptions("tcp://" + l.Addr().String())
	opts.SendTimeout = 300 * time.Millisecond
	opts.Logger = slog.New(&logs)
	c := dial(t, opts)
	for range 2 { // a second connection: the first attempt was given up
		select {
		case conn := <-accepted:
			defer conn.Close()
		case <-time.After(eventTimeout):
			t.Fatal("no second connection attempt")
		}
	}
	logs.waitLine(t, "no ZMTP handshake within 300ms")
	select {
	case ev := <-c.Events():
		t.Errorf("event %v from a peer that never finished its greeting", ev.Kind)
	default:
	}
	closeConn(t, c)
	l.Close()
	for conn := range accepted {
		conn.Close()
	}
}

// TestZMQInboundBounded: bodies the consumer has not taken are bounded by
// QueueBytes, all of them; the rest are dropped with a few warnings.
// Before, the Recv channel held 16 more bodies beyond the bound.
func TestZMQInboundBounded(t *testing.T) {
	m := newFakeMaster(t, "127.0.0.1:0")
	defer m.close()
	var logs lineLog
	opts := fastOptions(m.endpoint())
	opts.QueueBytes = 1000
	opts.Logger = slog.New(&logs)
	c := dial(t, opts)
	defer closeConn(t, c)
	waitEvent(t, c, Connected)
	if err := c.Send([]byte("hello")); err != nil { // the master learns the identity
		t.Fatal(err)
	}
	m.expect(opts.Identity, []byte("hello"))
	for _, size := range []int{100, 0} { // an empty body is not free either
		t.Run(fmt.Sprintf("bodies of %d bytes", size), func(t *testing.T) {
			inboundBounded(t, c, m, opts, &logs, size)
		})
	}
}

// inboundBounded sends 50 bodies of size bytes that nobody takes and
// checks that only what fits the bound waits.
func inboundBounded(t *testing.T, c Conn, m *fakeMaster, opts DialOptions, logs *lineLog, size int) {
	body := []byte(strings.Repeat("i", size))
	fits := opts.QueueBytes / inboundCost(body)
	zc := c.(*zmqConn)
	zc.mu.Lock()
	zc.inDropped = 0
	zc.mu.Unlock()
	for range 50 {
		m.send(opts.Identity, body)
	}
	deadline := time.Now().Add(eventTimeout)
	for dropped := 0; dropped < 50-fits; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bodies dropped, want %d", dropped, 50-fits)
		}
		zc.mu.Lock()
		dropped = zc.inDropped
		zc.mu.Unlock()
	}
	got := 0
	for {
		select {
		case <-c.Recv():
			got++
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	if got != fits {
		t.Errorf("%d bodies of %d bytes waited with a %d-byte bound, want %d", got, size, opts.QueueBytes, fits)
	}
	if n := len(logs.matching("inbound queue full")); n > 14 {
		t.Errorf("%d warnings for %d drops", n, 50-fits)
	}
}
