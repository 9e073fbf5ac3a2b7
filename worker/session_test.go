package worker

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
)

// fakeConn is a transport whose other end is the test.
type fakeConn struct {
	sent   chan []byte
	recv   chan []byte
	events chan protocol.Event
	resets chan struct{}
	down   atomic.Bool // Send fails while set
}

func newFakeConn() *fakeConn {
	return &fakeConn{
		sent:   make(chan []byte, 4096),
		recv:   make(chan []byte, 64),
		events: make(chan protocol.Event, 8),
		resets: make(chan struct{}, 8),
	}
}

func (c *fakeConn) Send(b []byte) error {
	if c.down.Load() {
		return protocol.ErrDisconnected
	}
	select {
	case c.sent <- b:
		return nil
	default:
		return protocol.ErrQueueFull
	}
}
func (c *fakeConn) Recv() <-chan []byte           { return c.recv }
func (c *fakeConn) Events() <-chan protocol.Event { return c.events }
func (c *fakeConn) Reset() {
	select {
	case c.resets <- struct{}{}:
	default:
	}
}
func (c *fakeConn) Flush(ctx context.Context) error { return nil }
func (c *fakeConn) Close() error                    { return nil }

// fakeMaster plays the master's side of a fakeConn: for a session that
// runs on real time, or for a simulated one (session_sim_test.go), whose
// made-up time it moves on while it waits for the worker.
type fakeMaster struct {
	t      testing.TB
	conn   *fakeConn
	nodeID string
	sim    *sessionSim // nil for a session that runs on real time
}

func (m *fakeMaster) send(msg protocol.Message) {
	m.t.Helper()
	body, err := protocol.Encode(m.nodeID, msg)
	if err != nil {
		m.t.Fatal(err)
	}
	m.deliver(body)
}

// deliver hands a body to the worker as the transport would.
func (m *fakeMaster) deliver(body []byte) {
	m.t.Helper()
	if m.sim != nil {
		m.sim.step(received{body})
		return
	}
	m.conn.recv <- body
}

// announce hands a connection change to the worker as the transport
// would.
func (m *fakeMaster) announce(ev protocol.Event) {
	m.t.Helper()
	if m.sim != nil {
		m.sim.step(connChanged{ev})
		return
	}
	m.conn.events <- ev
}

// now is the time as the worker sees it: made-up for a simulated session.
func (m *fakeMaster) now() time.Time {
	if m.sim != nil {
		return m.sim.now
	}
	return time.Now()
}

// nextSent returns the next body the worker sent by deadline (of m.now's
// time), and false if none came.
func (m *fakeMaster) nextSent(deadline time.Time) ([]byte, bool) {
	m.t.Helper()
	if m.sim != nil {
		return m.sim.nextSent(deadline)
	}
	timeout := time.NewTimer(time.Until(deadline))
	defer timeout.Stop()
	select {
	case body := <-m.conn.sent:
		return body, true
	case <-timeout.C:
		return nil, false
	}
}

// expect returns the next message of type typ the worker sent, skipping
// heartbeats and statistics unless typ asks for them.
func (m *fakeMaster) expect(typ string) protocol.Message {
	m.t.Helper()
	deadline := m.now().Add(10 * time.Second)
	for {
		body, ok := m.nextSent(deadline)
		if !ok {
			m.t.Fatalf("worker sent no %s within 10 s", typ)
		}
		env, err := protocol.Decode(body)
		if err != nil {
			m.t.Fatalf("worker sent an undecodable message: %v", err)
		}
		if env.NodeID != m.nodeID {
			m.t.Fatalf("worker sent node_id %q, want %q", env.NodeID, m.nodeID)
		}
		if env.Message.Type() == typ {
			return env.Message
		}
		switch env.Message.Type() {
		case "heartbeat", "stats", "spawning":
		default:
			m.t.Fatalf("worker sent %s while the test waited for %s", env.Message.Type(), typ)
		}
	}
}

type idleUser struct{}

func (*idleUser) Tasks() []Task {
	return []Task{{Name: "idle", Run: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}}
}

func startSession(t *testing.T, classes ...*UserClass) (*fakeMaster, chan error) {
	t.Helper()
	return startSessionWith(t, nil, classes...)
}

