package worker

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
)

// Tests of the session against a fake master that misbehaves on purpose:
// bad input, lost connections, restarts, a master that stops answering.

// logRecorder is a slog.Handler that keeps every record as one line.
type logRecorder struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{}
}

func newLogRecorder() *logRecorder { return &logRecorder{changed: make(chan struct{})} }

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, b.String())
	close(l.changed)
	l.changed = make(chan struct{})
	return nil
}

// count returns how many lines contain s.
func (l *logRecorder) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// waitFor waits until n lines contain s.
func (l *logRecorder) waitFor(t testing.TB, s string, n int) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		changed := l.changed
		l.mu.Unlock()
		if l.count(s) >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no %d log lines with %q within 10 s; log:\n%s", n, s, strings.Join(l.lines, "\n"))
		}
	}
}

// Minimal msgpack writers for bodies the protocol package refuses to
// encode.
func mpArr(items ...[]byte) []byte {
	b := []byte{0x90 | byte(len(items))}
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func mpMap(kv ...[]byte) []byte {
	b := []byte{0x80 | byte(len(kv)/2)}
	for _, it := range kv {
		b = append(b, it...)
	}
	return b
}

func mpStr(s string) []byte { return append([]byte{0xd9, byte(len(s))}, s...) }

func mpInt(n int64) []byte { return binary.BigEndian.AppendUint64([]byte{0xd3}, uint64(n)) }

func mpFloat(f float64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0xcb}, math.Float64bits(f))
}

var mpNil = []byte{0xc0}

const testNode = "testhost_0123456789abcdef0123456789abcdef"

func spawnBody(ts float64, counts map[string]int64) []byte {
	var kv [][]byte
	for k, v := range counts {
		kv = append(kv, mpStr(k), mpInt(v))
	}
	return mpArr(mpStr("spawn"), mpMap(
		mpStr("timestamp"), mpFloat(ts),
		mpStr("user_classes_count"), mpMap(kv...),
		mpStr("host"), mpNil,
		mpStr("stop_timeout"), mpNil,
		mpStr("parsed_options"), mpMap(),
	), mpStr(testNode))
}

// expectState waits for a heartbeat with the given state, ignoring all
// other messages.
func (m *fakeMaster) expectState(state string, within time.Duration) {
	m.t.Helper()
	deadline := m.now().Add(within)
	for {
		body, ok := m.nextSent(deadline)
		if !ok {
			m.t.Fatalf("no heartbeat with state %q within %s", state, within)
		}
		env, err := protocol.Decode(body)
		if err != nil {
			m.t.Fatalf("worker sent an undecodable message: %v", err)
		}
		if hb, ok := env.Message.(protocol.HeartbeatMessage); ok && hb.State == state {
			return
		}
	}
}

