package protocol

// This file owns the supervised ZeroMQ connection to the master (DialZMQ):
// dialing with retries, one TCP connection at a time, its reader and
// writer goroutines, the outbound and inbound queues, and the events. The
// ZMTP codec it speaks is in zmtp.go.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// eventBuffer is the capacity of the Events channel.
const eventBuffer = 16

// recvBuffer is the capacity of the Recv channel: none, so that every
// inbound body not yet taken by the consumer is in the Conn's own queue,
// counted against QueueBytes. The reader never stalls on the consumer, and
// disconnects are seen even when the consumer is slow.
const recvBuffer = 0

// keepAliveIdle is the TCP keepalive idle time, as Locust sets it.
const keepAliveIdle = 30 * time.Second

// Bounds of one write: the writer hands at most this many queued bodies,
// or about this many bytes, to one system call.
const (
	writeBatchBodies = 64
	writeBatchBytes  = 1 << 20
)

// dialLogEvery is how often an unchanged dial failure is logged again.
const dialLogEvery = 10 * time.Second

// DialZMQ returns a Conn that connects to a Locust master's ROUTER socket
// as a ZeroMQ DEALER (ZMTP 3.0, NULL security, implemented in this
// package) with the given identity. It validates opts and returns at once;
// dialing happens in the background, with retries every DialRetry, and a
// Connected event is emitted once the connection is up. Canceling ctx has
// the same effect as Close, except that it does not wait.
//
// The Conn follows the rules learnt from testing against real masters:
// one connection at a time (never two live connections with the same
// identity), a pause of ReconnectDelay between teardown and the next dial,
// a deadline of SendTimeout on the connect and handshake and on every
// write (after which the connection is closed: a half-written frame
// corrupts the stream), and queued frames dropped on disconnect. Whatever
// a peer sends, the Conn allocates at most MaxMessageBytes for it and ends
// a connection that breaks ZMTP with a Disconnected event and a retry.
// Failed dials are logged at warning level, once per cause and again
// every 10 s while it lasts.
//
// The Conn also implements SendTracker.
func DialZMQ(ctx context.Context, opts DialOptions) (Conn, error) {
	opts, err := opts.validate()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &zmqConn{
		opts:     opts,
		log:      opts.Logger.With("endpoint", opts.Endpoint, "identity", opts.Identity),
		addr:     strings.TrimPrefix(opts.Endpoint, "tcp://"),
		limits:   defaultLimits(opts.MaxMessageBytes),
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

// outbound is a queued body and whom to tell when it is written or
// dropped.
type outbound struct {
	body []byte
	done func(written bool) // nil for Send
}

// zmqConn is the Conn returned by DialZMQ. One supervisor goroutine (run)
// owns the connection; each connection has a reader and a writer
// goroutine; a forwarder goroutine moves inbound bodies from the inbound
// queue to the Recv channel.
type zmqConn struct {
	opts   DialOptions
	log    *slog.Logger
	addr   string // host:port
	limits zmtpLimits

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
	queue     []outbound
	queued    int           // bytes in queue
	enqueued  uint64        // bodies ever queued
	written   uint64        // bodies ever written, or dropped
	drops     uint64        // disconnects that dropped queued bodies
	progress  chan struct{} // closed and replaced when written or connected changes
	in        [][]byte      // inbound, not yet handed to Recv
	inBytes   int           // bytes in in
	inDropped int           // inbound bodies dropped because in was full
}

func (c *zmqConn) Send(body []byte) error { return c.enqueue(outbound{body: body}) }

// SendTracked implements SendTracker.
func (c *zmqConn) SendTracked(body []byte, done func(written bool)) error {
	return c.enqueue(outbound{body: body, done: done})
}

// Small bodies may go past QueueBytes by up to controlReserve: a queue
// filled by large statistics reports or exceptions must still take the
// worker's heartbeats and its replies to the master (spawning, quit...),
// which are a few hundred bytes.
const (
	controlBodyBytes = 1 << 10
	controlReserve   = 256 << 10
)

// reserveFor returns how far past QueueBytes a body of n bytes may go.
func reserveFor(n int) int {
	if n <= controlBodyBytes {
		return controlReserve
	}
	return 0
}

func (c *zmqConn) enqueue(o outbound) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return ErrClosed
	case !c.connected:
		return ErrDisconnected
	case len(o.body) > c.opts.QueueBytes-c.queued+reserveFor(len(o.body)):
		return ErrQueueFull
	}
	c.queue = append(c.queue, o)
	c.queued += len(o.body)
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
		nc, br, ok := c.dial()
		if !ok {
			return
		}
		c.session(nc, br)
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

// maxInboundBytes bounds the inbound queue whatever QueueBytes says: a
// master sends a few small messages a second, and a peer that floods the
// worker must not grow its memory.
const maxInboundBytes = 16 << 20

// inboundOverhead is what an inbound body costs beyond its bytes (its
// slice in the queue, its allocation): a flood of empty messages is not
// free.
const inboundOverhead = 64

// inboundCost is what body counts against the inbound bound.
func inboundCost(body []byte) int { return len(body) + inboundOverhead }

// deliver queues an inbound body for Recv without blocking. Inbound bodies
// are not dropped on disconnect (a master's last "quit" must still reach
// the worker), only when the consumer has let QueueBytes pile up.
func (c *zmqConn) deliver(body []byte) {
	cost := inboundCost(body)
	c.mu.Lock()
	if cost > min(c.opts.QueueBytes, maxInboundBytes)-c.inBytes {
		c.inDropped++
		n := c.inDropped
		c.mu.Unlock()
		if n&(n-1) == 0 { // the 1st, 2nd, 4th, 8th... drop: a flood logs a few lines
			c.log.Warn("protocol: inbound queue full, message dropped; is Recv being drained?", "dropped", n)
		}
		return
	}
	c.in = append(c.in, body)
	c.inBytes += cost
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
		// Counted until the consumer has it: only this goroutine removes.
		c.mu.Lock()
		c.in[0] = nil
		c.in = c.in[1:]
		c.inBytes -= inboundCost(body)
		c.mu.Unlock()
	}
}

