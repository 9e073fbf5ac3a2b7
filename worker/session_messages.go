package worker

// This file owns what the session does with each message from the master
// (docs/protocol.md, §3.2 "Master to worker"), and the checks and options
// a spawn carries. The state machine these handlers move on is in
// session_events.go; like it, they get the time and never read the clock.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golocust/golocust/protocol"
)

// onBody decodes a message from the master and handles it. It returns how
// the session ends (on quit), or nil.
func (s *session) onBody(now time.Time, body []byte) *ending {
	env, err := protocol.Decode(body)
	if err != nil {
		s.warnLimited(now, "decode:"+err.Error(), "ignoring a message from the master that cannot be decoded",
			"err", peerText(err.Error()), "bytes", len(body))
		return nil
	}
	if env.NodeID != s.nodeID {
		s.warnLimited(now, "node:"+env.Message.Type(), "ignoring a message for another node",
			"type", peerText(env.Message.Type()), "node_id", peerText(env.NodeID))
		return nil
	}
	switch m := env.Message.(type) {
	case protocol.AckMessage:
		s.onAck(now, m)
	case protocol.SpawnMessage:
		s.onSpawn(now, m)
	case protocol.StopMessage:
		s.onStop(now)
	case protocol.QuitMessage:
		s.logger.Info("the master asked to quit")
		// The master waits only 0.5 s: send what is recorded at once,
		// then give running tasks a moment and send the rest.
		s.reportStats(now)
		return &ending{within: quitStopTimeout}
	case protocol.ReconnectMessage:
		s.onReconnect(now)
	case protocol.MasterHeartbeatMessage:
		s.masterBeat = now
	case protocol.CustomMessage:
		s.onCustom(now, m)
	case protocol.UpdateUserClassMessage:
		s.onUpdateUserClass(now, m)
	case protocol.SpawningCompleteMessage:
		// Newer masters send these; nothing here depends on them.
	default:
		s.warnLimited(now, "type:"+env.Message.Type(), "ignoring a message of unknown type from the master",
			"type", peerText(env.Message.Type()))
	}
	return nil
}

// onAck completes a registration.
func (s *session) onAck(now time.Time, m protocol.AckMessage) {
	s.ackBy = time.Time{}
	if s.registered {
		return
	}
	s.setRegistered(true)
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
	s.found()
	s.masterBeat = time.Time{}
	if s.hasUsers() {
		// A master still running the test sends a spawn at once.
		s.resumeBy = now.Add(resumeWindow)
		s.logger.Info("users kept running while the master was away; waiting for its spawn",
			"users", s.pool.counts(), "within", resumeWindow)
	}
	s.askReport() // the first report right after the ack, as Python does
}

// onSpawn obeys a spawn: it starts or stops users to reach the master's
// counts, spread over the master's step.
func (s *session) onSpawn(now time.Time, m protocol.SpawnMessage) {
	if !s.registered {
		s.warnLimited(now, "spawn-unregistered", "ignoring spawn: not registered with the master")
		return
	}
	if err := s.checkSpawn(m); err != nil {
		s.warnLimited(now, "bad-spawn:"+err.Error(), "ignoring a spawn message", "err", peerText(err.Error()))
		return
	}
	s.resumeBy = time.Time{}
	s.send(protocol.SpawningMessage{})
	if m.Seconds() <= s.lastSpawn { // as Python compares: the wire floats
		s.warnLimited(now, "stale-spawn", "discarding a spawn message with an older or equal timestamp")
		return
	}
	spread := spawnStepSpread(s.lastSpawn, m.Seconds())
	s.lastSpawn = m.Seconds()
	s.applySpawnOptions(m)
	newTest := s.currentState() == stateReady
	if newTest { // the caps on rows start afresh
		s.collector.NewTest()
		s.beginTest()
	}
	s.setState(stateSpawning)
	target := m.UserClassesCount
	s.logger.Info("spawning", "target", countsForLog(target), "spread_over", spread)
	if !s.fdWarned {
		s.fdWarned = warnFileLimit(s.logger, s.pool.ownConnectionUsers(target))
	}
	s.startJob(jobSpawn, s.spawnWork(newTest, target, spread))
}

