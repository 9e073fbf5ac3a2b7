package worker

// Tests of the session's state machine (session_events.go,
// session_messages.go, session_jobs.go) as tables of events at made-up
// times, played by sessionSim (session_sim_test.go): no test waits on the
// clock.

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
)

// simStep is one row of a session's table: at a made-up time since the
// session started (and connected), what happens, and what the worker
// sends in answer.
type simStep struct {
	at time.Duration
	// frozen says the process was stopped until at: nothing fired since
	// the previous row.
	frozen bool
	// in is what happens at at: a protocol.Message from the master, a
	// protocol.EventKind from the transport, or nil: only time passes.
	in any
	// sent are the types of the messages the worker sends from the
	// previous row to this one, heartbeats and statistics left out, then
	// "reset" for each time it reset its connection.
	sent []string
	// state is the state heartbeats report after the row, if not "".
	state string
}

func TestSessionSteps(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name     string
		noMaster time.Duration // Worker.NoMasterTimeout
		steps    []simStep
	}{
		{"a test from start to stop", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}, state: stateReady},
			{at: 0, in: simSpawn(100, 2)}, // before the ack: ignored
			{at: 10 * ms, in: simAck},
			{at: 500 * ms, in: simSpawn(101, 2), sent: []string{"spawning", "spawning_complete"}, state: stateRunning},
			{at: 600 * ms, in: simSpawn(101, 5), sent: []string{"spawning"}, state: stateRunning}, // stale
			{at: 2 * time.Second, in: protocol.StopMessage{}, sent: []string{"client_stopped", "client_ready"}, state: stateReady},
			{at: 2 * time.Second, in: protocol.SpawnMessage{Timestamp: time.Unix(102, 0)}}, // before the new ack
		}},
		{"no ack: connect again", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: ackTimeout - ms},
			{at: ackTimeout, sent: []string{"reset"}},
			{at: ackTimeout, in: protocol.Disconnected},
			{at: 5500 * ms, in: protocol.Connected, sent: []string{"client_ready"}},
			{at: 5500*ms + ackTimeout - ms},
			{at: 5500*ms + ackTimeout, sent: []string{"reset"}},
		}},
		{"the master's heartbeats stop", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 1 * time.Second, in: protocol.MasterHeartbeatMessage{}},
			{at: 4 * time.Second, in: protocol.MasterHeartbeatMessage{}},
			{at: 4*time.Second + masterHeartbeatTimeout - ms},
			{at: 4*time.Second + masterHeartbeatTimeout, sent: []string{"client_ready"}},
			{at: 9500 * ms, in: simAck},
			{at: 40 * time.Second}, // a master that stopped sending heartbeats is not awaited
		}},
		{"frozen past what a master waits for", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 5 * time.Second},
			{at: 5*time.Second + frozenTimeout, frozen: true},
			{at: 40 * time.Second},
			{at: 40*time.Second + frozenTimeout + ms, frozen: true, sent: []string{"client_ready"}},
		}},
		{"a new master that does not resume the test", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 0, in: simSpawn(100, 2), sent: []string{"spawning", "spawning_complete"}, state: stateRunning},
			{at: 1 * time.Second, in: protocol.Disconnected, state: stateRunning},
			{at: 2 * time.Second, in: protocol.Connected, sent: []string{"client_ready"}, state: stateRunning},
			{at: 2 * time.Second, in: simAck},
			{at: 2*time.Second + resumeWindow - ms, state: stateRunning},
			{at: 2*time.Second + resumeWindow, state: stateReady},
		}},
		{"the same master resumes the test", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 0, in: simSpawn(100, 2), sent: []string{"spawning", "spawning_complete"}},
			{at: 1 * time.Second, in: protocol.Disconnected},
			{at: 2 * time.Second, in: protocol.Connected, sent: []string{"client_ready"}},
			{at: 2 * time.Second, in: simAck},
			{at: 2500 * ms, in: simSpawn(50, 2), sent: []string{"spawning", "spawning_complete"}, state: stateRunning},
			{at: 20 * time.Second, state: stateRunning},
		}},
		{"no master for NoMasterTimeout", 10 * time.Second, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 0, in: simSpawn(100, 2), sent: []string{"spawning", "spawning_complete"}},
			{at: 1 * time.Second, in: protocol.Disconnected},
			{at: 11*time.Second - ms, state: stateRunning},
			{at: 11 * time.Second, state: stateReady},
		}},
		{"a negative NoMasterTimeout stops users at once", -1, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 0, in: simSpawn(100, 2), sent: []string{"spawning", "spawning_complete"}},
			{at: 1 * time.Second, in: protocol.Disconnected, state: stateReady},
		}},
		{"the master's reconnect keeps the registration", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 0, in: simSpawn(100, 2), sent: []string{"spawning", "spawning_complete"}},
			{at: 1 * time.Second, in: protocol.ReconnectMessage{}, sent: []string{"reset"}},
			{at: 1 * time.Second, in: protocol.Disconnected},
			{at: 1500 * ms, in: protocol.Connected},
			{at: 2 * time.Second, in: simSpawn(101, 3), sent: []string{"spawning", "spawning_complete"}, state: stateRunning},
			{at: 20 * time.Second, state: stateRunning},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { playSteps(t, tc.noMaster, tc.steps) })
	}
}