// errHandshakeTimeout is the cause of a dial whose connect and handshake
// did not finish within SendTimeout.
var errHandshakeTimeout = errors.New("protocol: connect or handshake timed out")

// dialResult is the outcome of one dial attempt.
type dialResult struct {
	nc  net.Conn
	br  *bufio.Reader
	err error
}

// dial makes connection attempts until one succeeds (the connection is
// returned) or the Conn is closed (ok is false). Attempts never overlap.
func (c *zmqConn) dial() (nc net.Conn, br *bufio.Reader, ok bool) {
	var limiter dialLogLimiter
	for attempt := 1; ; attempt++ {
		select { // a Reset while not connected just restarts dialing
		case <-c.reset:
		default:
		}
		ctx, cancel := context.WithCancel(c.ctx)
		res := make(chan dialResult, 1)
		go func() {
			nc, br, err := c.dialOnce(ctx)
			res <- dialResult{nc, br, err}
		}()
		var r dialResult
		pause := c.opts.DialRetry
		select {
		case r = <-res:
		case <-c.reset:
			cancel()
			if r = <-res; r.nc != nil {
				_ = r.nc.Close()
			}
			r = dialResult{err: ErrReset}
			pause = c.opts.ReconnectDelay
		case <-c.ctx.Done():
			r = <-res // ctx is done: dialOnce returns at once
		}
		cancel()
		if c.ctx.Err() != nil {
			if r.nc != nil {
				_ = r.nc.Close()
			}
			return nil, nil, false
		}
		if r.err == nil {
			return r.nc, r.br, true
		}
		if !errors.Is(r.err, ErrReset) && limiter.allow(dialCauseKey(r.err), time.Now()) {
			c.log.Warn("protocol: cannot connect to the master; retrying", "attempt", attempt, "err", r.err)
		}
		if !c.sleep(pause) {
			return nil, nil, false
		}
	}
}

// dialOnce connects and runs the handshake, both within SendTimeout. The
// connection is closed, and an error returned, when ctx ends first.
func (c *zmqConn) dialOnce(ctx context.Context) (net.Conn, *bufio.Reader, error) {
	deadline := time.Now().Add(c.opts.SendTimeout)
	d := net.Dialer{Deadline: deadline, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle}}
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, nil, fmt.Errorf("%w: no TCP connection within %s", errHandshakeTimeout, c.opts.SendTimeout)
		}
		return nil, nil, fmt.Errorf("protocol: connect: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	_ = nc.SetDeadline(deadline)
	br := bufio.NewReaderSize(nc, 64<<10)
	_, err = handshake(br, nc, socketType, c.opts.Identity, c.limits)
	if !stop() {
		_ = nc.Close()
		return nil, nil, ctx.Err()
	}
	if err == nil {
		err = nc.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = nc.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, nil, fmt.Errorf("%w: no ZMTP handshake within %s", errHandshakeTimeout, c.opts.SendTimeout)
		}
		return nil, nil, err
	}
	return nc, br, nil
}