// TestSessionBadInput sends each kind of bad input: the worker logs one
// line for each, keeps its heartbeat, starts no users for bad spawns and
// obeys the valid spawn that follows.
func TestSessionBadInput(t *testing.T) {
	logs := newLogRecorder()
	_, m := simulateSession(t, func(w *Worker) {
		w.Logger = slog.New(logs)
		w.MaxUsers = 1000
		w.NodeID = testNode
	}, Class("A", func() *idleUser { return &idleUser{} }))
	m.nodeID = testNode
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})

	validSpawn := spawnBody(100, map[string]int64{"A": 1})
	for _, tc := range []struct {
		name string
		body []byte
		log  string
	}{
		{"empty body", []byte{}, "cannot be decoded"},
		{"not msgpack", []byte("GET / HTTP/1.1\r\n\r\n"), "cannot be decoded"},
		{"truncated", validSpawn[:len(validSpawn)-7], "cannot be decoded"},
		{"trailing bytes", append(append([]byte{}, validSpawn...), 0xc0), "cannot be decoded"},
		{"two elements", mpArr(mpStr("ack"), mpNil), "cannot be decoded"},
		{"four elements", mpArr(mpStr("ack"), mpNil, mpStr(testNode), mpNil), "cannot be decoded"},
		{"not an array", mpMap(mpStr("type"), mpStr("spawn")), "cannot be decoded"},
		{"type not a string", mpArr(mpInt(7), mpNil, mpStr(testNode)), "cannot be decoded"},
		{"node id not a string", mpArr(mpStr("stop"), mpNil, mpInt(1)), "cannot be decoded"},
		{"spawn data not a map", mpArr(mpStr("spawn"), mpStr("lots"), mpStr(testNode)), "cannot be decoded"},
		{"spawn counts not a map", mpArr(mpStr("spawn"), mpMap(mpStr("timestamp"), mpFloat(5), mpStr("user_classes_count"), mpStr("all")), mpStr(testNode)), "cannot be decoded"},
		{"spawn count not a number", mpArr(mpStr("spawn"), mpMap(mpStr("timestamp"), mpFloat(5), mpStr("user_classes_count"), mpMap(mpStr("A"), mpStr("3"))), mpStr(testNode)), "cannot be decoded"},
		{"ack index not a number", mpArr(mpStr("ack"), mpMap(mpStr("index"), mpStr("zero")), mpStr(testNode)), "cannot be decoded"},
		{"unknown type", mpArr(mpStr("frobnicate"), mpMap(mpStr("x"), mpInt(1)), mpStr(testNode)), "unknown type"},
		{"another node", mpArr(mpStr("stop"), mpNil, mpStr("someone_else")), "another node"},
		{"negative count", spawnBody(10, map[string]int64{"A": -5}), "negative user count"},
		{"absurd count", spawnBody(11, map[string]int64{"A": 1_000_000_000_000}), "more than 1000 users"},
		{"absurd sum", spawnBody(12, map[string]int64{"A": 600, "B": 600}), "more than 1000 users"},
		{"overflowing sum", spawnBody(13, map[string]int64{"A": math.MaxInt64, "B": math.MaxInt64}), "more than 1000 users"},
	} {
		before := logs.count(tc.log)
		m.deliver(tc.body)
		logs.waitFor(t, tc.log, before+1)
		if got := logs.count(tc.log); got != before+1 {
			t.Errorf("%s: %d log lines with %q, want 1", tc.name, got-before, tc.log)
		}
	}

	// A spawn naming a class the worker does not have runs none of it.
	m.deliver(spawnBody(20, map[string]int64{"A": 0, "Nope": 3}))
	got := m.expect("spawning_complete").(protocol.SpawningCompleteMessage)
	if got.UserCount != 0 || got.UserClassesCount["Nope"] != 0 {
		t.Errorf("spawn of an unknown class: %+v, want no users", got)
	}
	logs.waitFor(t, "class this worker does not have", 1)

	// Heartbeats kept flowing, and a valid spawn is obeyed.
	m.expectState(stateRunning, 3*time.Second)
	m.deliver(spawnBody(21, map[string]int64{"A": 2}))
	got = m.expect("spawning_complete").(protocol.SpawningCompleteMessage)
	if got.UserCount != 2 || got.UserClassesCount["A"] != 2 {
		t.Errorf("valid spawn after bad input: %+v, want A=2", got)
	}
	logs.mu.Lock()
	t.Logf("worker log:\n%s", strings.Join(logs.lines, "\n"))
	logs.mu.Unlock()
}

// TestSessionReconnectMessage: the master's reconnect gives a new
// connection with the same identity and no second registration, since the
// master still knows the worker.
func TestSessionReconnectMessage(t *testing.T) {
	m, _ := startSession(t, Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"A": 2}})
	m.expect("spawning_complete")

	m.send(protocol.ReconnectMessage{})
	select {
	case <-m.conn.resets:
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not reset its connection on reconnect")
	}
	m.conn.events <- protocol.Event{Kind: protocol.Disconnected, Err: protocol.ErrReset}
	m.conn.events <- protocol.Event{Kind: protocol.Connected}
	// Still registered: a spawn is obeyed without a new client_ready (expect
	// fails on any client_ready in between).
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(101, 0), UserClassesCount: map[string]int64{"A": 3}})
	if got := m.expect("spawning_complete").(protocol.SpawningCompleteMessage); got.UserCount != 3 {
		t.Fatalf("after reconnect: user_count %d, want 3", got.UserCount)
	}
}

