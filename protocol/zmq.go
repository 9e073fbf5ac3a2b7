package protocol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
)

// zmqScheme names the TCP transport this package registers with zmq4.
//
// zmq4's own "tcp" transport leaves a connection alone once the TCP connect
// has succeeded, so a ZMTP handshake with a peer that never answers (a
// frozen master, a proxy without backend) blocks Dial for ever, even after
// the socket is closed, and a failed handshake leaks the file descriptor.
// This transport closes the connection when the socket's context ends
// (Socket.Close), which makes every dial cancellable. It also sets TCP
// keepalive with a 30 s idle time, like Locust does.
const zmqScheme = "golocust-tcp"

func init() {
	// The name is unique to this package, so registration cannot clash;
	// should it fail anyway, dials report an unknown transport.
	_ = zmq4.RegisterTransport(zmqScheme, closingTCP{})
}

// closingTCP is a zmq4 transport.Transport for plain TCP whose connections
// are closed when the dialing socket's context is done.
type closingTCP struct{}

func (closingTCP) Dial(ctx context.Context, dialer transport.Dialer, addr string) (net.Conn, error) {
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second})
	}
	context.AfterFunc(ctx, func() { _ = c.Close() })
	return c, nil
}

func (closingTCP) Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(ctx, "tcp", addr)
}

func (closingTCP) Addr(ep string) (string, error) {
	return transport.New("tcp").Addr(ep)
}

// recvDrainAttempts is how many extra Recv calls a session makes on its
// closed socket. zmq4's per-connection reader goroutine sends into a
// 10-slot queue without watching the socket's context; if that queue is
// full when the socket closes, the goroutine stays blocked until one slot
// is read. Recv on a closed socket picks at random between the context
// error and a queued message, so a few dozen calls empty a slot with
// overwhelming probability.
const recvDrainAttempts = 64

// eventBuffer is the capacity of the Events channel.
const eventBuffer = 16

// recvBuffer is the capacity of the Recv channel. Beyond it, inbound
// bodies wait in the Conn's own queue (bounded by QueueBytes), so the
// reader never stalls and disconnects are seen even when the consumer is
// slow.
const recvBuffer = 16

// DialZMQ returns a Conn that connects to a Locust master's ROUTER socket
// as a ZeroMQ DEALER (pure Go, github.com/go-zeromq/zmq4) with the given
// identity. It validates opts and returns at once; dialing happens in the
// background, with retries every DialRetry, and a Connected event is
// emitted once the connection is up. Canceling ctx has the same effect as
// Close, except that it does not wait.
//
// The Conn follows the rules learnt from testing against real masters:
// one socket at a time (never two live connections with the same
// identity), a pause of ReconnectDelay between teardown and the next dial,
// its own connected flag (zmq4 silently drops what is sent while
// disconnected), a watchdog that closes the socket when a frame takes
// longer than SendTimeout to write (a timed-out zmq4 send would corrupt
// the stream), queued frames dropped on disconnect, and no automatic
// reconnection inside zmq4 (it can deadlock).
func DialZMQ(ctx context.Context, opts DialOptions) (Conn, error) {
	opts, err := opts.validate()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &zmqConn{
		opts:     opts,
		log:      opts.Logger.With("endpoint", opts.Endpoint, "identity", opts.Identity),
		endpoint: zmqScheme + "://" + strings.TrimPrefix(opts.Endpoint, "tcp://"),
		recv:     make(chan []byte, recvBuffer),
		events:   make(chan Event, eventBuffer),
		wake:     make(chan struct{}, 1),
		inWake:   make(chan struct{}, 1),
		reset:    make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		fwdDone:  make(chan struct{}),
		progress: make(chan struct{}),
	}
	go c.forward()
	go c.run()
	return c, nil
}

// zmqConn is the Conn returned by DialZMQ. One supervisor goroutine (run)
// owns the socket; each connection has a reader and a writer goroutine; a
// forwarder goroutine moves inbound bodies from the inbound queue to the
// Recv channel.
type zmqConn struct {
	opts     DialOptions
	log      *slog.Logger
	endpoint string

	recv   chan []byte
	events chan Event
	wake   chan struct{} // a body was queued for sending
	inWake chan struct{} // a body was queued for Recv
	reset  chan struct{} // Reset was called

	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when run has returned
	fwdDone chan struct{} // closed when forward has returned

	mu        sync.Mutex
	connected bool
	closed    bool
	queue     [][]byte      // outbound
	queued    int           // bytes in queue
	enqueued  uint64        // bodies ever queued
	written   uint64        // bodies ever written, or dropped
	drops     uint64        // disconnects that dropped queued bodies
	progress  chan struct{} // closed and replaced when written or connected changes
	in        [][]byte      // inbound, not yet handed to Recv
	inBytes   int           // bytes in in
	inDropped int           // inbound bodies dropped because in was full
}