// session runs one connection until it fails, is reset or the Conn is
// closed, then tears it down and emits Disconnected.
func (c *zmqConn) session(nc net.Conn, br *bufio.Reader) {
	select { // a Reset requested before this connection existed is moot
	case <-c.reset:
	default:
	}
	s := &session{conn: nc, failed: make(chan struct{}), stop: make(chan struct{})}
	c.mu.Lock()
	c.connected = true
	c.mu.Unlock()
	c.log.Info("protocol: connected to master")
	c.emit(Event{Kind: Connected})

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.readLoop(s, br) }()
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
	c.connected = false // no Send is queued from now on
	c.notifyLocked()
	c.mu.Unlock()
	close(s.stop)
	_ = nc.Close()
	wg.Wait()
	c.mu.Lock()
	dropped := c.queue
	c.queue, c.queued = nil, 0
	if c.written < c.enqueued {
		c.drops++
		c.written = c.enqueued // dropped bodies will never be written
	}
	c.notifyLocked()
	c.mu.Unlock()
	for _, o := range dropped {
		if o.done != nil {
			o.done(false)
		}
	}
	c.log.Info("protocol: disconnected from master", "cause", cause)
	c.emit(Event{Kind: Disconnected, Err: cause})
}

// session is the state shared by one connection's goroutines.
type session struct {
	conn   net.Conn
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

// readLoop reads messages for the whole session, never blocking on the
// consumer, and delivers the first frame of each.
func (c *zmqConn) readLoop(s *session, br *bufio.Reader) {
	for {
		body, err := readMessage(br, c.limits)
		if err != nil {
			if !errors.Is(err, ErrZMTP) { // those say "protocol: zmtp" already
				err = fmt.Errorf("protocol: receive: %w", err)
			}
			s.fail(err)
			return
		}
		c.deliver(body)
	}
}

// writeLoop writes queued bodies, a batch per system call, each batch
// within SendTimeout: on timeout the connection is closed, since a frame
// may be half written.
func (c *zmqConn) writeLoop(s *session) {
	var hdrs []byte
	for {
		batch, ok := c.pop(s)
		if !ok {
			return
		}
		hdrs = hdrs[:0]
		bufs := make(net.Buffers, 0, 2*len(batch))
		for _, o := range batch {
			start := len(hdrs)
			hdrs = appendFrameHeader(hdrs, 0, len(o.body))
			bufs = append(bufs, hdrs[start:len(hdrs):len(hdrs)], o.body)
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(c.opts.SendTimeout))
		n, err := bufs.WriteTo(s.conn)
		complete := c.settle(batch, n)
		if err != nil {
			for _, o := range batch[complete:] {
				if o.done != nil {
					o.done(false)
				}
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w after %s", ErrSendTimeout, c.opts.SendTimeout)
			} else {
				err = fmt.Errorf("protocol: send: %w", err)
			}
			s.fail(err)
			return
		}
	}
}

// settle counts the bodies of batch that the n bytes written completed,
// reports them written and returns how many there were.
func (c *zmqConn) settle(batch []outbound, n int64) int {
	complete := 0
	for _, o := range batch {
		size := int64(len(appendFrameHeader(nil, 0, len(o.body))) + len(o.body))
		if n < size {
			break
		}
		n -= size
		complete++
	}
	if complete == 0 {
		return 0
	}
	c.mu.Lock()
	c.written += uint64(complete)
	c.notifyLocked()
	c.mu.Unlock()
	for _, o := range batch[:complete] {
		if o.done != nil {
			o.done(true)
		}
	}
	return complete
}

// pop returns the next queued bodies, waiting for one; ok is false once
// the session is being torn down.
func (c *zmqConn) pop(s *session) (batch []outbound, ok bool) {
	for {
		select {
		case <-s.stop:
			return nil, false
		default:
		}
		c.mu.Lock()
		bytes := 0
		for len(c.queue) > 0 && len(batch) < writeBatchBodies && (len(batch) == 0 || bytes+len(c.queue[0].body) <= writeBatchBytes) {
			o := c.queue[0]
			c.queue[0] = outbound{}
			c.queue = c.queue[1:]
			c.queued -= len(o.body)
			bytes += len(o.body)
			batch = append(batch, o)
		}
		c.mu.Unlock()
		if len(batch) > 0 {
			return batch, true
		}
		select {
		case <-c.wake:
		case <-s.stop:
			return nil, false
		}
	}
}

// dialCauseKey names the kind of a dial failure without what differs from
// one attempt to the next (ports, addresses), for the log limiter.
func dialCauseKey(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}

// dialLogLimiter decides which dial failures are logged: a cause different
// from the last one logged, or the same one after dialLogEvery.
type dialLogLimiter struct {
	key string
	at  time.Time
}

func (l *dialLogLimiter) allow(key string, now time.Time) bool {
	if key == l.key && now.Sub(l.at) < dialLogEvery {
		return false
	}
	l.key, l.at = key, now
	return true
}
