package protocol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
)

// Tests of the ZeroMQ transport against a fake master: a go-zeromq ROUTER
// on 127.0.0.1, an independent ZMTP implementation. They wait for events with deadlines and never use sleeps as
// assertions.

const eventTimeout = 5 * time.Second

// recvDrainAttempts is how many extra Recv calls a closed zmq4 ROUTER (the
// fake master) gets. zmq4's per-connection reader goroutine sends into a
// 10-slot queue without watching the socket's context; if that queue is
// full when the socket closes, the goroutine stays blocked until one slot
// is read. Recv on a closed socket picks at random between the context
// error and a queued message, so a few dozen calls empty a slot with
// overwhelming probability.
const recvDrainAttempts = 64

// fastOptions returns DialOptions with short delays for tests.
func fastOptions(endpoint string) DialOptions {
	return DialOptions{
		Endpoint:       endpoint,
		Identity:       NewNodeID(),
		SendTimeout:    2 * time.Second,
		ReconnectDelay: MinReconnectDelay,
		DialRetry:      20 * time.Millisecond,
	}
}

// fakeMaster is a ROUTER socket standing in for Locust's master. Received
// messages are forwarded to msgs by a goroutine that ends when the router
// is closed.
type fakeMaster struct {
	t      testing.TB
	sock   zmq4.Socket
	addr   string // host:port
	msgs   chan zmq4.Msg
	closed chan struct{}
}

func newFakeMaster(t testing.TB, addr string) *fakeMaster {
	t.Helper()
	sock := zmq4.NewRouter(context.Background(), zmq4.WithLogger(discardStdLogger()))
	if err := sock.Listen("tcp://" + addr); err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	m := &fakeMaster{t: t, sock: sock, addr: sock.Addr().String(), msgs: make(chan zmq4.Msg, 100), closed: make(chan struct{})}
	go func() {
		defer close(m.closed)
		for {
			msg, err := sock.Recv()
			if err != nil {
				return
			}
			m.msgs <- msg
		}
	}()
	return m
}

