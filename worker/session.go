package worker

// This file owns a worker's session with its master: the session's state,
// the run loop that turns channel receives into events and hands each,
// with the time, to step, and how the session starts and ends. What each
// event does is in session_events.go (connection, timers, registration)
// and session_messages.go (the master's messages); the user work the
// session starts is in session_jobs.go; heartbeats are in heartbeat.go and
// reports kept until written in pending.go.

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// Timers of the master protocol (docs/protocol.md, §4 "Lifecycle and
// timers").
const (
	heartbeatInterval = time.Second
	reportInterval    = 3 * time.Second
	ackTimeout        = 5 * time.Second
	waitingLogEvery   = 10 * time.Second
	// loopTick is how often the session loop wakes at the least, so that
	// it notices when it was frozen.
	loopTick = time.Second
	// quitStopTimeout bounds how long users get to finish on the master's
	// quit: the master waits only 0.5 s for the final report.
	quitStopTimeout = 300 * time.Millisecond
	// frozenTimeout is how late the loop's one-second tick may come before
	// the worker assumes the master has given up on it and registers
	// again. A master marks a silent worker missing after about 5 s and
	// deletes it after about 64 s.
	frozenTimeout = 30 * time.Second
	// shutdownStopTimeout bounds how long users get to finish their task
	// when the worker itself is told to stop (SIGINT, SIGTERM), so that
	// the master hears the worker's quit within a second.
	shutdownStopTimeout = 500 * time.Millisecond
	// cancelGrace is how long quitting waits for users after cancelling
	// them before it sends the final report anyway.
	cancelGrace = 100 * time.Millisecond
	// maxPendingReports bounds the reports kept while they cannot be sent
	// (200 reports are 10 minutes of statistics); beyond it the unsent ones
	// are merged into one.
	maxPendingReports = 200
	// masterHeartbeatTimeout is how long a master that sends heartbeats
	// (Locust 2.19 and later) may go quiet before the worker concludes it
	// has forgotten the worker (a restart) and registers again.
	masterHeartbeatTimeout = 5 * time.Second
	// resumeWindow is how long users that kept running through a lost
	// connection wait, once registered again, for the master's spawn. A
	// master that still runs the test sends one at once; a new master
	// sends none, and the users stop until it starts a test.
	resumeWindow = 3 * time.Second
	// reconnectFlushTimeout bounds how long the worker tries to send what
	// it has queued before it obeys the master's reconnect.
	reconnectFlushTimeout = 500 * time.Millisecond
	// badInputLogEvery rate-limits log lines about bad input, per kind.
	badInputLogEvery = 10 * time.Second
)

// Defaults of the Worker's reliability settings.
const (
	// DefaultNoMasterTimeout is the default Worker.NoMasterTimeout.
	DefaultNoMasterTimeout = 60 * time.Second
	// DefaultMaxUsers is the default Worker.MaxUsers.
	DefaultMaxUsers = 1_000_000
)

// Worker states as a master sees them in heartbeats.
const (
	stateReady    = "ready"
	stateSpawning = "spawning"
	stateRunning  = "running"
	// stateStopped is a standalone run's state after its end (the
	// --prometheus state); a worker is ready again after a stop.
	stateStopped = "stopped"
)

// errTransportClosed ends a session whose transport closed under it.
var errTransportClosed = errors.New("worker: transport closed")

// session is one worker's conversation with a master. Its loop goroutine
// owns all protocol decisions, made by step at the time the loop hands
// it; user work runs in jobs that report back to the loop, so the loop
// never blocks on users.
type session struct {
	conn      protocol.Conn
	nodeID    string
	version   string
	host      string
	pool      *pool
	collector *stats.Collector
	logger    *slog.Logger
	endpoint  string
	// noMasterTimeout is how long users keep running without a master;
	// negative stops them at once.
	noMasterTimeout time.Duration
	// maxUsers caps the users a spawn may ask for.
	maxUsers int64
	// limiter rate-limits repetitive log lines (bad input, lost master),
	// and logBudget all of them together (session_log.go).
	limiter   *logLimiter
	logBudget lineBudget
	custom    []option // the user classes' options, which spawns may set

	state atomic.Value // string: what heartbeats report
	gaps  gapMeter     // the gaps between heartbeats (heartbeat.go)
	// beforeQuit, if set, runs before the final report: it sends what
	// is held back (the exceptions' counts).
	beforeQuit func()

	reportNow chan struct{} // asks the reports goroutine for a report at once
	finished  chan *job     // jobs say here that they are done
	loopExit  chan struct{} // closed when the loop returns: jobs stop saying so

	statsMu         sync.Mutex
	pending         []*pendingReport  // until written; see pending.go
	outbox          []*pendingMessage // custom messages until written; see session_custom.go
	refusedMessages int64             // custom messages refused while the outbox was full
	outboxSize      int               // bytes of the outbox's messages
	outboxClosed    bool              // the worker has quit: SendMessage fails

	hooks      *testHooks    // the test's start and stop hooks
	messages   *messageQueue // custom messages from the master, for their handlers
	dropped    int64         // requests of reports that could not be encoded
	lastReport time.Time     // the time of the latest report, which no later one precedes

	// acked mirrors registered for the reports goroutine: reports go out
	// only to a master that has registered this worker (pending.go).
	acked atomic.Bool

	loopState
}