// TestSessionMasterRestart: users keep running through a lost connection;
// the worker registers again on reconnect, and a new master that does not
// resume the test gets the users stopped; a master that does resume gets
// them as they are.
func TestSessionMasterRestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resume bool
	}{
		{"new master", false},
		{"same master resumes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan struct{}, 100)
			h, m := simulateSession(t, nil, Class("A", func() *countedUser { return &countedUser{started: started} }))
			m.expect("client_ready")
			m.send(protocol.AckMessage{Index: 0, HasIndex: true})
			m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"A": 2}})
			m.expect("spawning_complete")
			receiveN(t, started, 2, "started") // users start on their own goroutines

			m.announce(protocol.Event{Kind: protocol.Disconnected})
			m.announce(protocol.Event{Kind: protocol.Connected})
			m.expect("client_ready")
			m.send(protocol.AckMessage{Index: 0, HasIndex: true})
			if tc.resume {
				// A restarted master's clock may be behind: the worker forgets
				// the old timestamps.
				m.send(protocol.SpawnMessage{Timestamp: time.Unix(50, 0), UserClassesCount: map[string]int64{"A": 2}})
				if got := m.expect("spawning_complete").(protocol.SpawningCompleteMessage); got.UserCount != 2 {
					t.Fatalf("user_count %d after resuming, want 2", got.UserCount)
				}
				m.expectState(stateRunning, 3*time.Second)
				// A user says it started on an executor, a moment after the
				// pool started it: the pool's count is exact at once.
				if n := max(2+len(started), h.usersStarted()); n != 2 {
					t.Errorf("%d users started, want the 2 that kept running", n)
				}
				return
			}
			m.expectState(stateReady, resumeWindow+3*time.Second)
			stats := m.expect("stats").(protocol.StatsMessage)
			if stats.UserCount != 0 {
				t.Errorf("users %d after the new master did not resume, want 0", stats.UserCount)
			}
		})
	}
}

// receiveN waits for n signals of users that what (started, recorded).
func receiveN(t *testing.T, signals <-chan struct{}, n int, what string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-signals:
		case <-timeout:
			t.Fatalf("users %s %d times within 10 s, want %d", what, i, n)
		}
	}
}

// countedUser says when it starts and then idles.
type countedUser struct {
	started chan<- struct{}
	idleUser
}

func (u *countedUser) OnStart(context.Context) error {
	u.started <- struct{}{}
	return nil
}

// TestSessionNoMasterTimeout: without a master for NoMasterTimeout, users
// stop and the worker keeps waiting; with a negative timeout they stop at
// once.
func TestSessionNoMasterTimeout(t *testing.T) {
	for _, timeout := range []time.Duration{time.Second, -1} {
		t.Run(fmt.Sprint(timeout), func(t *testing.T) {
			logs := newLogRecorder()
			h, m := simulateSession(t, func(w *Worker) {
				w.NoMasterTimeout = timeout
				w.Logger = slog.New(logs)
			}, Class("A", func() *idleUser { return &idleUser{} }))
			m.expect("client_ready")
			m.send(protocol.AckMessage{Index: 0, HasIndex: true})
			m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"A": 2}})
			m.expect("spawning_complete")
			// Between two heartbeats, so that they tell when users stop.
			h.advance(heartbeatInterval / 2)
			lostAt := h.now
			m.announce(protocol.Event{Kind: protocol.Disconnected})
			// The fake conn still carries heartbeats, so the state is seen.
			m.expectState(stateReady, 5*time.Second)
			if waited := h.now.Sub(lostAt); waited < timeout {
				t.Errorf("users stopped after %s, before the %s timeout", waited, timeout)
			}
			logs.waitFor(t, "stopping users", 1)
		})
	}
}

// TestSessionMasterHeartbeatSilence: a master that sent heartbeats and
// stops (restarted behind the same connection) gets a new client_ready.
func TestSessionMasterHeartbeatSilence(t *testing.T) {
	h, m := simulateSession(t, nil, Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	m.send(protocol.MasterHeartbeatMessage{})
	silent := h.now
	m.expect("client_ready")
	if d := h.now.Sub(silent); d < masterHeartbeatTimeout {
		t.Errorf("registered again after %s of silence, before %s", d, masterHeartbeatTimeout)
	}
}

func TestStableTraceback(t *testing.T) {
	a := "panic in Panicky.sometimes: run 10\ngoroutine 41 [running]:\nruntime/debug.Stack()\n\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e\n" +
		"main.(*Panicky).Tasks.func1({0x7f1e20, 0xc000123450})\n\t/src/main.go:50 +0x1d\n" +
		"worker.(*pool).call(0x0?, {0x12cb498, 0xc00029a2d0}, 0xc0000382e0)\n\t/src/pool.go:333 +0xa2\n" +
		"created by worker.(*pool).startLocked in goroutine 7\n\t/src/pool.go:190 +0x2c5"
	b := "panic in Panicky.sometimes: run 20\ngoroutine 977 [running]:\nruntime/debug.Stack()\n\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e\n" +
		"main.(*Panicky).Tasks.func1({0x7f1e20, 0xc0009abcd0})\n\t/src/main.go:50 +0x1d\n" +
		"worker.(*pool).call(0xc000012345?, {0x12cb498, 0xc00029a300}, 0xc000038190)\n\t/src/pool.go:333 +0xa2\n" +
		"created by worker.(*pool).startLocked in goroutine 12\n\t/src/pool.go:190 +0x2c5"
	if sa, sb := stableTraceback(a), stableTraceback(b); sa != sb {
		t.Errorf("identical panics give different tracebacks:\n%s\n---\n%s", sa, sb)
	}
	if s := stableTraceback(a); !strings.HasPrefix(s, "panic in Panicky.sometimes\n") ||
		!strings.Contains(s, "main.(*Panicky).Tasks.func1(...)") || !strings.Contains(s, "/src/main.go:50") {
		t.Errorf("stable traceback lost the frame:\n%s", s)
	}
}

// TestSessionStopRecordsCancelledRequest: a request cut short by a stop
// reaches the master as a failure, in the report sent before
// client_stopped.
func TestSessionStopRecordsCancelledRequest(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	defer srv.Close()
	m, _ := startSessionWith(t, func(w *Worker) { w.Host = srv.URL },
		Class("A", func() *slowHTTPUser { return &slowHTTPUser{} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"A": 1}})
	m.expect("spawning_complete")
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the user's request never reached the server")
	}
	m.send(protocol.StopMessage{})
	requests, failures, errs := collectStats(t, m, isClientStopped)
	if requests != 1 || failures != 1 || len(errs) != 1 || !strings.Contains(errs[0], "stop") {
		t.Errorf("after a stop mid-request: %d requests, %d failures, errors %q; want the cancelled request as a failure", requests, failures, errs)
	}
}

