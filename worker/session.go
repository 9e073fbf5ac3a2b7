package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// Timers of the master protocol (protocol notes §4).
const (
	heartbeatInterval = time.Second
	reportInterval    = 3 * time.Second
	ackTimeout        = 5 * time.Second
	waitingLogEvery   = 10 * time.Second
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
)

// session is one worker's conversation with a master. Its loop goroutine
// owns all protocol decisions; user work runs in jobs that report back to
// the loop, so the loop never blocks on users.
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
	// and logBudget all of them together.
	limiter   *logLimiter
	logBudget lineBudget

	state atomic.Value // string: what heartbeats report
	gaps  gapMeter     // the gaps between heartbeats (heartbeat.go)
	// beforeQuit, if set, runs before the final report: it sends what
	// is held back (the exceptions' counts).
	beforeQuit func()

	reportNow chan struct{} // asks the reports goroutine for a report at once

	statsMu sync.Mutex
	pending []*pendingReport // until written; see pending.go
	dropped int64            // requests of reports that could not be encoded

	// acked mirrors registered for the reports goroutine: reports go out
	// only to a master that has registered this worker (pending.go).
	acked atomic.Bool

	// Owned by the loop goroutine.
	registered     bool // acked since the last connect or client_stopped; set with setRegistered
	everAcked      bool
	connected      bool
	reconnectAsked bool      // the master sent reconnect: it still knows this worker
	lostSince      time.Time // when the master was lost; zero while registered
	noMasterLogged time.Time // last "still no master" line
	resumeBy       time.Time // stop users unless a spawn arrives by then
	masterBeat     time.Time // last master heartbeat on this registration
	lastTick       time.Time // the loop's previous one-second tick, to notice a frozen process
	epoch          int
	job            *job
	lastSpawn      float64 // wire timestamp of the last applied spawn
	stopTimeout    time.Duration
	custom         []option
	optionsWarned  map[string]bool
	fdWarned       bool // the open-file limit warning was logged
}

// job is user work started by the loop: applying a spawn, or stopping.
type job struct {
	kind   string
	epoch  int
	cancel context.CancelFunc
	done   chan struct{}
}

type jobDone struct{ job *job }

func (s *session) setState(state string) { s.state.Store(state) }

// setRegistered records whether the master has registered this worker.
func (s *session) setRegistered(v bool) {
	s.registered = v
	s.acked.Store(v)
}
func (s *session) currentState() string { return s.state.Load().(string) }

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

// countsForLog returns user counts fit for one log line: the counts
// themselves for a few classes, else the total and the number of classes
// (a master's message may name any number of them).
func countsForLog(counts map[string]int64) any {
	if len(counts) <= 20 {
		return counts
	}
	return fmt.Sprintf("%d users in %d classes", sum(counts), len(counts))
}

// peerText cuts a string the master chose (a message type, a class
// name in an error) to a length fit for one log line.
func peerText(s string) string { return stats.Truncate(s, 256) }

// warnLimited logs a warning unless one with the same key was logged in
// the last badInputLogEvery.
//
// Keys may hold what a peer chose (an error naming its class), so every
// such line also spends from one budget, logBudget: a peer that makes
// every message different still gets no more than badInputLines lines
// per badInputLogEvery, and the count of the others.
func (s *session) warnLimited(key, msg string, args ...any) {
	if !s.limiter.allow(stats.Truncate(key, 256)) {
		return
	}
	ok, suppressed := s.logBudget.take(time.Now())
	if suppressed > 0 {
		s.logger.Warn("more log lines about the master's messages were suppressed", "lines", suppressed, "per", badInputLogEvery)
	}
	if ok {
		s.logger.Warn(msg, args...)
	}
}

// badInputLines is how many warnings about the master's messages the
// session logs per badInputLogEvery at most.
const badInputLines = 50

// lineBudget lets n lines through per period, and counts the others.
type lineBudget struct {
	mu         sync.Mutex
	start      time.Time
	used       int
	suppressed int64
}

// take spends one line at now. It returns whether the line may be logged,
// and, once per period, how many were suppressed in the previous one.
func (b *lineBudget) take(now time.Time) (ok bool, suppressed int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.start) >= badInputLogEvery {
		suppressed = b.suppressed
		b.start, b.used, b.suppressed = now, 0, 0
	}
	if b.used >= badInputLines {
		b.suppressed++
		return false, suppressed
	}
	b.used++
	return true, suppressed
}

