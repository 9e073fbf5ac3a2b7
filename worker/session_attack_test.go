package worker

// This file holds a hostile review's tests of the session state machine
// (session_events.go, session_messages.go, session_jobs.go), played by
// sessionSim (session_sim_test.go): deadlines met between the loop's
// wakes, a hostile master, and a frozen process whose first event after
// waking is not the timer.

import (
	"slices"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
)

// freezeFor stops the simulated process for d without firing anything:
// on the real loop, after SIGCONT, the timer and any other ready channel
// (a finished job, a body read from the socket) are ready at once, and
// the loop's select picks any of them first.
func (h *sessionSim) freezeFor(d time.Duration) { h.now = h.now.Add(d) }

// TestAttackFrozenJobEndBeforeTimer: the worker is stopped (SIGSTOP) for
// 70 s just as a spawn job ends, its end queued on s.finished and not yet
// read by the loop; the master deleted the worker after about 64 s. On
// waking, the job's end and the loop's timer are both ready, and the
// loop's select picks either; when the job's end is stepped first,
// spawning_complete goes to a master
// that no longer knows the worker (docs/protocol.md §7 item 6: the 2.12
// receive loop dies), although §4.8 promises that a frozen worker
// "registers again before anything else".
func TestAttackFrozenJobEndBeforeTimer(t *testing.T) {
	h, m := simulateSession(t, nil, Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	h.async = true // the job's end stays queued until finishJob
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"A": 2}})
	h.sent()
	h.freezeFor(70 * time.Second)
	h.finishJob() // the job's end wins the select
	h.fireDue()   // then the timer
	got := h.sent()
	if len(got) == 0 || got[0] != "client_ready" || slices.Contains(got, "spawning_complete") {
		t.Errorf("after a 70 s freeze the worker sent %q: spawning_complete to a master that deleted it, before registering again", got)
	}
}

// TestAttackFrozenBodyBeforeTimer: as above, but what wins the select on
// waking is a spawn the master sent before it gave up on the worker (it
// sends one a second while ramping), read from the socket after SIGCONT:
// the worker answers spawning and spawning_complete on a registration
// the master deleted.
func TestAttackFrozenBodyBeforeTimer(t *testing.T) {
	h, m := simulateSession(t, nil, Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"A": 1}})
	m.expect("spawning_complete")
	h.sent()
	h.freezeFor(70 * time.Second)
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(101, 0), UserClassesCount: map[string]int64{"A": 2}})
	h.fireDue()
	got := h.sent()
	if len(got) == 0 || got[0] != "client_ready" {
		t.Errorf("after a 70 s freeze the worker sent %q; want client_ready before anything else", got)
	}
}