// loopState is the part of a session that only its loop goroutine
// touches: the state machine that step moves on.
type loopState struct {
	registered     bool // acked since the last registration began; set with setRegistered
	everAcked      bool
	connected      bool
	reconnectAsked bool // the master sent reconnect: it still knows this worker
	epoch          int  // counts registrations with a master that may be new
	job            *job
	testCtx        context.Context    // the running test's, for hooks; Background between tests
	endTestCtx     context.CancelFunc // cancels testCtx
	lastSpawn      float64            // wire timestamp of the last applied spawn
	stopTimeout    time.Duration
	optionsWarned  map[string]bool
	fdWarned       bool // the open-file limit warning was logged

	// The times the loop watches; zero when unset. nextDeadline says
	// when the loop must wake next.
	lostSince      time.Time // when the master was lost; zero while registered
	noMasterLogged time.Time // last "still no master" line
	stopUsersAt    time.Time // no master by then: stop the users
	ackBy          time.Time // no ack by then: connect again
	resumeBy       time.Time // stop users unless a spawn arrives by then
	masterBeat     time.Time // last master heartbeat on this registration
	lastTick       time.Time // when the loop last woke for a deadline, to notice a frozen process
}

func (s *session) setState(state string) { s.state.Store(state) }
func (s *session) currentState() string {
	if state, ok := s.state.Load().(string); ok {
		return state
	}
	return stateReady // before the loop began
}

// setRegistered records whether the master has registered this worker.
func (s *session) setRegistered(v bool) {
	s.registered = v
	s.acked.Store(v)
}

// send encodes m and queues it; failures are logged at debug level, since
// the transport reports disconnects as events.
func (s *session) send(m protocol.Message) error {
	body, err := protocol.Encode(s.nodeID, m)
	if err != nil {
		s.logger.Error("cannot encode message; not sent", "type", m.Type(), "err", err)
		return err
	}
	if err := s.conn.Send(body); err != nil {
		s.logger.Debug("message not sent", "type", m.Type(), "err", err)
		return err
	}
	return nil
}

// run is the session loop. It returns nil after the master's quit, or the
// context's error after a graceful shutdown. It is the only place that
// reads the clock for the state machine: each event is stepped at the
// time it was received, and one timer wakes the loop at the next deadline.
func (s *session) run(ctx context.Context) error {
	s.begin(time.Now())
	stopBackground := s.startBackground()
	defer stopBackground()
	defer close(s.loopExit)
	timer := time.NewTimer(loopTick)
	defer timer.Stop()
	for {
		timer.Reset(time.Until(s.nextDeadline()))
		events, err := s.await(ctx, timer.C)
		if err != nil {
			return err
		}
		for _, ev := range events {
			if end := s.step(time.Now(), ev); end != nil {
				s.finish(end.within)
				return end.err
			}
		}
	}
}

// await waits for the next channel receive and returns it as events: the
// connection changes already announced come first.
func (s *session) await(ctx context.Context, timer <-chan time.Time) ([]event, error) {
	select {
	case <-ctx.Done():
		return []event{shutdownAsked{ctx.Err()}}, nil
	case c, ok := <-s.conn.Events():
		if !ok {
			return nil, errTransportClosed
		}
		return []event{connChanged{c}}, nil
	case <-timer:
		return []event{timerFired{}}, nil
	case j := <-s.finished:
		// A job may finish after the connection changed: see the
		// connection's news first, so that a spawning_complete never goes
		// to a master that has not registered this worker.
		return s.afterConnNews(jobFinished{j})
	case body, ok := <-s.conn.Recv():
		if !ok {
			return nil, errTransportClosed
		}
		return s.afterConnNews(received{body})
	}
}