// hasUsers reports whether users run or are being started.
func (s *session) hasUsers() bool {
	return sum(s.pool.counts()) > 0 || (s.job != nil && s.job.kind == "spawn")
}

// run is the session loop. It returns nil after the master's quit, or the
// context's error after a graceful shutdown.
func (s *session) run(ctx context.Context) error {
	if s.limiter == nil {
		s.limiter = newLogLimiter(badInputLogEvery)
	}
	if s.maxUsers <= 0 {
		s.maxUsers = DefaultMaxUsers
	}
	s.setState(stateReady)
	s.reportNow = make(chan struct{}, 1)
	bg, stopBackground := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.heartbeats(bg) }()
	go func() { defer wg.Done(); s.reports(bg) }()
	defer func() {
		stopBackground()
		wg.Wait()
	}()

	jobs := make(chan jobDone, 4)
	// loopExit lets finished jobs give up reporting once the loop is gone.
	loopExit := make(chan struct{})
	defer close(loopExit)
	ackTimer := time.NewTimer(time.Hour)
	ackTimer.Stop()
	readyTimer := time.NewTimer(time.Hour)
	readyTimer.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	started := time.Now()
	s.lostSince = started
	s.noMasterLogged = started
	s.logger.Info("waiting for the Locust master", "master", s.endpoint, "node_id", s.nodeID)

	startJob := func(kind string, work func(ctx context.Context)) {
		prev := s.job
		if prev != nil {
			prev.cancel()
		}
		jctx, cancel := context.WithCancel(context.Background())
		j := &job{kind: kind, epoch: s.epoch, cancel: cancel, done: make(chan struct{})}
		s.job = j
		go func() {
			if prev != nil {
				<-prev.done
			}
			work(jctx)
			// done is closed before the report: the loop may be waiting
			// for it (quit, shutdown) instead of reading jobs.
			close(j.done)
			select {
			case jobs <- jobDone{j}:
			case <-loopExit:
			}
		}()
	}
	waitJob := func() {
		if s.job != nil {
			<-s.job.done
		}
	}
	sendClientReady := func() {
		s.send(protocol.ClientReadyMessage{Version: s.version})
		ackTimer.Reset(ackTimeout)
	}
	// stopUsers stops every user in a job, without telling the master.
	stopUsers := func(within time.Duration) {
		s.resumeBy = time.Time{}
		s.setState(stateReady)
		startJob("reset", func(ctx context.Context) { s.pool.stopAllWithin(ctx, within) })
	}
	// lost records that no master knows this worker any more.
	lost := func(now time.Time) {
		if s.lostSince.IsZero() {
			s.lostSince, s.noMasterLogged = now, now
		}
		if s.noMasterTimeout < 0 && s.hasUsers() {
			s.logger.Warn("no master: stopping users at once (NoMasterTimeout is negative)")
			stopUsers(-1)
		}
	}

	// handleEvent follows the transport's connection changes.
	handleEvent := func(ev protocol.Event) {
		switch ev.Kind {
		case protocol.Connected:
			s.connected = true
			readyTimer.Stop()
			if s.reconnectAsked && s.registered {
				// The master asked for a new socket and still knows this
				// worker: registering again would count it twice.
				s.reconnectAsked = false
				s.logger.Info("reconnected to the master, as it asked", "master", s.endpoint)
				return
			}
			s.reconnectAsked = false
			s.epoch++
			s.setRegistered(false)
			s.lastSpawn = 0 // a new master has its own clock
			if s.everAcked {
				s.logger.Warn("connected to the master again; registering", "master", s.endpoint)
			}
			if !s.hasUsers() {
				s.setState(stateReady)
			}
			sendClientReady()
		case protocol.Disconnected:
			s.connected = false
			ackTimer.Stop()
			if s.reconnectAsked && s.registered {
				return
			}
			s.reconnectAsked = false
			s.setRegistered(false)
			s.resumeBy = time.Time{}
			if s.everAcked {
				s.warnLimited("disconnected", "lost the connection to the master; reconnecting", "master", s.endpoint, "err", ev.Err)
			}
			lost(time.Now())
		}
	}
	// drainEvents handles the connection changes already announced. A body
	// read from Recv may predate a reconnect that the loop has not seen
	// yet; handling the events first keeps it from being taken for the new
	// master's (a spawning sent to a master that does not know this worker
	// kills its receive loop). It reports false when the transport closed.
	drainEvents := func() bool {
		for {
			select {
			case ev, ok := <-s.conn.Events():
				if !ok {
					return false
				}
				handleEvent(ev)
			default:
				return true
			}
		}
	}

	for {
		select {
		case <-ctx.Done():
			s.shutdown(waitJob)
			return ctx.Err()

		case ev, ok := <-s.conn.Events():
			if !ok {
				return errors.New("worker: transport closed")
			}
			handleEvent(ev)

		case <-ackTimer.C:
			s.warnLimited("no-ack", "no ack from the master; connecting again", "master", s.endpoint, "waited", ackTimeout)
			s.conn.Reset()

		case now := <-tick.C:
			s.tick(now, started, stopUsers, sendClientReady, lost)

		case <-readyTimer.C:
			if !s.connected {
				continue // Connected will register
			}
			s.setState(stateReady)
			sendClientReady()

		case done := <-jobs:
			// A job may finish after the connection changed: see the
			// connection's news first, so that a spawning_complete never
			// goes to a master that has not registered this worker.
			if !drainEvents() {
				return errors.New("worker: transport closed")
			}
			if done.job != s.job {
				continue // superseded
			}
			s.job = nil
			if done.job.epoch != s.epoch || !s.registered {
				// The master that asked is gone; heartbeats still tell the
				// truth about the users.
				if done.job.kind == "spawn" && s.currentState() == stateSpawning {
					if sum(s.pool.counts()) > 0 {
						s.setState(stateRunning)
					} else {
						s.setState(stateReady)
					}
				}
				continue
			}
			switch done.job.kind {
			case "spawn":
				counts := s.pool.counts()
				s.send(protocol.SpawningCompleteMessage{UserClassesCount: counts, UserCount: sum(counts)})
				s.setState(stateRunning)
				s.logger.Info("spawning complete", "users", countsForLog(counts))
			case "stop":
				s.reportStats()
				s.send(protocol.ClientStoppedMessage{})
				s.setRegistered(false)
				s.setState(stateReady)
				// A Python worker sleeps stop_timeout before client_ready;
				// in that window the master has forgotten it and its quit
				// is lost. The users are stopped already, so register at
				// once: the master only adds a ready worker while stopping.
				readyTimer.Reset(0)
				s.logger.Info("users stopped")
				s.logHeartbeatGaps()
			}

		case body, ok := <-s.conn.Recv():
			if !ok || !drainEvents() {
				return errors.New("worker: transport closed")
			}
			env, err := protocol.Decode(body)
			if err != nil {
				s.warnLimited("decode:"+err.Error(), "ignoring a message from the master that cannot be decoded",
					"err", peerText(err.Error()), "bytes", len(body))
				continue
			}
			if env.NodeID != s.nodeID {
				s.warnLimited("node:"+env.Message.Type(), "ignoring a message for another node",
					"type", peerText(env.Message.Type()), "node_id", peerText(env.NodeID))
				continue
			}
			switch m := env.Message.(type) {
			case protocol.AckMessage:
				ackTimer.Stop()
				if s.registered {
					continue
				}
				s.setRegistered(true)
				now := time.Now()
				switch {
				case !s.everAcked:
					s.logger.Info("connected to the Locust master", "master", s.endpoint, "index", m.Index)
				case s.lostSince.IsZero():
					// The registration a stop asks for: the master never lost us.
					s.logger.Debug("registered with the master for its next test", "index", m.Index)
				default:
					s.logger.Info("registered with the master again", "master", s.endpoint, "index", m.Index,
						"without_master", now.Sub(s.lostSince).Round(time.Millisecond))
				}
				s.everAcked = true
				s.lostSince = time.Time{}
				s.masterBeat = time.Time{}
				if s.hasUsers() {
					// A master still running the test sends a spawn at once.
					s.resumeBy = now.Add(resumeWindow)
					s.logger.Info("users kept running while the master was away; waiting for its spawn",
						"users", s.pool.counts(), "within", resumeWindow)
				}
				select { // the first report right after the ack, as Python does
				case s.reportNow <- struct{}{}:
				default:
				}

			case protocol.SpawnMessage:
				if !s.registered {
					s.warnLimited("spawn-unregistered", "ignoring spawn: not registered with the master")
					continue
				}
				if err := s.checkSpawn(m); err != nil {
					s.warnLimited("bad-spawn:"+err.Error(), "ignoring a spawn message", "err", peerText(err.Error()))
					continue
				}
				s.resumeBy = time.Time{}
				s.send(protocol.SpawningMessage{})
				if m.Seconds() <= s.lastSpawn { // as Python compares: the wire floats
					s.warnLimited("stale-spawn", "discarding a spawn message with an older or equal timestamp")
					continue
				}
				spread := spawnStepSpread(s.lastSpawn, m.Seconds())
				s.lastSpawn = m.Seconds()
				s.applySpawnOptions(m)
				if s.currentState() == stateReady { // a new test: the caps on rows start afresh
					s.collector.NewTest()
				}
				s.setState(stateSpawning)
				target := m.UserClassesCount
				s.logger.Info("spawning", "target", countsForLog(target), "spread_over", spread)
				if !s.fdWarned {
					s.fdWarned = warnFileLimit(s.logger, s.pool.ownConnectionUsers(target))
				}
				startJob("spawn", func(ctx context.Context) { s.pool.setTargetOver(ctx, target, spread) })

			case protocol.StopMessage:
				s.resumeBy = time.Time{}
				if !s.registered {
					s.warnLimited("stop-unregistered", "ignoring stop: not registered with the master")
					continue
				}
				s.logger.Info("the master asked to stop")
				startJob("stop", func(ctx context.Context) { s.pool.stopAll(ctx) })

			case protocol.QuitMessage:
				s.logger.Info("the master asked to quit")
				// The master waits only 0.5 s: send what is recorded at once,
				// then give running tasks a moment and send the rest.
				s.reportStats()
				if s.job != nil {
					s.job.cancel()
					waitJob()
				}
				s.stopUsersBounded(quitStopTimeout)
				s.finalReport()
				s.logHeartbeatGaps()
				return nil

			case protocol.ReconnectMessage:
				s.logger.Warn("the master asked to reconnect: opening a new connection with the same identity")
				// What is queued would be dropped with the old connection.
				fctx, cancel := context.WithTimeout(context.Background(), reconnectFlushTimeout)
				_ = s.conn.Flush(fctx)
				cancel()
				s.reconnectAsked = s.registered
				s.conn.Reset()

			case protocol.MasterHeartbeatMessage:
				s.masterBeat = time.Now()

			case protocol.SpawningCompleteMessage, protocol.UpdateUserClassMessage:
				// Newer masters send these; nothing here depends on them.

			default:
				s.warnLimited("type:"+env.Message.Type(), "ignoring a message of unknown type from the master",
					"type", peerText(env.Message.Type()))
			}
		}
	}
}