func (c *zmqConn) Send(body []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case !c.connected:
		return ErrDisconnected
	case len(body) > c.opts.QueueBytes-c.queued:
		return ErrQueueFull
	}
	c.queue = append(c.queue, body)
	c.queued += len(body)
	c.enqueued++
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

func (c *zmqConn) Flush(ctx context.Context) error {
	c.mu.Lock()
	target, drops := c.enqueued, c.drops
	for {
		switch {
		case c.drops != drops:
			c.mu.Unlock()
			return ErrDisconnected
		case c.written >= target:
			c.mu.Unlock()
			return nil
		case !c.connected:
			c.mu.Unlock()
			return ErrDisconnected
		}
		progress := c.progress
		c.mu.Unlock()
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
}

// notifyLocked wakes Flush callers; c.mu must be held.
func (c *zmqConn) notifyLocked() {
	close(c.progress)
	c.progress = make(chan struct{})
}

func (c *zmqConn) Recv() <-chan []byte { return c.recv }

func (c *zmqConn) Events() <-chan Event { return c.events }

func (c *zmqConn) Reset() {
	select {
	case c.reset <- struct{}{}:
	default:
	}
}

func (c *zmqConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	<-c.done
	return nil
}

// emit delivers ev without blocking: when the buffer is full the oldest
// event is dropped. Only the supervisor goroutine emits.
func (c *zmqConn) emit(ev Event) {
	for {
		select {
		case c.events <- ev:
			return
		default:
		}
		select {
		case <-c.events:
		default:
		}
	}
}

// sleep waits for d or until the Conn is closed; it reports whether the
// Conn is still open.
func (c *zmqConn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// run is the supervisor: dial, run a session until it ends, pause, repeat.
func (c *zmqConn) run() {
	defer c.shutdown()
	for {
		sock, ok := c.dial()
		if !ok {
			return
		}
		c.session(sock)
		if c.ctx.Err() != nil || !c.sleep(c.opts.ReconnectDelay) {
			return
		}
	}
}

func (c *zmqConn) shutdown() {
	c.cancel() // stops the forwarder when the parent context did not
	<-c.fwdDone
	c.mu.Lock()
	c.closed, c.connected = true, false
	c.queue, c.queued = nil, 0
	c.in, c.inBytes = nil, 0
	c.mu.Unlock()
	close(c.events)
	close(c.recv)
	close(c.done)
}

// deliver queues an inbound body for Recv without blocking. Inbound bodies
// are not dropped on disconnect (a master's last "quit" must still reach
// the worker), only when the consumer has let QueueBytes pile up.
func (c *zmqConn) deliver(body []byte) {
	c.mu.Lock()
	if len(body) > c.opts.QueueBytes-c.inBytes {
		c.inDropped++
		n := c.inDropped
		c.mu.Unlock()
		c.log.Warn("protocol: inbound queue full, message dropped; is Recv being drained?", "dropped", n)
		return
	}
	c.in = append(c.in, body)
	c.inBytes += len(body)
	c.mu.Unlock()
	select {
	case c.inWake <- struct{}{}:
	default:
	}
}

// forward hands inbound bodies to the Recv channel in order, until the
// Conn is closed.
func (c *zmqConn) forward() {
	defer close(c.fwdDone)
	for {
		c.mu.Lock()
		var body []byte
		if len(c.in) > 0 {
			body = c.in[0]
			c.in[0] = nil
			c.in = c.in[1:]
			c.inBytes -= len(body)
		}
		c.mu.Unlock()
		if body == nil {
			select {
			case <-c.inWake:
				continue
			case <-c.ctx.Done():
				return
			}
		}
		select {
		case c.recv <- body:
		case <-c.ctx.Done():
			return
		}
	}
}

var errHandshakeTimeout = errors.New("connect or handshake timed out")

// dial makes connection attempts until one succeeds (the socket is
// returned) or the Conn is closed (ok is false). Every attempt uses a new
// socket, which is closed before the next attempt starts.
func (c *zmqConn) dial() (sock zmq4.Socket, ok bool) {
	zlog := slog.NewLogLogger(c.log.Handler(), slog.LevelDebug)
	for attempt := 1; ; attempt++ {
		select { // a Reset while not connected just restarts dialing
		case <-c.reset:
		default:
		}
		sock := zmq4.NewDealer(c.ctx,
			zmq4.WithID(zmq4.SocketIdentity(c.opts.Identity)),
			zmq4.WithDialerMaxRetries(0), // retries are ours: cancellable, one socket at a time
			zmq4.WithDialerTimeout(c.opts.SendTimeout),
			zmq4.WithLogger(zlog),
		)
		errc := make(chan error, 1)
		go func() { errc <- sock.Dial(c.endpoint) }()
		watchdog := time.NewTimer(c.opts.SendTimeout)
		var err error
		pause := c.opts.DialRetry
		select {
		case err = <-errc:
		case <-watchdog.C:
			_ = sock.Close()
			if err = <-errc; err == nil {
				err = errHandshakeTimeout
			}
		case <-c.reset:
			_ = sock.Close()
			<-errc
			err, pause = ErrReset, c.opts.ReconnectDelay
		case <-c.ctx.Done():
			watchdog.Stop()
			_ = sock.Close()
			<-errc
			return nil, false
		}
		watchdog.Stop()
		if err == nil {
			return sock, true
		}
		_ = sock.Close()
		if attempt == 1 || attempt%20 == 0 {
			c.log.Debug("protocol: dial failed", "attempt", attempt, "err", err)
		}
		if !c.sleep(pause) {
			return nil, false
		}
	}
}

// session runs one connection until it fails, is reset or the Conn is
// closed, then tears it down and emits Disconnected.
func (c *zmqConn) session(sock zmq4.Socket) {
	select { // a Reset requested before this connection existed is moot
	case <-c.reset:
	default:
	}
	s := &session{sock: sock, failed: make(chan struct{}), stop: make(chan struct{})}
	c.mu.Lock()
	c.connected = true
	c.mu.Unlock()
	c.log.Info("protocol: connected to master")
	c.emit(Event{Kind: Connected})

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readLoop(s) }()
	go func() { defer wg.Done(); c.writeLoop(s) }()

	var cause error
	select {
	case <-s.failed:
		cause = s.err
	case <-c.reset:
		cause = ErrReset
	case <-c.ctx.Done():
		cause = ErrClosed
	}
	s.fail(cause) // no-op unless the session was still healthy

	c.mu.Lock()
	c.connected = false
	clear(c.queue)
	c.queue, c.queued = c.queue[:0], 0
	if c.written < c.enqueued {
		c.drops++
		c.written = c.enqueued // dropped bodies will never be written
	}
	c.notifyLocked()
	c.mu.Unlock()
	close(s.stop)
	_ = sock.Close()
	wg.Wait()
	c.log.Info("protocol: disconnected from master", "cause", cause)
	c.emit(Event{Kind: Disconnected, Err: cause})
}

// session is the state shared by one connection's goroutines.
type session struct {
	sock   zmq4.Socket
	stop   chan struct{} // closed by the supervisor at teardown
	once   sync.Once
	failed chan struct{} // closed on the first failure
	err    error         // the first failure; read after failed is closed
}

func (s *session) fail(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.failed)
	})
}

