package worker

// This file owns sessionSim, which plays a session's run loop (session.go)
// and its heartbeats and reports goroutines at made-up times: it steps
// events at its own clock, fires the loop's timer at each deadline, sends
// a heartbeat every made-up second and a report every three. Jobs take no
// made-up time: the sim waits for each to finish (an event, not a sleep).
// Session tests built on it need no real-time waits. The fake transport
// and master are in session_test.go.

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// sessionSim is a session run at made-up times.
type sessionSim struct {
	t        testing.TB
	s        *session
	conn     *fakeConn
	now      time.Time
	beatAt   time.Time // when the heartbeats goroutine sends next
	reportAt time.Time // when the reports goroutine sends next
	sampler  processSampler
	ended    bool
	// async lets jobs run on while the sim moves on; finishJob waits for
	// one.
	async bool
}

// simulateSession is startSessionWith for a simulated session: it builds
// the session as Worker.Run does, with configure's changes, starts it at a
// made-up time and announces a connection. The master it returns moves
// the made-up time on while it waits for the worker's messages.
func simulateSession(t testing.TB, configure func(*Worker), classes ...*UserClass) (*sessionSim, *fakeMaster) {
	t.Helper()
	w := &Worker{Classes: classes, NodeID: testNode, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if configure != nil {
		configure(w)
	}
	h := &sessionSim{t: t, conn: newFakeConn(), now: time.Now()}
	h.s = simSession(t, w, h.conn)
	h.beatAt, h.reportAt = h.now.Add(heartbeatInterval), h.now.Add(reportInterval)
	h.s.begin(h.now)
	t.Cleanup(h.end)
	m := &fakeMaster{t: t, conn: h.conn, nodeID: w.NodeID, sim: h}
	m.announce(protocol.Event{Kind: protocol.Connected})
	return h, m
}

// simSession builds w's session on conn as Worker.Run does, without
// starting it.
func simSession(t testing.TB, w *Worker, conn protocol.Conn) *session {
	t.Helper()
	classes, err := validateClasses(w.Classes)
	if err != nil {
		t.Fatal(err)
	}
	collector := stats.NewCollector()
	noMaster := w.NoMasterTimeout
	if noMaster == 0 {
		noMaster = DefaultNoMasterTimeout
	}
	s := &session{conn: conn, nodeID: w.NodeID, version: w.Version, host: w.Host, collector: collector,
		logger: w.Logger, endpoint: "simulated", custom: classOptions(w.Classes),
		noMasterTimeout: noMaster, maxUsers: w.MaxUsers}
	s.pool = newPool(classes, collector, w.Logger, nil)
	s.pool.setHTTP(w.HTTP)
	s.pool.configure(w.Host, 0, tagFilter{})
	return s
}

// step hands ev to the session at the sim's time, then settles.
func (h *sessionSim) step(ev event) {
	h.t.Helper()
	if h.ended {
		h.t.Fatalf("%T after the session ended", ev)
	}
	if end := h.s.step(h.now, ev); end != nil {
		h.s.finish(end.within)
		h.ended = true
		return
	}
	h.settle()
}

// settle does what the loop and the reports goroutine do next without
// any made-up time passing: unless async, it waits for the running job to
// finish and steps its end; it sends a report asked for.
func (h *sessionSim) settle() {
	h.t.Helper()
	if !h.async {
		h.finishJob()
	}
	select {
	case <-h.s.reportNow:
		h.s.reportStats(h.now)
	default:
	}
}

// finishJob waits for the running job, and those it superseded, to finish
// and steps their ends.
func (h *sessionSim) finishJob() {
	h.t.Helper()
	for h.s.job != nil {
		select {
		case j := <-h.s.finished:
			h.s.step(h.now, jobFinished{j})
		case <-time.After(10 * time.Second):
			h.t.Fatalf("a job of kind %d did not finish within 10 s", h.s.job.kind)
		}
	}
}

// nextDue returns the made-up time at which the loop's timer, a
// heartbeat or a report is due next.
func (h *sessionSim) nextDue() time.Time {
	next := h.s.nextDeadline()
	for _, t := range []time.Time{h.beatAt, h.reportAt} {
		if t.Before(next) {
			next = t
		}
	}
	return next
}

// advance moves the made-up clock on by d; see advanceTo.
func (h *sessionSim) advance(d time.Duration) {
	h.t.Helper()
	h.advanceTo(h.now.Add(d))
}

// advanceTo moves the made-up clock on to t, firing on the way, each at
// its time, the loop's timer at every deadline, the heartbeats and the
// reports.
func (h *sessionSim) advanceTo(t time.Time) {
	h.t.Helper()
	for !h.ended {
		next := h.nextDue()
		if next.After(t) {
			break
		}
		h.now = next
		h.fireDue()
	}
	if h.now.Before(t) {
		h.now = t
	}
}

// freeze stops the process for d: nothing fires in between, and
// everything due fires late, at once, when it wakes.
func (h *sessionSim) freeze(d time.Duration) {
	h.t.Helper()
	h.now = h.now.Add(d)
	h.fireDue()
}

// fireDue fires what is due at the sim's time: the loop's timer, which
// must then be set for later (else the loop would spin), a heartbeat and
// a report; tickers skip the ticks they missed.
func (h *sessionSim) fireDue() {
	h.t.Helper()
	if !h.now.Before(h.s.nextDeadline()) {
		h.step(timerFired{})
		if next := h.s.nextDeadline(); !next.After(h.now) && !h.ended {
			h.t.Fatalf("after the timer fired at %s the next deadline is %s: the loop would spin", h.now, next)
		}
	}
	if !h.now.Before(h.beatAt) {
		h.s.heartbeat(h.now, &h.sampler)
		for !h.beatAt.After(h.now) {
			h.beatAt = h.beatAt.Add(heartbeatInterval)
		}
	}
	if !h.now.Before(h.reportAt) {
		h.s.reportStats(h.now)
		for !h.reportAt.After(h.now) {
			h.reportAt = h.reportAt.Add(reportInterval)
		}
	}
}

// nextSent returns the next body the worker sent, moving the made-up time
// on until one comes or deadline passes.
func (h *sessionSim) nextSent(deadline time.Time) ([]byte, bool) {
	h.t.Helper()
	for {
		select {
		case b := <-h.conn.sent:
			return b, true
		default:
		}
		if h.ended || !h.now.Before(deadline) {
			return nil, false
		}
		next := h.nextDue()
		if deadline.Before(next) {
			next = deadline
		}
		h.advanceTo(next)
	}
}

// sent returns the types of the messages the worker sent since the last
// call, leaving heartbeats and statistics out.
func (h *sessionSim) sent() []string {
	h.t.Helper()
	var types []string
	for {
		select {
		case body := <-h.conn.sent:
			env, err := protocol.Decode(body)
			if err != nil {
				h.t.Fatalf("worker sent an undecodable message: %v", err)
			}
			if typ := env.Message.Type(); typ != "heartbeat" && typ != "stats" {
				types = append(types, typ)
			}
		default:
			return types
		}
	}
}

// usersStarted returns how many users the session's pool has started.
func (h *sessionSim) usersStarted() int {
	h.s.pool.mu.Lock()
	defer h.s.pool.mu.Unlock()
	return int(h.s.pool.nextID)
}

// end stops the session as its context's cancel does, unless it has ended,
// and waits for its users.
func (h *sessionSim) end() {
	if !h.ended {
		h.ended = true
		if end := h.s.step(h.now, shutdownAsked{context.Canceled}); end != nil {
			h.s.finish(end.within)
		}
	}
	close(h.s.loopExit)
	h.s.pool.waitWithin(stopGrace)
}

// simAck is the master's ack of registration 0, and simSpawn its spawn of
// users of class A at the master's time ts, for the session tables.
var simAck = protocol.AckMessage{Index: 0, HasIndex: true}

func simSpawn(ts, users int64) protocol.SpawnMessage {
	return protocol.SpawnMessage{Timestamp: time.Unix(ts, 0), UserClassesCount: map[string]int64{"A": users}}
}