// tick runs once a second on the loop: it says that the worker waits for
// its master, stops users that waited too long for one, and watches the
// master's heartbeats.
func (s *session) tick(now, started time.Time, stopUsers func(time.Duration), sendClientReady func(), lost func(time.Time)) {
	if !s.lostSince.IsZero() && now.Sub(s.noMasterLogged) >= waitingLogEvery {
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
	if !s.lostSince.IsZero() && s.noMasterTimeout >= 0 && now.Sub(s.lostSince) >= s.noMasterTimeout && s.hasUsers() {
		s.logger.Warn("no master for too long: stopping users; the worker keeps waiting for a master",
			"waited", now.Sub(s.lostSince).Round(time.Second), "timeout", s.noMasterTimeout)
		stopUsers(-1)
	}
	if !s.resumeBy.IsZero() && !now.Before(s.resumeBy) {
		s.resumeBy = time.Time{}
		if s.registered && s.hasUsers() {
			s.logger.Warn("the master did not resume the test after the worker registered again; stopping users until it starts one")
			stopUsers(-1)
		}
	}
	frozen := !s.lastTick.IsZero() && now.Sub(s.lastTick) > frozenTimeout
	s.lastTick = now
	if s.registered && frozen {
		// The process was stopped or starved (SIGSTOP, a paused VM): a
		// 2.12 master deletes a worker silent for about 64 s, and then
		// a spawning_complete from it kills the master's receive loop.
		s.logger.Warn("this worker was frozen; registering with the master again", "master", s.endpoint)
		s.setRegistered(false)
		s.epoch++
		s.lastSpawn = 0
		lost(now)
		sendClientReady()
		return
	}
	if s.registered && !s.masterBeat.IsZero() && now.Sub(s.masterBeat) > masterHeartbeatTimeout {
		// This master sends heartbeats and stopped: it was restarted behind
		// the same connection, or deleted this worker.
		s.warnLimited("master-heartbeat", "no heartbeat from the master; registering again",
			"master", s.endpoint, "silent_for", now.Sub(s.masterBeat).Round(time.Millisecond))
		s.masterBeat = time.Time{}
		s.setRegistered(false)
		s.epoch++
		s.lastSpawn = 0
		lost(now)
		sendClientReady()
	}
}

// checkSpawn rejects spawn messages the worker must not obey: negative or
// absurd user counts.
func (s *session) checkSpawn(m protocol.SpawnMessage) error {
	var total int64
	for _, name := range slices.Sorted(maps.Keys(m.UserClassesCount)) {
		n := m.UserClassesCount[name]
		if n < 0 {
			return fmt.Errorf("class %q: negative user count %d", name, n)
		}
		if n > s.maxUsers-total {
			return fmt.Errorf("%w: the spawn asks for more than %d users (class %q: %d); raise Worker.MaxUsers if this is meant",
				errTooManyUsers, s.maxUsers, name, n)
		}
		total += n
	}
	return nil
}

// errTooManyUsers is wrapped by spawns asking for more than MaxUsers.
var errTooManyUsers = errors.New("too many users")

// shutdown stops the worker on its own initiative (ctx cancelled: SIGINT,
// SIGTERM): statistics go out at once, users get the stop timeout but at
// most shutdownStopTimeout to finish their task, then the final report and
// quit follow, so the master hears the quit within a second.
func (s *session) shutdown(waitJob func()) {
	within := min(max(s.stopTimeout, 0), shutdownStopTimeout)
	s.logger.Info("shutting down: stopping users", "within", within)
	s.reportStats()
	if s.job != nil {
		s.job.cancel()
		waitJob()
	}
	s.stopUsersBounded(within)
	s.finalReport()
	s.logHeartbeatGaps()
}

// applySpawnOptions takes the host, stop timeout and options from a spawn.
func (s *session) applySpawnOptions(m protocol.SpawnMessage) {
	host := m.Host
	if host == "" {
		host = s.host
	} else if err := checkBase(host); err != nil && !s.optionsWarned["host "+host] {
		// Once per host: every request fails, each saying why.
		s.logger.Error("the master's host is not a URL, so every request will fail: give the master's --host a scheme, e.g. http://"+host, "host", host)
		if s.optionsWarned == nil {
			s.optionsWarned = map[string]bool{}
		}
		s.optionsWarned["host "+host] = true
	}
	s.stopTimeout = m.StopTimeout
	for _, o := range s.custom {
		if v, ok := m.ParsedOptions[o.key()]; ok {
			if err := o.setFromMaster(v); err != nil {
				s.logger.Error("ignoring a custom option from the master", "err", err)
			}
		} else if s.optionsWarned == nil || !s.optionsWarned[o.key()] {
			s.logger.Warn("the master's command line does not declare this option; using the worker's value",
				"option", o.key(), "value", o.String())
			if s.optionsWarned == nil {
				s.optionsWarned = map[string]bool{}
			}
			s.optionsWarned[o.key()] = true
		}
	}
	s.pool.configure(host, m.StopTimeout, tagFilter{
		include: stringList(m.ParsedOptions["tags"]),
		exclude: stringList(m.ParsedOptions["exclude_tags"]),
	})
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
func (s *session) finalReport() {
	if s.beforeQuit != nil {
		s.beforeQuit()
	}
	s.reportStats()
	s.send(protocol.QuitMessage{})
}

// reports sends statistics every three seconds until ctx is done.
func (s *session) reports(ctx context.Context) {
	t := time.NewTicker(reportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reportStats()
		case <-s.reportNow:
			s.reportStats()
		}
	}
}

// reportStats sends what was recorded since the last report. A report is
// kept until the transport has written it: reports that cannot be sent, or
// were dropped with their connection, are sent again with the next one
// (after the next registration); beyond maxPendingReports they are merged,
// and one too large for a message is split (pending.go).
func (s *session) reportStats() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	rep, counts := s.collector.Report(time.Now()), s.pool.counts()
	logStatus(s.logger, s.currentState(), counts, rep)
	s.queueReportLocked(statsMessage(rep, counts))
}

func sum(counts map[string]int64) int64 {
	var n int64
	for _, c := range counts {
		n += c
	}
	return n
}

// stringList reads a list of strings from a parsed option (nil, a list,
// or a comma-separated string).
func stringList(v any) []string {
	switch v := v.(type) {
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	case []string:
		return v
	case string:
		if v == "" {
			return nil
		}
		return strings.Split(v, ",")
	}
	return nil
}