// startSilentMaster is a ROUTER that never reads: its receive queue and
// the TCP buffers fill up, so a sender eventually blocks.
func startSilentMaster(t testing.TB) (zmq4.Socket, string) {
	t.Helper()
	sock := zmq4.NewRouter(context.Background(), zmq4.WithLogger(discardStdLogger()))
	if err := sock.Listen("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return sock, sock.Addr().String()
}

func (m *fakeMaster) endpoint() string { return "tcp://" + m.addr }

func (m *fakeMaster) close() {
	_ = m.sock.Close()
	<-m.closed
	for range recvDrainAttempts { // unblock zmq4's per-connection reader, see recvDrainAttempts
		_, _ = m.sock.Recv()
	}
}

// expect waits for a message from the worker and checks its frames.
func (m *fakeMaster) expect(identity string, body []byte) {
	m.t.Helper()
	select {
	case msg := <-m.msgs:
		if len(msg.Frames) != 2 || string(msg.Frames[0]) != identity || !bytes.Equal(msg.Frames[1], body) {
			m.t.Fatalf("master got %q, want [%q %q]", msg.Frames, identity, body)
		}
	case <-time.After(eventTimeout):
		m.t.Fatalf("master got nothing, want %q", body)
	}
}

func (m *fakeMaster) send(identity string, body []byte) {
	m.t.Helper()
	if err := m.sock.Send(zmq4.NewMsgFrom([]byte(identity), body)); err != nil {
		m.t.Fatalf("master send: %v", err)
	}
}

func discardStdLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// waitEvent returns the next event, which must be of the given kind.
func waitEvent(t testing.TB, c Conn, kind EventKind) Event {
	t.Helper()
	select {
	case ev, ok := <-c.Events():
		if !ok {
			t.Fatalf("events closed, want %v", kind)
		}
		if ev.Kind != kind {
			t.Fatalf("event %v (%v), want %v", ev.Kind, ev.Err, kind)
		}
		return ev
	case <-time.After(eventTimeout):
		t.Fatalf("no event, want %v", kind)
	}
	panic("unreachable")
}

func recvBody(t testing.TB, c Conn) []byte {
	t.Helper()
	select {
	case b, ok := <-c.Recv():
		if !ok {
			t.Fatal("recv channel closed")
		}
		return b
	case <-time.After(eventTimeout):
		t.Fatal("nothing received")
	}
	panic("unreachable")
}

func dial(t testing.TB, opts DialOptions) Conn {
	t.Helper()
	c, err := DialZMQ(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closeConn closes c and checks that the channels end properly.
func closeConn(t testing.TB, c Conn) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for ev := range c.Events() { // drain to the end: the channel must be closed
		_ = ev
	}
	for range c.Recv() {
	}
	if err := c.Send([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
}

// freeAddr returns a 127.0.0.1 address with nothing listening on it.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestZMQConnectSendRecv(t *testing.T) {
	m := newFakeMaster(t, "127.0.0.1:0")
	defer m.close()
	opts := fastOptions(m.endpoint())
	c := dial(t, opts)
	waitEvent(t, c, Connected)

	body, err := Encode(opts.Identity, ClientReadyMessage{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(body); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m.expect(opts.Identity, body)

	ack, _ := Encode(opts.Identity, AckMessage{Index: 0, HasIndex: true})
	m.send(opts.Identity, ack)
	if got := recvBody(t, c); !bytes.Equal(got, ack) {
		t.Fatalf("Recv = %q, want %q", got, ack)
	}
	env, err := Decode(ack)
	if err != nil || env.Message != (AckMessage{0, true}) {
		t.Fatalf("Decode(ack) = %#v, %v", env, err)
	}

	// Many frames keep their order.
	for i := range 50 {
		if err := c.Send([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		m.expect(opts.Identity, []byte(fmt.Sprint(i)))
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, c, Disconnected)
	if !errors.Is(ev.Err, ErrClosed) {
		t.Errorf("last Disconnected cause = %v, want ErrClosed", ev.Err)
	}
	closeConn(t, c)
}

func TestZMQSendWhileDisconnected(t *testing.T) {
	addr := freeAddr(t)
	opts := fastOptions("tcp://" + addr)
	c := dial(t, opts)
	defer closeConn(t, c)
	if err := c.Send([]byte("x")); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Send before connecting = %v, want ErrDisconnected", err)
	}
	// The master starts late: the Conn keeps dialing and connects.
	m := newFakeMaster(t, addr)
	defer m.close()
	waitEvent(t, c, Connected)
	if err := c.Send([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	m.expect(opts.Identity, []byte("hello"))
}

func TestZMQMasterRestart(t *testing.T) {
	m := newFakeMaster(t, "127.0.0.1:0")
	opts := fastOptions(m.endpoint())
	c := dial(t, opts)
	defer closeConn(t, c)
	waitEvent(t, c, Connected)
	if err := c.Send([]byte("one")); err != nil {
		t.Fatal(err)
	}
	m.expect(opts.Identity, []byte("one"))

	// The master goes away.
	m.close()
	ev := waitEvent(t, c, Disconnected)
	if ev.Err == nil {
		t.Error("Disconnected without a cause")
	}
	if err := c.Send([]byte("lost")); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Send after Disconnected = %v, want ErrDisconnected", err)
	}

	// A new master on the same port: the Conn reconnects by itself.
	m2 := newFakeMaster(t, m.addr)
	defer m2.close()
	waitEvent(t, c, Connected)
	if err := c.Send([]byte("two")); err != nil {
		t.Fatal(err)
	}
	m2.expect(opts.Identity, []byte("two"))
	m2.send(opts.Identity, []byte("reply"))
	if got := recvBody(t, c); string(got) != "reply" {
		t.Fatalf("Recv = %q", got)
	}
}

func TestZMQReset(t *testing.T) {
	m := newFakeMaster(t, "127.0.0.1:0")
	defer m.close()
	opts := fastOptions(m.endpoint())
	c := dial(t, opts)
	defer closeConn(t, c)
	waitEvent(t, c, Connected)

	start := time.Now()
	c.Reset()
	ev := waitEvent(t, c, Disconnected)
	if !errors.Is(ev.Err, ErrReset) {
		t.Errorf("cause = %v, want ErrReset", ev.Err)
	}
	waitEvent(t, c, Connected)
	if d := time.Since(start); d < opts.ReconnectDelay {
		t.Errorf("re-dialed after %s, before the reconnect delay %s", d, opts.ReconnectDelay)
	}
	if err := c.Send([]byte("after reset")); err != nil {
		t.Fatal(err)
	}
	m.expect(opts.Identity, []byte("after reset"))
}

func TestZMQQueueFull(t *testing.T) {
	m := newFakeMaster(t, "127.0.0.1:0")
	defer m.close()
	opts := fastOptions(m.endpoint())
	opts.QueueBytes = 2 * controlBodyBytes
	c := dial(t, opts)
	defer closeConn(t, c)
	waitEvent(t, c, Connected)
	if err := c.Send(make([]byte, opts.QueueBytes+1)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send of %d bytes with a %d-byte queue = %v, want ErrQueueFull", opts.QueueBytes+1, opts.QueueBytes, err)
	}
	body := bytes.Repeat([]byte("x"), opts.QueueBytes)
	if err := c.Send(body); err != nil {
		t.Fatalf("Send of %d bytes = %v", len(body), err)
	}
	m.expect(opts.Identity, body)
}

// TestZMQQueueReservesRoomForControl: a queue full of large bodies still
// takes small ones (heartbeats, replies to the master), up to the reserve.
func TestZMQQueueReservesRoomForControl(t *testing.T) {
	c := &zmqConn{opts: DialOptions{QueueBytes: 4 * controlBodyBytes}, connected: true, wake: make(chan struct{}, 1)}
	if err := c.enqueue(outbound{body: make([]byte, 4*controlBodyBytes)}); err != nil {
		t.Fatal(err)
	}
	if err := c.enqueue(outbound{body: make([]byte, controlBodyBytes+1)}); !errors.Is(err, ErrQueueFull) {
		t.Errorf("a large body into a full queue: %v, want ErrQueueFull", err)
	}
	small := 0
	for c.enqueue(outbound{body: make([]byte, 100)}) == nil {
		small++
	}
	if want := controlReserve / 100; small != want {
		t.Errorf("%d heartbeats of 100 bytes queued past a full queue, want %d (the reserve)", small, want)
	}
}

// TestZMQSendTimeout stalls the master: a ROUTER that never reads. The
// writer blocks once the buffers are full, the watchdog closes the socket,
// and the Conn reports ErrSendTimeout and dials again.
func TestZMQSendTimeout(t *testing.T) {
	router, addr := startSilentMaster(t)
	defer func() {
		_ = router.Close()
		for range recvDrainAttempts {
			_, _ = router.Recv()
		}
	}()
	opts := fastOptions("tcp://" + addr)
	opts.SendTimeout = 300 * time.Millisecond
	c := dial(t, opts)
	defer closeConn(t, c)
	waitEvent(t, c, Connected)
	frame := make([]byte, 1<<20)
	for range 60 {
		if err := c.Send(frame); err != nil {
			break // the timeout may already have struck
		}
	}
	ev := waitEvent(t, c, Disconnected)
	if !errors.Is(ev.Err, ErrSendTimeout) {
		t.Fatalf("cause = %v, want ErrSendTimeout", ev.Err)
	}
	waitEvent(t, c, Connected)
}

// TestZMQCloseWhileHandshaking dials a TCP server that accepts but never
// speaks ZMTP (a frozen master): Close must still return promptly and
// leave no goroutine behind, and the handshake watchdog must keep retrying.
func TestZMQCloseWhileHandshaking(t *testing.T) {
	before := runtime.NumGoroutine()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- conn // never answered
		}
	}()
	opts := fastOptions("tcp://" + l.Addr().String())
	opts.SendTimeout = 200 * time.Millisecond
	c := dial(t, opts)
	// Two accepted connections prove that the watchdog abandoned the first
	// handshake and dialed again.
	for range 2 {
		select {
		case <-accepted:
		case <-time.After(eventTimeout):
			t.Fatal("no connection attempt")
		}
	}
	start := time.Now()
	closeConn(t, c)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s", d)
	}
	l.Close()
	for conn := range accepted {
		conn.Close()
	}
	select {
	case ev, ok := <-c.Events():
		if ok {
			t.Errorf("unexpected event %v", ev)
		}
	default:
	}
	waitGoroutines(t, before)
}

// TestZMQNoGoroutineLeak runs a full life cycle, including a master
// restart, a reset and undrained inbound messages, and checks that Close
// leaves no goroutine behind.
func TestZMQNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	m := newFakeMaster(t, "127.0.0.1:0")
	opts := fastOptions(m.endpoint())
	c := dial(t, opts)
	waitEvent(t, c, Connected)
	if err := c.Send([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	m.expect(opts.Identity, []byte("hi"))
	// Inbound messages nobody reads: they fill the Recv buffer and zmq4's
	// own queue.
	for range recvBuffer + 30 {
		m.send(opts.Identity, []byte("unread"))
	}
	c.Reset()
	waitEvent(t, c, Disconnected)
	waitEvent(t, c, Connected)
	// A message round trip proves that the master has registered the new
	// connection: zmq4's ROUTER does not close a connection that it
	// accepts while it is being closed.
	if err := c.Send([]byte("again")); err != nil {
		t.Fatal(err)
	}
	m.expect(opts.Identity, []byte("again"))
	m.close()
	waitEvent(t, c, Disconnected)
	m2 := newFakeMaster(t, m.addr)
	waitEvent(t, c, Connected)
	if err := c.Send([]byte("third")); err != nil {
		t.Fatal(err)
	}
	m2.expect(opts.Identity, []byte("third"))
	for range 20 {
		m2.send(opts.Identity, []byte("unread"))
	}
	closeConn(t, c)
	m2.close()
	waitGoroutines(t, before)
}

// waitGoroutines polls until the goroutine count is back to at most want.
func waitGoroutines(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", n, want, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestZMQEventsNeverBlock(t *testing.T) {
	c := &zmqConn{events: make(chan Event, eventBuffer)}
	for i := range 100 {
		kind := Connected
		if i%2 == 1 {
			kind = Disconnected
		}
		c.emit(Event{Kind: kind, Err: fmt.Errorf("event %d", i)})
	}
	if n := len(c.events); n != eventBuffer {
		t.Fatalf("%d buffered events, want %d", n, eventBuffer)
	}
	var last Event
	for len(c.events) > 0 {
		last = <-c.events
	}
	if last.Kind != Disconnected || last.Err.Error() != "event 99" {
		t.Fatalf("last event = %v %v, want the latest one", last.Kind, last.Err)
	}
}

func TestDialZMQOptions(t *testing.T) {
	id := NewNodeID()
	tests := []struct {
		name string
		opts DialOptions
		want string // error substring; "" for success
	}{
		{"ok", DialOptions{Endpoint: "tcp://127.0.0.1:5557", Identity: id}, ""},
		{"ipv6", DialOptions{Endpoint: "tcp://[::1]:5557", Identity: id}, ""},
		{"hostname", DialOptions{Endpoint: "tcp://master.example:5557", Identity: id}, ""},
		{"no scheme", DialOptions{Endpoint: "127.0.0.1:5557", Identity: id}, "want tcp://host:port"},
		{"ipc", DialOptions{Endpoint: "ipc:///tmp/x", Identity: id}, "want tcp://host:port"},
		{"no port", DialOptions{Endpoint: "tcp://127.0.0.1", Identity: id}, "missing port"},
		{"bad port", DialOptions{Endpoint: "tcp://127.0.0.1:http", Identity: id}, "invalid port"},
		{"port 0", DialOptions{Endpoint: "tcp://127.0.0.1:0", Identity: id}, "invalid port"},
		{"wildcard host", DialOptions{Endpoint: "tcp://*:5557", Identity: id}, "missing host"},
		{"empty identity", DialOptions{Endpoint: "tcp://127.0.0.1:5557"}, "identity: node id is empty"},
		{"NUL identity", DialOptions{Endpoint: "tcp://127.0.0.1:5557", Identity: "\x00x"}, "NUL"},
		{"long identity", DialOptions{Endpoint: "tcp://127.0.0.1:5557", Identity: strings.Repeat("x", 256)}, "limit"},
		{"negative timeout", DialOptions{Endpoint: "tcp://127.0.0.1:5557", Identity: id, SendTimeout: -1}, "SendTimeout is negative"},
		{"short reconnect delay", DialOptions{Endpoint: "tcp://127.0.0.1:5557", Identity: id, ReconnectDelay: 100 * time.Millisecond}, "shorter than 300ms"},
		{"negative queue", DialOptions{Endpoint: "tcp://127.0.0.1:5557", Identity: id, QueueBytes: -1}, "QueueBytes is negative"},
		{"negative message limit", DialOptions{Endpoint: "tcp://127.0.0.1:5557", Identity: id, MaxMessageBytes: -1}, "MaxMessageBytes is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.opts.validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if o.SendTimeout != DefaultSendTimeout || o.ReconnectDelay != DefaultReconnectDelay ||
					o.DialRetry != DefaultDialRetry || o.QueueBytes != DefaultQueueBytes ||
					o.MaxMessageBytes != DefaultMaxMessageBytes || o.Logger == nil {
					t.Errorf("defaults not applied: %+v", o)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if _, err := DialZMQ(context.Background(), tt.opts); err == nil {
				t.Fatal("DialZMQ accepted invalid options")
			}
		})
	}
}

// TestDialZMQContextCancel checks that canceling the context shuts the Conn
// down like Close.
func TestDialZMQContextCancel(t *testing.T) {
	m := newFakeMaster(t, "127.0.0.1:0")
	defer m.close()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := DialZMQ(ctx, fastOptions(m.endpoint()))
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, Connected)
	cancel()
	ev := waitEvent(t, c, Disconnected)
	if !errors.Is(ev.Err, ErrClosed) {
		t.Errorf("cause = %v, want ErrClosed", ev.Err)
	}
	closeConn(t, c)
}

// TestZMQFlushBeforeClose checks that bodies sent right before Close reach
// the master when Flush is called in between: a worker's final statistics
// and quit must not be lost.
func TestZMQFlushBeforeClose(t *testing.T) {
	m := newFakeMaster(t, "127.0.0.1:0")
	defer m.close()
	opts := fastOptions(m.endpoint())
	c := dial(t, opts)
	waitEvent(t, c, Connected)
	big := bytes.Repeat([]byte("s"), 1<<20) // a large final report
	const n = 20
	for i := range n {
		if err := c.Send(append([]byte(fmt.Sprint(i)), big...)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if err := c.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	closeConn(t, c)
	for i := range n {
		m.expect(opts.Identity, append([]byte(fmt.Sprint(i)), big...))
	}
}

func TestZMQFlushWhileDisconnected(t *testing.T) {
	c := dial(t, fastOptions("tcp://"+freeAddr(t)))
	defer closeConn(t, c)
	if err := c.Flush(context.Background()); err != nil {
		t.Fatalf("Flush with nothing queued = %v, want nil", err)
	}
}