// TestAttackHostileMasterHolds: duplicate acks, a reconnect storm and
// repeated unsolicited acks neither register the worker twice nor make
// the loop spin (sessionSim fails a test whose timer would spin), and the
// users keep running.
func TestAttackHostileMasterHolds(t *testing.T) {
	h, m := simulateSession(t, nil, Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	ack := protocol.AckMessage{Index: 0, HasIndex: true}
	for range 5 {
		m.send(ack)
	}
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"A": 2}})
	m.expect("spawning_complete")
	h.sent()
	for i := range 100 {
		m.send(protocol.ReconnectMessage{})
		m.announce(protocol.Event{Kind: protocol.Disconnected})
		m.send(ack) // a stale ack read from the old connection
		m.announce(protocol.Event{Kind: protocol.Connected})
		m.send(protocol.MasterHeartbeatMessage{})
		h.advance(time.Duration(i%7) * 100 * time.Millisecond)
	}
	h.advance(30 * time.Second) // heartbeats stop: one registration
	got := h.sent()
	if n := countOf(got, "client_ready"); n != 1 {
		t.Errorf("after a reconnect storm and the master's silence the worker sent %q; want one client_ready", got)
	}
	if h.s.currentState() != stateRunning {
		t.Errorf("state %q after the storm, want running (the 3 s resume window only starts at an ack)", h.s.currentState())
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestAttackShortFreezeReRegisters: a 2.19+ master answers each worker
// heartbeat with one of its own, so while the worker is frozen for 10 s
// (SIGSTOP, a paused VM) the master is silent too, and merely marks the
// worker missing; the worker's first heartbeat after waking brings it
// back, and its answer comes a round trip later. The loop's timer fires
// at once on waking, at the real time, finds the master silent for over
// masterHeartbeatTimeout and sends client_ready to a master that still
// knows the worker (docs/protocol.md §7 item 19: added to the dispatcher
// twice). The old loop read the tick's scheduled time, which after a
// freeze is the one before it, and saw the master's answer before it
// checked again.
func TestAttackShortFreezeReRegisters(t *testing.T) {
	h, m := simulateSession(t, nil, Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"A": 1}})
	m.expect("spawning_complete")
	answer := func() { // the master answers the worker's heartbeats
		h.advance(time.Millisecond)
		m.send(protocol.MasterHeartbeatMessage{})
	}
	for range 3 {
		h.advanceTo(h.beatAt)
		answer()
	}
	h.sent()
	h.freeze(10 * time.Second) // the timer fires, then the worker's heartbeat goes out
	answer()
	for range 5 {
		h.advanceTo(h.beatAt)
		answer()
	}
	if got := h.sent(); slices.Contains(got, "client_ready") {
		t.Errorf("after a 10 s freeze, with the master answering every heartbeat, the worker sent %q; want no new registration", got)
	}
}

// TestAttackDeadlinesBetweenTicks puts every deadline between two of the
// loop's one-second wakes, where a deadline the loop forgot to wake for
// would still be met a tick late; and checks that a master that comes
// back in time lets the users outlive NoMasterTimeout, and that a lost
// connection's pending ack deadline resets nothing.
func TestAttackDeadlinesBetweenTicks(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name     string
		noMaster time.Duration
		steps    []simStep
	}{
		{"resume window", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 0, in: simSpawn(100, 2), sent: []string{"spawning", "spawning_complete"}},
			{at: 1 * time.Second, in: protocol.Disconnected},
			{at: 1500 * ms, in: protocol.Connected, sent: []string{"client_ready"}},
			{at: 1500 * ms, in: simAck},
			{at: 1500*ms + resumeWindow - ms, state: stateRunning},
			{at: 1500*ms + resumeWindow, state: stateReady},
		}},
		{"no master timeout", 7 * time.Second, []simStep{ // not a multiple of waitingLogEvery
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 0, in: simSpawn(100, 2), sent: []string{"spawning", "spawning_complete"}},
			{at: 1500 * ms, in: protocol.Disconnected},
			{at: 8500*ms - ms, state: stateRunning},
			{at: 8500 * ms, state: stateReady},
		}},
		{"master heartbeat silence", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 1500 * ms, in: protocol.MasterHeartbeatMessage{}},
			{at: 1500*ms + masterHeartbeatTimeout - ms},
			{at: 1500*ms + masterHeartbeatTimeout, sent: []string{"client_ready"}},
		}},
		{"the master comes back: users outlive NoMasterTimeout", 10 * time.Second, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 0, in: simAck},
			{at: 0, in: simSpawn(100, 2), sent: []string{"spawning", "spawning_complete"}},
			{at: 1 * time.Second, in: protocol.Disconnected},
			{at: 2 * time.Second, in: protocol.Connected, sent: []string{"client_ready"}},
			{at: 2 * time.Second, in: simAck},
			{at: 2500 * ms, in: simSpawn(101, 2), sent: []string{"spawning", "spawning_complete"}},
			{at: 30 * time.Second, state: stateRunning},
		}},
		{"no ack deadline once disconnected", 0, []simStep{
			{at: 0, sent: []string{"client_ready"}},
			{at: 1 * time.Second, in: protocol.Disconnected},
			{at: 7 * time.Second}, // past the ack deadline: no reset
			{at: 7 * time.Second, in: protocol.Connected, sent: []string{"client_ready"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { playSteps(t, tc.noMaster, tc.steps) })
	}
}
