package worker

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
)

// TestSessionStopRegistersQuietly: the registration that follows every
// ordinary stop is no reconnection: it logs no "registered with the master
// again" line (which used to claim 2562047h without a master), while a
// real loss of the master still does, with how long it lasted.
func TestSessionStopRegistersQuietly(t *testing.T) {
	logs := newLogRecorder()
	m, _ := startSessionWith(t, func(w *Worker) { w.Logger = slog.New(logs) },
		Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	for i := range 3 {
		m.send(protocol.SpawnMessage{Timestamp: time.Unix(int64(100+i), 0), UserClassesCount: map[string]int64{"A": 2}})
		m.expect("spawning_complete")
		m.send(protocol.StopMessage{})
		m.expect("client_stopped")
		m.expect("client_ready")
		m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	}
	logs.waitFor(t, "heartbeats during the test", 3)
	if n := logs.count("registered with the master again"); n != 0 {
		t.Errorf("%d 'registered with the master again' lines after ordinary stops, want 0", n)
	}

	m.conn.events <- protocol.Event{Kind: protocol.Disconnected}
	m.conn.events <- protocol.Event{Kind: protocol.Connected}
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	logs.waitFor(t, "registered with the master again", 1)
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, line := range logs.lines {
		if strings.Contains(line, "registered with the master again") && strings.Contains(line, "2562047h") {
			t.Errorf("bogus duration: %s", line)
		}
	}
}

func TestLineBudget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var b lineBudget
	passed := 0
	for i := range 200 { // a flood within one period
		if ok, suppressed := b.take(t0.Add(time.Duration(i) * time.Millisecond)); ok {
			passed++
		} else if suppressed != 0 {
			t.Fatalf("a count of suppressed lines within the period: %d", suppressed)
		}
	}
	if passed != badInputLines {
		t.Errorf("%d lines passed in one period, want %d", passed, badInputLines)
	}
	ok, suppressed := b.take(t0.Add(badInputLogEvery))
	if !ok || suppressed != 200-badInputLines {
		t.Errorf("first line of the next period: ok %v, suppressed %d; want true, %d", ok, suppressed, 200-badInputLines)
	}
}

// TestSessionBadInputFlood: a peer whose every message is bad in its own
// way (a distinct unknown type each) gets a bounded number of log lines.
func TestSessionBadInputFlood(t *testing.T) {
	logs := newLogRecorder()
	m, _ := startSessionWith(t, func(w *Worker) { w.Logger = slog.New(logs); w.NodeID = testNode },
		Class("A", func() *idleUser { return &idleUser{} }))
	m.nodeID = testNode
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	for i := range 2000 {
		m.conn.recv <- mpArr(mpStr(fmt.Sprintf("type%d", i)), mpNil, mpStr(testNode))
	}
	m.conn.recv <- mpArr(mpStr("last-one"), mpNil, mpStr(testNode)) // handled after the others
	m.send(protocol.QuitMessage{})
	m.expect("quit")
	if n := logs.count("unknown type"); n > badInputLines {
		t.Errorf("%d log lines for 2,001 messages of distinct unknown types, want at most %d", n, badInputLines)
	}
}
