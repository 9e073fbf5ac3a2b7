package worker

// This file owns a session's part of custom messages and hooks: the
// messages users send, kept until the transport has written them to a
// master that registered the worker (as statistics are, pending.go), and
// the hooks of the test's start and stop around the session's jobs
// (session_jobs.go). Received messages go to the message queue
// (messages.go); the API is in hooks.go.

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/protocol"
)

// Bounds of the messages kept for the master.
const (
	maxOutboxMessages = 10_000
	maxOutboxBytes    = 64 << 20
	// stopHookBound bounds how long a quitting worker waits for its
	// TestStop hooks before its final report: the master waits 0.5 s.
	stopHookBound = time.Second
)

// errOutboxFull is SendMessage's error while too many messages wait.
var errOutboxFull = errors.New("worker: too many custom messages wait for the master")

// pendingMessage is a custom message not yet written to a master.
type pendingMessage struct {
	body  []byte
	state atomic.Int32 // reportUnsent, reportInFlight or reportWritten
}

func (p *pendingMessage) written() bool { return p.state.Load() == reportWritten }

// sendCustom encodes m now, so that a bad payload is the caller's error,
// and keeps it until written.
func (s *session) sendCustom(m protocol.CustomMessage) error {
	body, err := protocol.Encode(s.nodeID, m)
	if err != nil {
		return fmt.Errorf("worker: message %q: %w", m.MessageType, err)
	}
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	switch {
	case s.outboxClosed:
		return errors.New("worker: the worker has quit; the message is not sent")
	case len(body) > maxOutboxBytes:
		return fmt.Errorf("worker: message %q of %d bytes: larger than %d", m.MessageType, len(body), maxOutboxBytes)
	}
	s.pruneOutboxLocked()
	if len(s.outbox) >= maxOutboxMessages || s.outboxSize+len(body) > maxOutboxBytes {
		s.refusedMessages++
		return fmt.Errorf("%w (%d waiting)", errOutboxFull, len(s.outbox))
	}
	s.outbox = append(s.outbox, &pendingMessage{body: body})
	s.outboxSize += len(body)
	s.flushOutboxLocked()
	return nil
}

// pruneOutboxLocked forgets the written messages at the front of the
// outbox (the transport writes them in order, so those behind an unwritten
// one wait to be forgotten with it).
func (s *session) pruneOutboxLocked() {
	n := 0
	for n < len(s.outbox) && s.outbox[n].written() {
		s.outboxSize -= len(s.outbox[n].body)
		s.outbox[n] = nil
		n++
	}
	s.outbox = s.outbox[n:]
}

// closeOutbox refuses further messages: the worker has quit.
func (s *session) closeOutbox() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.outboxClosed = true
}

// flushOutboxLocked sends the kept messages, oldest first, to a master
// that registered the worker. s.statsMu must be held.
func (s *session) flushOutboxLocked() {
	s.pruneOutboxLocked()
	for _, p := range s.outbox {
		if !s.acked.Load() {
			return
		}
		if p.state.Load() != reportUnsent {
			continue
		}
		if err := s.sendTracked(&p.state, p.body); err != nil {
			s.logger.Debug("custom message not sent yet", "err", err)
			return
		}
	}
}

// logLostMessages logs, at the end, the messages no master took.
func (s *session) logLostMessages() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	lost := 0
	for _, p := range s.outbox {
		if !p.written() {
			lost++
		}
	}
	if lost > 0 || s.refusedMessages > 0 {
		s.logger.Error("exiting with custom messages no master took", "messages", lost, "refused", s.refusedMessages)
	}
}

// onCustom hands a custom message from the master to its handlers.
func (s *session) onCustom(now time.Time, m protocol.CustomMessage) {
	if s.messages == nil || !s.messages.handles(m.MessageType) {
		s.warnLimited(now, "type:"+m.MessageType, "ignoring a message of unknown type from the master (no Hooks.Messages handler takes it)",
			"type", peerText(m.MessageType))
		return
	}
	s.messages.push(Message{Type: m.MessageType, Data: m.Data})
}

// spawnWork returns a spawn job's work: it waits for the messages
// received before the spawn to be handled, runs the TestStart hooks when
// the spawn starts a test, then starts the users.
func (s *session) spawnWork(newTest bool, target map[string]int64, spread time.Duration) func(ctx context.Context) {
	var mark uint64
	if s.messages != nil {
		mark = s.messages.mark()
	}
	testCtx := s.testCtx
	return func(ctx context.Context) {
		if s.messages != nil {
			s.messages.waitHandled(ctx, mark, 5*time.Second)
		}
		if newTest && ctx.Err() == nil {
			// The test's context, not the job's: the master's next ramp
			// step replaces this job, not the test.
			s.hooks.start(testCtx)
		}
		if ctx.Err() != nil {
			return // replaced or ended while the messages or TestStart ran: start no user
		}
		s.pool.setTargetOver(ctx, target, spread)
	}
}

// beginTest gives a new test its context, which hooks get and which ends
// with the test (endTest).
func (s *session) beginTest() {
	s.endTest()
	s.testCtx, s.endTestCtx = context.WithCancel(context.Background())
}

// endTest cancels the test's context.
func (s *session) endTest() {
	if s.endTestCtx != nil {
		s.endTestCtx()
	}
	s.testCtx, s.endTestCtx = context.Background(), nil
}

// stopHooksBounded runs the TestStop hooks, waiting at most within for
// them.
func (s *session) stopHooksBounded(within time.Duration) {
	done := make(chan struct{})
	go func() { defer close(done); s.hooks.stop(context.Background()) }()
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.logger.Warn("sending the final report before the test stop hooks are done", "waited", within)
	}
}
