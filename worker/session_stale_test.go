package worker

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// gateConn is a fake transport that remembers which connection each sent
// message went out on, and can hold the worker inside one Send, standing
// in for a loop that stalls while the transport reconnects.
type gateConn struct {
	mu       sync.Mutex
	gen      int
	sent     []sentMessage
	gateType string        // the next Send of this type blocks
	gated    chan struct{} // closed when the gated Send starts
	release  chan struct{} // closing it lets the gated Send finish
	notify   chan string   // every sent type, for the test to wait on
	recv     chan []byte
	events   chan protocol.Event
}

type sentMessage struct {
	gen int
	typ string
}

func newGateConn() *gateConn {
	return &gateConn{
		gen: 1, gated: make(chan struct{}), release: make(chan struct{}), notify: make(chan string, 256),
		recv: make(chan []byte, 16), events: make(chan protocol.Event, 16),
	}
}

func (c *gateConn) Send(body []byte) error {
	env, err := protocol.Decode(body)
	if err != nil {
		return err
	}
	typ := env.Message.Type()
	c.mu.Lock()
	gen := c.gen // the connection the message is handed to
	gate := typ == c.gateType
	if gate {
		c.gateType = ""
	}
	c.mu.Unlock()
	if gate {
		close(c.gated)
		<-c.release
	}
	c.mu.Lock()
	c.sent = append(c.sent, sentMessage{gen, typ})
	c.mu.Unlock()
	select {
	case c.notify <- typ:
	default:
	}
	return nil
}
func (c *gateConn) Recv() <-chan []byte           { return c.recv }
func (c *gateConn) Events() <-chan protocol.Event { return c.events }
func (c *gateConn) Reset()                        {}
func (c *gateConn) Flush(context.Context) error   { return nil }
func (c *gateConn) Close() error                  { return nil }

func (c *gateConn) waitSent(t *testing.T, typ string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case got := <-c.notify:
			if got == typ {
				return
			}
		case <-timeout:
			t.Fatalf("the worker sent no %s", typ)
		}
	}
}

// TestSessionStaleSpawnAfterReconnect: a spawn that arrived on the old
// connection is still queued when the loop, stalled past the transport's
// reconnect, reads it. It must not be taken for the new master's: a
// spawning from a worker a 2.12 master does not know kills its receive
// loop (docs/protocol.md, §7 item 6). Before the fix, about half the
// rounds sent spawning on the new connection before client_ready.
func TestSessionStaleSpawnAfterReconnect(t *testing.T) {
	const node = "testhost_0123456789abcdef0123456789abcdef"
	encode := func(m protocol.Message) []byte {
		b, err := protocol.Encode(node, m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for round := range 20 {
		c := newGateConn()
		classes, err := validateClasses([]*UserClass{Class("U", func() *idleUser { return &idleUser{} })})
		if err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		collector := stats.NewCollector()
		s := &session{conn: c, nodeID: node, collector: collector, logger: logger, noMasterTimeout: time.Minute}
		s.pool = newPool(classes, collector, logger, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.run(ctx); close(done) }()

		c.events <- protocol.Event{Kind: protocol.Connected}
		c.waitSent(t, "client_ready")
		c.recv <- encode(protocol.AckMessage{HasIndex: true})
		c.mu.Lock()
		c.gateType = "spawning"
		c.mu.Unlock()
		now := time.Now()
		c.recv <- encode(protocol.SpawnMessage{Timestamp: now, UserClassesCount: map[string]int64{"U": 1}})
		<-c.gated // the loop is inside Send(spawning) for the first spawn
		// The old master sends another spawn, then dies; the transport
		// reconnects to a new one while the loop is still stalled.
		c.recv <- encode(protocol.SpawnMessage{Timestamp: now.Add(time.Second), UserClassesCount: map[string]int64{"U": 2}})
		c.events <- protocol.Event{Kind: protocol.Disconnected}
		c.events <- protocol.Event{Kind: protocol.Connected}
		c.mu.Lock()
		c.gen = 2
		c.mu.Unlock()
		close(c.release)
		c.waitSent(t, "client_ready") // registering with the new master
		cancel()
		<-done

		c.mu.Lock()
		for _, m := range c.sent {
			if m.gen != 2 {
				continue
			}
			if m.typ == "client_ready" {
				break
			}
			if m.typ == "spawning" || m.typ == "spawning_complete" {
				t.Errorf("round %d: %s sent to the new master before client_ready: %v", round, m.typ, c.sent)
				break
			}
		}
		c.mu.Unlock()
	}
}

// TestSessionFrozenRegistersAgain: after the process was frozen longer than
// a master keeps a silent worker, the worker registers again instead of
// trusting an old registration.
func TestSessionFrozenRegistersAgain(t *testing.T) {
	for _, tc := range []struct {
		name   string
		late   time.Duration
		readys int
	}{
		{"on time", time.Second, 0},
		{"a little late", 5 * time.Second, 0},
		{"frozen", 40 * time.Second, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, m := simulateSession(t, nil, Class("U", func() *idleUser { return &idleUser{} }))
			m.expect("client_ready")
			m.send(protocol.AckMessage{Index: 0, HasIndex: true})
			h.advanceTo(h.s.nextDeadline()) // the loop's timer just fired
			h.sent()
			h.freeze(tc.late)
			readys := 0
			for _, typ := range h.sent() {
				if typ == "client_ready" {
					readys++
				}
			}
			if readys != tc.readys || h.s.registered != (tc.readys == 0) {
				t.Errorf("tick %s late: %d client_ready sent, registered %v; want %d", tc.late, readys, h.s.registered, tc.readys)
			}
		})
	}
}