// readLoop drains the socket for the whole session, never blocking on the
// consumer: a receive error is the only way zmq4 reports a lost
// connection.
func (c *zmqConn) readLoop(s *session) {
	for {
		msg, err := s.sock.Recv()
		if err != nil {
			s.fail(fmt.Errorf("protocol: receive: %w", err))
			<-s.stop
			for range recvDrainAttempts {
				_, _ = s.sock.Recv()
			}
			return
		}
		if msg.Type == zmq4.CmdMsg || len(msg.Frames) == 0 || msg.Frames[0] == nil {
			continue
		}
		c.deliver(msg.Frames[0])
	}
}

// writeLoop writes queued bodies one at a time, each under a watchdog that
// closes the socket when the write takes longer than SendTimeout.
func (c *zmqConn) writeLoop(s *session) {
	for {
		body, ok := c.pop(s)
		if !ok {
			return
		}
		watchdog := time.AfterFunc(c.opts.SendTimeout, func() {
			// Record the cause before closing, so the reader's error
			// (caused by the close) does not win.
			s.fail(fmt.Errorf("%w after %s", ErrSendTimeout, c.opts.SendTimeout))
			_ = s.sock.Close()
		})
		err := s.sock.Send(zmq4.NewMsg(body))
		if !watchdog.Stop() {
			return // the watchdog fired: the session has failed
		}
		if err != nil {
			s.fail(fmt.Errorf("protocol: send: %w", err))
			return
		}
		c.mu.Lock()
		c.written++
		c.notifyLocked()
		c.mu.Unlock()
	}
}

// pop returns the next queued body, waiting for one; ok is false once the
// session is being torn down.
func (c *zmqConn) pop(s *session) (body []byte, ok bool) {
	for {
		select {
		case <-s.stop:
			return nil, false
		default:
		}
		c.mu.Lock()
		if len(c.queue) > 0 {
			body = c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.queued -= len(body)
			c.mu.Unlock()
			return body, true
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-s.stop:
			return nil, false
		}
	}
}