// afterConnNews returns the connection changes already announced, then
// ev. A body read from Recv may predate a reconnect that the loop has not
// seen yet; stepping the changes first keeps it from being taken for the
// new master's (a spawning sent to a master that does not know this
// worker kills its receive loop).
func (s *session) afterConnNews(ev event) ([]event, error) {
	var events []event
	for {
		select {
		case c, ok := <-s.conn.Events():
			if !ok {
				return nil, errTransportClosed
			}
			events = append(events, connChanged{c})
		default:
			return append(events, ev), nil
		}
	}
}

// begin prepares the session for its loop, which starts at now with no
// master.
func (s *session) begin(now time.Time) {
	if s.limiter == nil {
		s.limiter = newLogLimiter(badInputLogEvery)
	}
	if s.maxUsers <= 0 {
		s.maxUsers = DefaultMaxUsers
	}
	s.setState(stateReady)
	s.reportNow = make(chan struct{}, 1)
	s.finished = make(chan *job, 4)
	s.loopExit = make(chan struct{})
	s.lastTick = now
	s.lost(now)
	s.logger.Info("waiting for the Locust master", "master", s.endpoint, "node_id", s.nodeID)
}

// startBackground starts the heartbeats and the reports, and returns the
// function that stops them and waits until they have.
func (s *session) startBackground() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.heartbeats(ctx) }()
	go func() { defer wg.Done(); s.reports(ctx) }()
	return func() {
		cancel()
		wg.Wait()
	}
}

// ending is how a step ends the session: users get within to stop, then
// the final report and quit go out, and run returns err.
type ending struct {
	within time.Duration
	err    error
}

// finish ends the session: it stops the job and the users, bounded by
// within (plus cancelGrace), and sends the final report and quit.
func (s *session) finish(within time.Duration) {
	s.endTest()
	if s.job != nil {
		s.job.cancel()
		select {
		case <-s.job.done:
		case <-time.After(within + stopHookBound):
			// A hook that ignores its context must not keep the master
			// from hearing the worker's quit.
			s.logger.Warn("quitting while the session's job (a hook?) is still running", "waited", within+stopHookBound)
		}
	}
	s.stopUsersBounded(within)
	s.stopHooksBounded(stopHookBound)
	s.finalReport(time.Now())
	s.logHeartbeatGaps()
}

// stopUsersBounded stops every user, gracefully within the given time,
// and returns at most cancelGrace after that even if some users ignore
// their cancelled context, so that the final report is never late for
// them; their stop goes on in the background.
func (s *session) stopUsersBounded(within time.Duration) {
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		s.pool.stopAllWithin(context.Background(), within)
	}()
	t := time.NewTimer(within + cancelGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		s.logger.Warn("some users ignore their cancelled context; sending the final report without waiting for them",
			"waited", within+cancelGrace)
	}
	// Fast requests still in flight cannot be cut short: record them as
	// cancelled now, before the final report, not at the watcher's next
	// look.
	s.pool.transport.recordCancelled()
}

// finalReport sends the last statistics and says goodbye.
func (s *session) finalReport(now time.Time) {
	if s.beforeQuit != nil {
		s.beforeQuit()
	}
	s.reportStats(now)
	s.send(protocol.QuitMessage{})
}

// reports sends statistics every three seconds, and when asked, until ctx
// is done.
func (s *session) reports(ctx context.Context) {
	t := time.NewTicker(reportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reportStats(time.Now())
		case <-s.reportNow:
			s.reportStats(time.Now())
		}
	}
}

// askReport asks the reports goroutine for a report at once.
func (s *session) askReport() {
	select {
	case s.reportNow <- struct{}{}:
	default:
	}
}

// reportStats sends what was recorded up to now since the last report. A
// report is kept until the transport has written it: reports that cannot
// be sent, or were dropped with their connection, are sent again with the
// next one (after the next registration); beyond maxPendingReports they
// are merged, and one too large for a message is split (pending.go).
func (s *session) reportStats(now time.Time) {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	// The loop and the reports goroutine read the clock apart: a report
	// never starts before the previous one ended.
	now = maxTime(now, s.lastReport)
	s.lastReport = now
	rep, counts := s.collector.Report(now), s.pool.counts()
	logStatus(s.logger, s.currentState(), counts, rep)
	s.queueReportLocked(now, statsMessage(rep, counts))
	s.flushOutboxLocked()
}

func maxTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

func sum(counts map[string]int64) int64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	return n
}
