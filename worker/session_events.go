package worker

// This file owns the session's state machine: the events the run loop
// (session.go) hands to step with the time, and what the connection's
// changes and the session's deadlines do, including the one path that
// registers with a master. The master's messages are handled in
// session_messages.go, finished jobs in session_jobs.go. Nothing here
// reads the clock: every handler gets now.

import (
	"time"

	"github.com/golocust/golocust/protocol"
)

// event is one thing the session loop reacts to.
type event interface{ isEvent() }

type (
	// connChanged is the transport's news: connected or disconnected.
	connChanged struct{ protocol.Event }
	// received is a message body from the master, not yet decoded.
	received struct{ body []byte }
	// jobFinished says that a job's work is done.
	jobFinished struct{ job *job }
	// timerFired says that the time of nextDeadline has come.
	timerFired struct{}
	// shutdownAsked is the worker's own stop (SIGINT, SIGTERM): the run's
	// context is done with err.
	shutdownAsked struct{ err error }
)

func (connChanged) isEvent()   {}
func (received) isEvent()      {}
func (jobFinished) isEvent()   {}
func (timerFired) isEvent()    {}
func (shutdownAsked) isEvent() {}

// step moves the session on by one event at now. It returns how the
// session ends, or nil while it goes on.
func (s *session) step(now time.Time, ev event) *ending {
	if _, ok := ev.(timerFired); !ok && now.Sub(s.lastTick) > frozenTimeout {
		s.onTimer(now) // a frozen worker registers again before anything else
	}
	switch ev := ev.(type) {
	case connChanged:
		s.onConnChange(now, ev.Event)
	case received:
		return s.onBody(now, ev.body)
	case jobFinished:
		s.onJobFinished(now, ev.job)
	case timerFired:
		s.onTimer(now)
	case shutdownAsked:
		within := min(max(s.stopTimeout, 0), shutdownStopTimeout)
		s.logger.Info("shutting down: stopping users", "within", within)
		s.reportStats(now) // what is recorded goes out at once
		return &ending{within: within, err: ev.err}
	}
	return nil
}

// onConnChange follows the transport's connection changes.
func (s *session) onConnChange(now time.Time, ev protocol.Event) {
	// The master asked for a new socket and still knows this worker:
	// registering again would count it twice.
	kept := s.reconnectAsked && s.registered
	switch ev.Kind {
	case protocol.Connected:
		s.connected = true
		s.reconnectAsked = false
		if kept {
			s.logger.Info("reconnected to the master, as it asked", "master", s.endpoint)
			return
		}
		if s.everAcked {
			s.logger.Warn("connected to the master again; registering", "master", s.endpoint)
		}
		s.register(now, anyMaster)
	case protocol.Disconnected:
		s.connected = false
		s.ackBy = time.Time{}
		if kept {
			return
		}
		s.reconnectAsked = false
		s.setRegistered(false)
		s.resumeBy = time.Time{}
		if s.everAcked {
			s.warnLimited(now, "disconnected", "lost the connection to the master; reconnecting", "master", s.endpoint, "err", ev.Err)
		}
		s.lost(now)
	}
}

// registerTo says which master a registration may reach.
type registerTo int

const (
	// sameMaster is the master that just forgot this worker on its
	// client_stopped, and keeps its clock.
	sameMaster registerTo = iota
	// anyMaster may be a new master, one that knows nothing of this
	// worker, its jobs or its spawns' timestamps.
	anyMaster
)

// register is the one way the session registers with a master, first or
// again: it sends client_ready and waits ackTimeout for the ack.
func (s *session) register(now time.Time, to registerTo) {
	s.setRegistered(false)
	s.masterBeat = time.Time{}
	if to == anyMaster {
		s.epoch++       // what jobs of the previous registration did is no news to this master
		s.lastSpawn = 0 // a new master has its own clock
	}
	if !s.hasUsers() {
		s.setState(stateReady)
	}
	s.send(protocol.ClientReadyMessage{Version: s.version})
	s.ackBy = now.Add(ackTimeout)
}

// lost records that no master knows this worker any more.
func (s *session) lost(now time.Time) {
	if s.lostSince.IsZero() {
		s.lostSince, s.noMasterLogged = now, now
		if s.noMasterTimeout >= 0 {
			s.stopUsersAt = now.Add(s.noMasterTimeout)
		}
	}
	if s.noMasterTimeout < 0 && s.hasUsers() {
		s.logger.Warn("no master: stopping users at once (NoMasterTimeout is negative)")
		s.stopUsers()
	}
}

