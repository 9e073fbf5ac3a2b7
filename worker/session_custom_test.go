package worker

import (
	"context"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
)

// TestSessionCustomMessagesWaitForAMaster: a message the worker sends
// while no master takes it (the connection is down, then the master has
// not registered the worker again) is kept, and sent once the master has
// acked the worker; a message from the master reaches its handler, whose
// reply reaches the master.
func TestSessionCustomMessagesWaitForAMaster(t *testing.T) {
	stopped := make(chan error, 1)
	hooks := &Hooks{
		TestStop: func(ctx context.Context) error {
			err := SendMessage(ctx, "bye", "after the stop")
			stopped <- err
			return err
		},
		Messages: map[string]func(context.Context, Message){"ping": func(ctx context.Context, m Message) {
			var n int
			if err := m.Decode(&n); err != nil {
				t.Error(err)
			}
			if err := SendMessage(ctx, "pong", n+1); err != nil {
				t.Error(err)
			}
		}},
	}
	m, _ := startSession(t, Class("A", func() *idleUser { return &idleUser{} }).Hooks(hooks))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	m.send(protocol.CustomMessage{MessageType: "ping", Data: int64(41)})
	if pong := m.expect("pong").(protocol.CustomMessage); pong.Data != int64(42) {
		t.Errorf("pong %v, want 42", pong.Data)
	}
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(1, 0), UserClassesCount: map[string]int64{"A": 1}, ParsedOptions: map[string]any{}})
	m.expect("spawning_complete")

	// The connection goes down; the master's stop (sent before) runs the
	// TestStop hook, whose message cannot go out.
	m.conn.down.Store(true)
	m.send(protocol.StopMessage{})
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("SendMessage without a master: %v, want it kept", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the TestStop hook did not run")
	}
	m.announce(protocol.Event{Kind: protocol.Disconnected, Err: protocol.ErrDisconnected})
	m.conn.down.Store(false)
	m.announce(protocol.Event{Kind: protocol.Connected})
	// The message arrives once: after the new registration is acked, or
	// (when the stop job's last report came after the connection was
	// back, before the worker noticed it had gone) to the master that
	// still had the worker registered.
	byes, acked := 0, false
	deadline := time.Now().Add(10 * time.Second)
	for !(acked && byes > 0) {
		body, ok := m.nextSent(deadline)
		if !ok {
			t.Fatalf("within 10 s: acked %v, %d bye messages", acked, byes)
		}
		env, err := protocol.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		switch msg := env.Message.(type) {
		case protocol.ClientReadyMessage:
			m.send(protocol.AckMessage{Index: 0, HasIndex: true})
			acked = true
		case protocol.CustomMessage:
			if msg.MessageType == "bye" && msg.Data == "after the stop" {
				byes++
			}
		}
	}
	// Anything sent after the bye has gone out once the pong comes back.
	// (The worker may register twice: once when its stop job ends, once
	// when the connection is back; every client_ready gets its ack.)
	m.send(protocol.CustomMessage{MessageType: "ping", Data: int64(1)})
	for pong := false; !pong; {
		body, ok := m.nextSent(time.Now().Add(10 * time.Second))
		if !ok {
			t.Fatal("no pong within 10 s")
		}
		env, err := protocol.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		switch msg := env.Message.(type) {
		case protocol.ClientReadyMessage:
			m.send(protocol.AckMessage{Index: 0, HasIndex: true})
		case protocol.CustomMessage:
			switch msg.MessageType {
			case "bye":
				byes++
			case "pong":
				pong = true
			}
		}
	}
	if byes != 1 {
		t.Errorf("the master got %d bye messages, want 1", byes)
	}
}

// TestOutboxWaitsForTheAck: custom messages go only to a master that
// acked the worker, stay while the transport refuses them, and leave
// once written.
func TestOutboxWaitsForTheAck(t *testing.T) {
	conn := newFakeConn()
	s := &session{conn: conn, nodeID: "n", logger: discardLogger()}
	if err := s.sendCustom(protocol.CustomMessage{MessageType: "early", Data: int64(1)}); err != nil {
		t.Fatal(err)
	}
	if len(conn.sent) != 0 {
		t.Fatal("sent before the master acked the worker")
	}
	conn.down.Store(true)
	s.acked.Store(true)
	s.statsMu.Lock()
	s.flushOutboxLocked()
	s.statsMu.Unlock()
	if len(conn.sent) != 0 || len(s.outbox) != 1 {
		t.Fatalf("transport down: %d sent, %d kept; want 0 and 1", len(conn.sent), len(s.outbox))
	}
	conn.down.Store(false)
	s.statsMu.Lock()
	s.flushOutboxLocked()
	s.flushOutboxLocked() // a second flush sends nothing again
	s.statsMu.Unlock()
	if len(conn.sent) != 1 {
		t.Fatalf("%d sent, want 1", len(conn.sent))
	}
	if env, err := protocol.Decode(<-conn.sent); err != nil || env.Message.Type() != "early" {
		t.Errorf("sent %v, %v", env.Message, err)
	}
	if err := s.sendCustom(protocol.CustomMessage{MessageType: "bad", Data: map[string]any{"__datetime__": "x"}}); err == nil {
		t.Error("a payload the master cannot decode was accepted")
	}
}