// onStop stops every user; the job's end says client_stopped.
func (s *session) onStop(now time.Time) {
	s.resumeBy = time.Time{}
	if !s.registered {
		s.warnLimited(now, "stop-unregistered", "ignoring stop: not registered with the master")
		return
	}
	s.logger.Info("the master asked to stop")
	s.endTest()
	s.startJob(jobStop, func(ctx context.Context) {
		s.pool.stopAll(ctx)
		s.hooks.stop(ctx)
	})
}

// onReconnect obeys the master's reconnect: a new connection with the
// same identity, on which the master still knows this worker.
func (s *session) onReconnect(now time.Time) {
	s.logger.Warn("the master asked to reconnect: opening a new connection with the same identity")
	// What is queued would be dropped with the old connection.
	fctx, cancel := context.WithDeadline(context.Background(), now.Add(reconnectFlushTimeout))
	_ = s.conn.Flush(fctx)
	cancel()
	s.reconnectAsked = s.registered
	s.conn.Reset()
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

// applySpawnOptions takes the host, stop timeout and options from a spawn.
func (s *session) applySpawnOptions(m protocol.SpawnMessage) {
	host := m.Host
	if host == "" {
		host = s.host
	} else if err := checkBase(host); err != nil && s.warnOnce("host "+host) {
		// Once per host: every request fails, each saying why.
		s.logger.Error("the master's host is not a URL, so every request will fail: give the master's --host a scheme, e.g. http://"+host, "host", host)
	}
	s.stopTimeout = m.StopTimeout
	for _, o := range s.custom {
		if v, ok := m.ParsedOptions[o.key()]; ok {
			if err := o.setFromMaster(v); err != nil {
				s.logger.Error("ignoring a custom option from the master", "err", err)
			}
		} else if s.warnOnce(o.key()) {
			s.logger.Warn("the master's command line does not declare this option; using the worker's value",
				"option", o.key(), "value", o.String())
		}
	}
	if v, ok := m.ParsedOptions[maxRPSOption]; ok {
		s.applyMaxRPS(v)
	}
	warnUnclaimedOptions(s.logger, m.ParsedOptions, s.custom, s.warnOnce)
	s.pool.configure(host, m.StopTimeout, tagFilter{
		include: stringList(m.ParsedOptions["tags"]),
		exclude: stringList(m.ParsedOptions["exclude_tags"]),
	})
}

// maxRPSOption is the key of --max-rps in a master's parsed_options,
// when its locustfile declares the option.
const maxRPSOption = "max_rps"

// applyMaxRPS takes the master's --max-rps: a number capping this
// worker's iterations per second. 0, None or "" is the option's default,
// not a value: the worker's own --max-rps (Worker.MaxRPS) stays.
func (s *session) applyMaxRPS(v any) {
	var perSecond float64
	switch v := v.(type) {
	case nil:
		return
	case int64:
		perSecond = float64(v)
	case float64:
		perSecond = v
	case string:
		if v == "" {
			return
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			s.logger.Error("ignoring the master's --max-rps: not a number", "value", v)
			return
		}
		perSecond = n
	default:
		s.logger.Error("ignoring the master's --max-rps: not a number", "value", v)
		return
	}
	if math.IsNaN(perSecond) || perSecond < 0 {
		s.logger.Error("ignoring the master's --max-rps: negative or not a number", "value", v)
		return
	}
	if perSecond == 0 {
		return
	}
	if s.warnOnce(fmt.Sprintf("max_rps %v", perSecond)) {
		s.logger.Info("the master caps task iterations per second on this worker", "max_rps", perSecond)
	}
	s.pool.setMaxRPS(time.Now(), perSecond)
}

// warnOnce reports whether the warning with key is due: the first time
// only.
func (s *session) warnOnce(key string) bool {
	if s.optionsWarned[key] {
		return false
	}
	if s.optionsWarned == nil {
		s.optionsWarned = map[string]bool{}
	}
	s.optionsWarned[key] = true
	return true
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
