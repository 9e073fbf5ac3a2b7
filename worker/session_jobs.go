package worker

// This file owns the session's jobs: user work the loop starts (applying a
// spawn, stopping users) that runs in its own goroutine and reports back
// to the loop (session.go) when done, and what the loop does then. The
// users themselves are the pool's (pool.go).

import (
	"context"
	"time"

	"github.com/golocust/golocust/protocol"
)

// jobKind says what a job does, and so what its end tells the master.
type jobKind int

const (
	// jobSpawn applies the master's spawn; it ends with spawning_complete.
	jobSpawn jobKind = iota + 1
	// jobStop obeys the master's stop; it ends with client_stopped and a
	// new registration.
	jobStop
	// jobReset stops users that no master asked for (the master was lost,
	// or did not resume the test); it ends without a word to the master.
	jobReset
)

// job is user work started by the loop. One runs at a time: a new job
// cancels the previous one and starts when it is done.
type job struct {
	kind   jobKind
	epoch  int // the registration that asked for it
	cancel context.CancelFunc
	done   chan struct{} // closed when the work is done
}

// startJob starts work as the session's job of the given kind.
func (s *session) startJob(kind jobKind, work func(ctx context.Context)) {
	prev := s.job
	if prev != nil {
		prev.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	j := &job{kind: kind, epoch: s.epoch, cancel: cancel, done: make(chan struct{})}
	s.job = j
	go func() {
		if prev != nil {
			<-prev.done
		}
		work(ctx)
		// done is closed before the report: the loop may be waiting for
		// it (quit, shutdown) instead of reading finished jobs.
		close(j.done)
		select {
		case s.finished <- j:
		case <-s.loopExit:
		}
	}()
}

// stopUsers stops every user in a job, without telling the master.
func (s *session) stopUsers() {
	s.resumeBy = time.Time{}
	s.setState(stateReady)
	s.endTest()
	s.startJob(jobReset, func(ctx context.Context) {
		s.pool.stopAllWithin(ctx, -1)
		s.hooks.stop(ctx)
	})
}

// hasUsers reports whether users run or are being started.
func (s *session) hasUsers() bool {
	return sum(s.pool.counts()) > 0 || (s.job != nil && s.job.kind == jobSpawn)
}

// onJobFinished tells the master that the job it asked for is done, if
// the job is still the session's and the master still the one that asked.
func (s *session) onJobFinished(now time.Time, j *job) {
	if j != s.job {
		return // superseded
	}
	s.job = nil
	if j.epoch != s.epoch || !s.registered {
		// The master that asked is gone; heartbeats still tell the truth
		// about the users.
		if j.kind == jobSpawn && s.currentState() == stateSpawning {
			if sum(s.pool.counts()) > 0 {
				s.setState(stateRunning)
			} else {
				s.setState(stateReady)
			}
		}
		return
	}
	switch j.kind {
	case jobSpawn:
		counts := s.pool.counts()
		s.send(protocol.SpawningCompleteMessage{UserClassesCount: counts, UserCount: sum(counts)})
		s.setState(stateRunning)
		s.logger.Info("spawning complete", "users", countsForLog(counts))
	case jobStop:
		s.stopped(now)
	}
}

// stopped completes the master's stop: the last report of the test, then
// client_stopped, after which the master forgets this worker.
func (s *session) stopped(now time.Time) {
	s.reportStats(now)
	s.send(protocol.ClientStoppedMessage{})
	s.setRegistered(false)
	s.setState(stateReady)
	s.logger.Info("users stopped")
	s.logHeartbeatGaps()
	if s.connected {
		// A Python worker sleeps stop_timeout before client_ready; in
		// that window the master has forgotten it and its quit is lost.
		// The users are stopped already, so register at once: the master
		// only adds a ready worker while stopping. Without a connection,
		// Connected will register.
		s.register(now, sameMaster)
	}
}