// startSessionWith is startSession with the Worker adjusted by configure
// (when not nil) before it runs.
func startSessionWith(t testing.TB, configure func(*Worker), classes ...*UserClass) (*fakeMaster, chan error) {
	t.Helper()
	m, done, _ := startSessionCtx(t, configure, classes...)
	return m, done
}

// startSessionCtx is startSessionWith that also returns the cancel of the
// worker's context: what SIGTERM does to a worker program.
func startSessionCtx(t testing.TB, configure func(*Worker), classes ...*UserClass) (*fakeMaster, chan error, context.CancelFunc) {
	t.Helper()
	conn := newFakeConn()
	const node = "testhost_0123456789abcdef0123456789abcdef"
	w := &Worker{
		Classes: classes,
		NodeID:  node,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		dial: func(context.Context, protocol.DialOptions) (protocol.Conn, error) {
			return conn, nil
		},
	}
	if configure != nil {
		configure(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	returned := make(chan struct{})
	go func() {
		done <- w.Run(ctx)
		close(returned)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-returned:
		case <-time.After(10 * time.Second):
			t.Error("worker did not return after cancel")
		}
	})
	m := &fakeMaster{t: t, conn: conn, nodeID: node}
	m.announce(protocol.Event{Kind: protocol.Connected})
	return m, done, cancel
}

func TestSessionLifecycle(t *testing.T) {
	m, done := startSession(t,
		Class("A", func() *idleUser { return &idleUser{} }),
		Class("B", func() *idleUser { return &idleUser{} }),
	)
	ready := m.expect("client_ready").(protocol.ClientReadyMessage)
	if ready.Version != "" {
		t.Errorf("client_ready version %q, want -1 (empty)", ready.Version)
	}
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})

	spawn := func(ts float64, counts map[string]int64) protocol.SpawningCompleteMessage {
		m.send(protocol.SpawnMessage{
			Timestamp:        time.Unix(0, int64(ts*1e9)),
			UserClassesCount: counts,
			ParsedOptions:    map[string]any{},
		})
		return m.expect("spawning_complete").(protocol.SpawningCompleteMessage)
	}
	for i, tc := range []struct {
		target map[string]int64
		total  int64
	}{
		{map[string]int64{"A": 3, "B": 1}, 4},
		{map[string]int64{"A": 5, "B": 2}, 7},
		{map[string]int64{"A": 1, "B": 0}, 1},
		{map[string]int64{"A": 1, "B": 0, "Unknown": 4}, 1},
	} {
		got := spawn(float64(100+i), tc.target)
		if got.UserCount != tc.total {
			t.Errorf("spawn %d: user_count %d, want %d", i, got.UserCount, tc.total)
		}
		for class, want := range tc.target {
			if class == "Unknown" {
				want = 0
			}
			if got.UserClassesCount[class] != want {
				t.Errorf("spawn %d: %s = %d, want %d (%v)", i, class, got.UserClassesCount[class], want, got.UserClassesCount)
			}
		}
	}

	m.send(protocol.StopMessage{})
	m.expect("client_stopped")
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})

	m.send(protocol.QuitMessage{})
	final := m.expect("stats").(protocol.StatsMessage)
	if final.UserCount != 0 {
		t.Errorf("final stats user_count %d, want 0", final.UserCount)
	}
	m.expect("quit")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after quit, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after quit")
	}
}

func TestSessionDiscardsStaleSpawn(t *testing.T) {
	m, _ := startSession(t, Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{})
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(200, 0), UserClassesCount: map[string]int64{"A": 2}})
	if got := m.expect("spawning_complete").(protocol.SpawningCompleteMessage); got.UserCount != 2 {
		t.Fatalf("user_count %d, want 2", got.UserCount)
	}
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(200, 0), UserClassesCount: map[string]int64{"A": 9}})
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(201, 0), UserClassesCount: map[string]int64{"A": 1}})
	if got := m.expect("spawning_complete").(protocol.SpawningCompleteMessage); got.UserCount != 1 {
		t.Fatalf("after a stale and a fresh spawn: user_count %d, want 1 (the stale one must be ignored)", got.UserCount)
	}
}