// playSteps plays steps on a simulated session with the given
// NoMasterTimeout, and checks what the worker sends and its state after
// each.
func playSteps(t *testing.T, noMaster time.Duration, steps []simStep) {
	h, m := simulateSession(t, func(w *Worker) { w.NoMasterTimeout = noMaster },
		Class("A", func() *idleUser { return &idleUser{} }))
	start := h.now
	for i, st := range steps {
		if at := start.Add(st.at); st.frozen {
			h.freeze(at.Sub(h.now))
		} else {
			h.advanceTo(at)
		}
		switch in := st.in.(type) {
		case protocol.EventKind:
			m.announce(protocol.Event{Kind: in})
		case protocol.Message:
			m.send(in)
		}
		got := h.sent()
		for len(m.conn.resets) > 0 {
			<-m.conn.resets
			got = append(got, "reset")
		}
		if !slices.Equal(got, st.sent) {
			t.Errorf("row %d (at %s, %T): sent %q, want %q", i, st.at, st.in, got, st.sent)
		}
		if st.state != "" && h.s.currentState() != st.state {
			t.Errorf("row %d (at %s, %T): state %q, want %q", i, st.at, st.in, h.s.currentState(), st.state)
		}
	}
}

// TestSessionOldJobTellsNewMasterNothing: a stop that finishes after the
// worker registered with a new master sends that master no
// client_stopped (docs/protocol.md, §7 item 6): the master that asked is
// gone.
func TestSessionOldJobTellsNewMasterNothing(t *testing.T) {
	gate := make(chan struct{})
	h, m := simulateSession(t, nil, Class("A", func() *blockedUser { return &blockedUser{gate: gate} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	// The stop timeout lets the user finish its task, which waits for gate.
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), StopTimeout: time.Minute, UserClassesCount: map[string]int64{"A": 1}})
	m.expect("spawning_complete")
	h.async = true
	m.send(protocol.StopMessage{})
	m.announce(protocol.Event{Kind: protocol.Disconnected})
	m.announce(protocol.Event{Kind: protocol.Connected})
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	close(gate)
	h.finishJob()
	if got := h.sent(); len(got) != 0 {
		t.Errorf("the old master's stop finished on the new registration and sent %q, want nothing", got)
	}
	if !h.s.registered {
		t.Error("the worker is not registered with the new master after the old stop finished")
	}
}

// blockedUser's task waits for gate, whatever its context says.
type blockedUser struct{ gate <-chan struct{} }

func (u *blockedUser) Tasks() []Task {
	return []Task{{Name: "blocked", Run: func(ctx context.Context) error {
		<-u.gate
		return nil
	}}}
}

// TestSessionReportsAtAck: the first report goes out with the ack, as a
// Python worker's does, not a report interval later.
func TestSessionReportsAtAck(t *testing.T) {
	h, m := simulateSession(t, nil, Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	h.advance(reportInterval / 2)
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	for {
		select {
		case body := <-m.conn.sent:
			if env, err := protocol.Decode(body); err == nil && env.Message.Type() == "stats" {
				return
			}
		default:
			t.Fatal("no report at the ack")
		}
	}
}