// slowHTTPUser makes one request, to a server that never answers.
type slowHTTPUser struct{ HTTPUser }

func (u *slowHTTPUser) Tasks() []Task {
	return []Task{{Name: "slow", Run: func(ctx context.Context) error {
		_, err := u.Client.Get(ctx, "/slow")
		return err
	}}}
}

func TestWarnFileLimit(t *testing.T) {
	limit, ok := fileLimit()
	if !ok {
		t.Skip("no open-file limit on this platform")
	}
	for _, tc := range []struct {
		users int64
		warn  bool
	}{
		{1, false},
		{int64(limit), true},
		{int64(limit) * 10, true},
	} {
		logs := newLogRecorder()
		warnFileLimit(slog.New(logs), tc.users)
		if got := logs.count("open-file limit") == 1; got != tc.warn {
			t.Errorf("%d users with a limit of %d: warned %v, want %v", tc.users, limit, got, tc.warn)
		}
	}
}

// TestSessionKeepsReportsWhileDisconnected: requests recorded while no
// master is connected reach the master after the worker registers again.
func TestSessionKeepsReportsWhileDisconnected(t *testing.T) {
	gate := make(chan struct{})
	const perUser = 5
	recorded := make(chan struct{}, 2*perUser)
	logs := newLogRecorder()
	h, m := simulateSession(t, func(w *Worker) { w.Logger = slog.New(logs) },
		Class("A", func() *gatedUser { return &gatedUser{gate: gate, left: perUser, recorded: recorded} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"A": 2}})
	m.expect("spawning_complete")

	m.conn.down.Store(true)
	m.announce(protocol.Event{Kind: protocol.Disconnected})
	close(gate) // the users record their requests now, with nobody to send them to
	receiveN(t, recorded, 2*perUser, "recorded")
	// A report falls due while the connection is down: the worker keeps it.
	h.advance(reportInterval)
	logs.waitFor(t, "keeping statistics reports", 1)
	m.conn.down.Store(false)
	m.announce(protocol.Event{Kind: protocol.Connected})
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	var requests int64
	deadline := m.now().Add(10 * time.Second)
	for requests < 2*perUser {
		body, ok := m.nextSent(deadline)
		if !ok {
			t.Fatalf("the master got %d of the %d requests recorded while it was away", requests, 2*perUser)
		}
		env, err := protocol.Decode(body)
		if err != nil {
			t.Fatal(err)
		}
		if st, ok := env.Message.(protocol.StatsMessage); ok {
			requests += st.Total.NumRequests
		}
	}
	if requests != 2*perUser {
		t.Errorf("the master got %d requests, want %d", requests, 2*perUser)
	}
}

// gatedUser records left requests once gate is closed, saying so on
// recorded, then idles.
type gatedUser struct {
	gate     <-chan struct{}
	left     int
	recorded chan<- struct{}
}

func (u *gatedUser) Tasks() []Task {
	return []Task{{Name: "record", Run: func(ctx context.Context) error {
		select {
		case <-u.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
		if u.left == 0 {
			<-ctx.Done()
			return ctx.Err()
		}
		u.left--
		err := Record(ctx, "test", "while-away", time.Millisecond, 1, nil)
		u.recorded <- struct{}{}
		return err
	}}}
}
