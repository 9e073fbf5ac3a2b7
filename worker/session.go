package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// maxPendingReports bounds the reports kept while they cannot be sent.
	maxPendingReports = 200
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

	state atomic.Value // string: what heartbeats report

	statsMu sync.Mutex
	pending []protocol.StatsMessage

	// Owned by the loop goroutine.
	registered    bool // acked since the last connect or client_stopped
	everAcked     bool
	epoch         int
	job           *job
	lastSpawn     time.Time
	stopTimeout   time.Duration
	custom        []option
	optionsWarned map[string]bool
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
func (s *session) currentState() string  { return s.state.Load().(string) }

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
// context's error after a graceful shutdown.
func (s *session) run(ctx context.Context) error {
	s.setState(stateReady)
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
	ackTimer := time.NewTimer(time.Hour)
	ackTimer.Stop()
	readyTimer := time.NewTimer(time.Hour)
	readyTimer.Stop()
	waiting := time.NewTicker(waitingLogEvery)
	defer waiting.Stop()
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
			defer close(j.done)
			if prev != nil {
				<-prev.done
			}
			work(jctx)
			jobs <- jobDone{j}
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

	for {
		select {
		case <-ctx.Done():
			s.logger.Info("shutting down: stopping users", "stop_timeout", s.stopTimeout)
			if s.job != nil {
				s.job.cancel()
				waitJob()
			}
			s.pool.stopAll(context.Background())
			s.finalReport()
			return ctx.Err()

		case ev, ok := <-s.conn.Events():
			if !ok {
				return errors.New("worker: transport closed")
			}
			switch ev.Kind {
			case protocol.Connected:
				s.epoch++
				s.registered = false
				readyTimer.Stop()
				if s.everAcked {
					s.logger.Warn("reconnected to the master; registering again", "master", s.endpoint)
				}
				if s.currentState() != stateReady || s.job != nil {
					// A new master knows nothing of the old test.
					startJob("reset", func(ctx context.Context) { s.pool.stopAllWithin(ctx, 0) })
				}
				s.setState(stateReady)
				sendClientReady()
			case protocol.Disconnected:
				s.registered = false
				ackTimer.Stop()
				s.logger.Warn("lost the connection to the master", "master", s.endpoint, "err", ev.Err)
			}

		case <-ackTimer.C:
			s.logger.Warn("no ack from the master; connecting again", "master", s.endpoint, "waited", ackTimeout)
			s.conn.Reset()

		case <-waiting.C:
			if !s.registered && !s.everAcked {
				s.logger.Info("still waiting for the Locust master", "master", s.endpoint)
			}

		case <-readyTimer.C:
			s.setState(stateReady)
			sendClientReady()

		case done := <-jobs:
			if done.job != s.job {
				continue // superseded
			}
			s.job = nil
			if done.job.epoch != s.epoch || !s.registered {
				continue
			}
			switch done.job.kind {
			case "spawn":
				counts := s.pool.counts()
				s.send(protocol.SpawningCompleteMessage{UserClassesCount: counts, UserCount: sum(counts)})
				s.setState(stateRunning)
				s.logger.Info("spawning complete", "users", counts)
			case "stop":
				s.reportStats()
				s.send(protocol.ClientStoppedMessage{})
				s.registered = false
				s.setState(stateReady)
				readyTimer.Reset(s.stopTimeout)
				s.logger.Info("users stopped")
			}

		case body, ok := <-s.conn.Recv():
			if !ok {
				return errors.New("worker: transport closed")
			}
			env, err := protocol.Decode(body)
			if err != nil {
				s.logger.Warn("ignoring a message from the master that cannot be decoded", "err", err, "bytes", len(body))
				continue
			}
			if env.NodeID != s.nodeID {
				s.logger.Warn("ignoring a message for another node", "type", env.Message.Type(), "node_id", env.NodeID)
				continue
			}
			switch m := env.Message.(type) {
			case protocol.AckMessage:
				ackTimer.Stop()
				if s.registered {
					continue
				}
				s.registered = true
				if !s.everAcked {
					s.logger.Info("connected to the Locust master", "master", s.endpoint, "index", m.Index)
				}
				s.everAcked = true
				go s.reportStats()

			case protocol.SpawnMessage:
				if !s.registered {
					s.logger.Warn("ignoring spawn: not registered with the master")
					continue
				}
				s.send(protocol.SpawningMessage{})
				if !m.Timestamp.After(s.lastSpawn) {
					s.logger.Info("discarding a spawn message with an older or equal timestamp")
					continue
				}
				s.lastSpawn = m.Timestamp
				s.applySpawnOptions(m)
				s.setState(stateSpawning)
				target := m.UserClassesCount
				s.logger.Info("spawning", "target", target)
				startJob("spawn", func(ctx context.Context) { s.pool.setTarget(ctx, target) })

			case protocol.StopMessage:
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
				s.pool.stopAllWithin(context.Background(), quitStopTimeout)
				s.finalReport()
				return nil

			case protocol.ReconnectMessage:
				s.logger.Warn("the master asked to reconnect")
				s.conn.Reset()

			case protocol.MasterHeartbeatMessage, protocol.SpawningCompleteMessage, protocol.UpdateUserClassMessage:
				// Newer masters send these; nothing here depends on them.

			default:
				s.logger.Debug("ignoring a message of unknown type", "type", env.Message.Type())
			}
		}
	}
}

// applySpawnOptions takes the host, stop timeout and options from a spawn.
func (s *session) applySpawnOptions(m protocol.SpawnMessage) {
	host := m.Host
	if host == "" {
		host = s.host
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

// finalReport sends the last statistics and says goodbye.
func (s *session) finalReport() {
	s.reportStats()
	s.send(protocol.QuitMessage{})
}

// heartbeats sends a heartbeat every second until ctx is done.
func (s *session) heartbeats(ctx context.Context) {
	var sampler processSampler
	sampler.sample(time.Now())
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cpu, rss := sampler.sample(now)
			s.send(protocol.HeartbeatMessage{State: s.currentState(), CPUUsage: cpu, MemoryUsage: rss})
		}
	}
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
		}
	}
}

// reportStats sends what was recorded since the last report. Reports that
// cannot be sent are kept, oldest first, and sent before the next one.
func (s *session) reportStats() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	s.pending = append(s.pending, statsMessage(s.collector.Report(time.Now()), s.pool.counts()))
	for len(s.pending) > 0 {
		if err := s.send(s.pending[0]); err != nil {
			break
		}
		s.pending = s.pending[1:]
	}
	if n := len(s.pending) - maxPendingReports; n > 0 {
		s.logger.Error("dropping statistics reports the master could not take", "reports", n)
		s.pending = slices.Delete(s.pending, 0, n)
	}
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