// found records that a master registered this worker.
func (s *session) found() {
	s.lostSince, s.stopUsersAt = time.Time{}, time.Time{}
}

// nextDeadline returns when the loop must wake next: at the earliest
// deadline, and a loopTick after it last woke at the latest.
func (s *session) nextDeadline() time.Time {
	next := s.lastTick.Add(loopTick)
	deadlines := [...]time.Time{s.ackBy, s.resumeBy, s.stopUsersAt, s.masterSilentAt(), s.waitingLogAt()}
	for _, d := range deadlines {
		if !d.IsZero() && d.Before(next) {
			next = d
		}
	}
	return next
}

// masterSilentAt is when a master that sends heartbeats has been quiet
// too long; zero for one that sends none.
func (s *session) masterSilentAt() time.Time {
	if !s.registered || s.masterBeat.IsZero() {
		return time.Time{}
	}
	return s.masterBeat.Add(masterHeartbeatTimeout)
}

// waitingLogAt is when the next "still no master" line is due.
func (s *session) waitingLogAt() time.Time {
	if s.lostSince.IsZero() {
		return time.Time{}
	}
	return s.noMasterLogged.Add(waitingLogEvery)
}

// due reports whether deadline is set and has come by now.
func due(deadline, now time.Time) bool { return !deadline.IsZero() && !now.Before(deadline) }

// onTimer handles the deadlines that have come by now. Each one it acts
// on is cleared or moved on, so the loop never wakes for it again.
func (s *session) onTimer(now time.Time) {
	late := now.Sub(s.lastTick)
	frozen := late > frozenTimeout
	s.lastTick = now
	if late >= lateHeartbeat && !s.masterBeat.IsZero() {
		// This worker was stalled and sent no heartbeats, so a master that
		// answers each one was silent too: its silence counts from now.
		s.masterBeat = s.masterBeat.Add(late)
	}
	if due(s.waitingLogAt(), now) {
		s.logStillWaiting(now)
	}
	if due(s.stopUsersAt, now) {
		s.stopUsersAt = time.Time{}
		if s.hasUsers() {
			s.logger.Warn("no master for too long: stopping users; the worker keeps waiting for a master",
				"waited", now.Sub(s.lostSince).Round(time.Second), "timeout", s.noMasterTimeout)
			s.stopUsers()
		}
	}
	if due(s.resumeBy, now) {
		s.resumeBy = time.Time{}
		if s.registered && s.hasUsers() {
			s.logger.Warn("the master did not resume the test after the worker registered again; stopping users until it starts one")
			s.stopUsers()
		}
	}
	s.checkMaster(now, frozen)
	if due(s.ackBy, now) {
		s.ackBy = time.Time{}
		s.warnLimited(now, "no-ack", "no ack from the master; connecting again", "master", s.endpoint, "waited", ackTimeout)
		s.conn.Reset()
	}
}

// checkMaster registers again when the master has likely forgotten this
// worker: the worker was frozen, or the master's heartbeats stopped.
func (s *session) checkMaster(now time.Time, frozen bool) {
	switch {
	case !s.registered:
		return
	case frozen:
		// The process was stopped or starved (SIGSTOP, a paused VM): a
		// 2.12 master deletes a worker silent for about 64 s, and then
		// a spawning_complete from it kills the master's receive loop.
		s.logger.Warn("this worker was frozen; registering with the master again", "master", s.endpoint)
	case due(s.masterSilentAt(), now):
		// This master sends heartbeats and stopped: it was restarted behind
		// the same connection, or deleted this worker.
		s.warnLimited(now, "master-heartbeat", "no heartbeat from the master; registering again",
			"master", s.endpoint, "silent_for", now.Sub(s.masterBeat).Round(time.Millisecond))
	default:
		return
	}
	s.setRegistered(false)
	s.lost(now)
	s.register(now, anyMaster)
}

// logStillWaiting says, every waitingLogEvery, that the worker waits for
// its master, and when its users will stop.
func (s *session) logStillWaiting(now time.Time) {
	s.noMasterLogged = now
	args := []any{"master", s.endpoint, "waited", now.Sub(s.lostSince).Round(time.Second)}
	if s.hasUsers() && s.noMasterTimeout > 0 {
		left := s.noMasterTimeout - now.Sub(s.lostSince)
		args = append(args, "users", s.pool.counts(), "users_stop_in", left.Round(time.Second))
	}
	if s.everAcked {
		s.logger.Warn("still no Locust master", args...)
	} else {
		s.logger.Info("still waiting for the Locust master", args...)
	}
}
