package protocol

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// EventKind tells what happened to a Conn.
type EventKind int

const (
	// Connected means a connection to the master is up: the worker should
	// reset its state to "ready" and send ClientReadyMessage.
	Connected EventKind = iota + 1
	// Disconnected means the connection went away; queued messages were
	// dropped and Send returns ErrDisconnected until the next Connected.
	Disconnected
)

// String returns "connected" or "disconnected".
func (k EventKind) String() string {
	switch k {
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change of a Conn's connection state.
type Event struct {
	// Kind is Connected or Disconnected.
	Kind EventKind
	// Err is the cause of a Disconnected event (it wraps ErrSendTimeout,
	// ErrReset, ErrClosed or the transport's error); nil for Connected.
	Err error
}

// Errors returned by Conn.Send and carried by Disconnected events.
var (
	// ErrDisconnected is returned by Send while no connection is up.
	ErrDisconnected = errors.New("protocol: not connected to the master")
	// ErrClosed is returned by Send after Close, and is the cause of the
	// last Disconnected event.
	ErrClosed = errors.New("protocol: connection closed")
	// ErrQueueFull is returned by Send when queuing the body would exceed
	// DialOptions.QueueBytes (bodies of at most 1 KiB, heartbeats and
	// replies, have 256 KiB more).
	ErrQueueFull = errors.New("protocol: send queue full")
	// ErrSendTimeout is the cause of a Disconnected event when a frame
	// could not be written within DialOptions.SendTimeout.
	ErrSendTimeout = errors.New("protocol: send timed out")
	// ErrReset is the cause of the Disconnected event that Conn.Reset
	// triggers.
	ErrReset = errors.New("protocol: connection reset by the caller")
)

// Conn is a supervised connection to a master carrying whole message bodies.
// It reconnects by itself and reports every change on Events. Its methods
// are safe for concurrent use.
type Conn interface {
	// Send queues body for the master and never blocks. It returns
	// ErrDisconnected while no connection is up, ErrQueueFull when the
	// queue is at its byte limit and ErrClosed after Close. The Conn keeps
	// body until it is written: the caller must not modify it afterwards.
	// Queued bodies are dropped when the connection goes away; a caller
	// that must know whether a body was written uses SendTracker.
	Send(body []byte) error
	// Recv returns the channel of inbound bodies, in the order received; it
	// is closed by Close. Bodies received before a disconnect are still
	// delivered (a master's last "quit" must reach the worker).
	Recv() <-chan []byte
	// Events returns the channel of Connected and Disconnected events. It
	// is buffered and never blocks the Conn: when it is full the oldest
	// event is dropped, so the latest state always arrives. It is closed
	// by Close, after a final Disconnected event if a connection was up.
	Events() <-chan Event
	// Reset tears the connection down and dials again after the reconnect
	// delay, with the same identity. Use it when the master does not
	// answer client_ready. While dialing, it restarts the dial.
	Reset()
	// Flush waits until every body queued before the call has been handed
	// to the operating system, so that a Close after it does not lose the
	// worker's last messages. It returns ErrDisconnected if the connection
	// went away first, or ctx's error.
	Flush(ctx context.Context) error
	// Close cancels dialing, closes the connection and returns after all
	// of the Conn's goroutines have exited.
	Close() error
}

// SendTracker is implemented by a Conn that tells which bodies were
// written (DialZMQ's does). A caller that must not lose a body (a
// statistics report) sends it with SendTracked and keeps it until done
// reports it written; Send alone cannot tell a written body from one
// dropped with its connection.
type SendTracker interface {
	// SendTracked is Send, and when it returns nil, done is called exactly
	// once: with true when the whole body was handed to the operating
	// system, with false when it was dropped (the connection went away
	// first, or the Conn was closed). done is called from one of the
	// Conn's goroutines, without the Conn's locks held; it must not block
	// and must not call the Conn. When SendTracked returns an error, done
	// is never called.
	SendTracked(body []byte, done func(written bool)) error
}

// Defaults and limits for DialOptions.
const (
	// DefaultSendTimeout is the default DialOptions.SendTimeout.
	DefaultSendTimeout = 10 * time.Second
	// DefaultReconnectDelay is the default DialOptions.ReconnectDelay.
	DefaultReconnectDelay = time.Second
	// MinReconnectDelay is the shortest DialOptions.ReconnectDelay
	// accepted: a master's ROUTER ignores a new connection that reuses the
	// identity of one it has not yet seen close.
	MinReconnectDelay = 300 * time.Millisecond
	// DefaultDialRetry is the default DialOptions.DialRetry.
	DefaultDialRetry = 500 * time.Millisecond
	// DefaultQueueBytes is the default DialOptions.QueueBytes.
	DefaultQueueBytes = 64 << 20
)

// DialOptions configures DialZMQ.
type DialOptions struct {
	// Endpoint is the master's address, "tcp://host:port".
	Endpoint string
	// Identity is the ZMQ routing id; it must equal the node id sent in
	// every body. 1..255 bytes of UTF-8, not starting with a NUL byte.
	Identity string
	// SendTimeout bounds each write (default 10 s): of one frame, or of a
	// batch of small frames up to 1 MiB. When it expires the socket is
	// closed, Disconnected is emitted and the Conn reconnects. It also
	// bounds the TCP connect and ZMTP handshake of each dial attempt
	// together.
	SendTimeout time.Duration
	// ReconnectDelay is the pause between a teardown and the next dial
	// (default 1 s, at least MinReconnectDelay).
	ReconnectDelay time.Duration
	// DialRetry is the pause between failed dial attempts (default
	// 500 ms).
	DialRetry time.Duration
	// QueueBytes bounds the bytes of queued, unsent bodies (default
	// 64 MiB); Send returns ErrQueueFull beyond it. The same bound applies
	// separately to received bodies not yet taken from Recv: beyond it,
	// new ones are dropped and a warning is logged.
	QueueBytes int
	// MaxMessageBytes bounds one inbound message, all its frames together
	// (default DefaultMaxMessageBytes): a peer announcing more is
	// disconnected before anything is allocated for it. A message also has
	// at most 16 frames, of which only the first is delivered.
	MaxMessageBytes int
	// Logger receives the Conn's logs; nil discards them.
	Logger *slog.Logger
}

// validate checks o and fills in the defaults.
func (o DialOptions) validate() (DialOptions, error) {
	rest, ok := strings.CutPrefix(o.Endpoint, "tcp://")
	if !ok {
		return o, fmt.Errorf("protocol: endpoint %q: want tcp://host:port", o.Endpoint)
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return o, fmt.Errorf("protocol: endpoint %q: %w", o.Endpoint, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return o, fmt.Errorf("protocol: endpoint %q: invalid port %q", o.Endpoint, port)
	}
	if host == "" || host == "*" {
		return o, fmt.Errorf("protocol: endpoint %q: missing host", o.Endpoint)
	}
	if err := validateNodeID(o.Identity); err != nil {
		return o, fmt.Errorf("protocol: identity: %w", err)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"SendTimeout", &o.SendTimeout, DefaultSendTimeout},
		{"ReconnectDelay", &o.ReconnectDelay, DefaultReconnectDelay},
		{"DialRetry", &o.DialRetry, DefaultDialRetry},
	} {
		switch {
		case *d.v < 0:
			return o, fmt.Errorf("protocol: %s is negative (%s)", d.name, *d.v)
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if o.ReconnectDelay < MinReconnectDelay {
		return o, fmt.Errorf("protocol: ReconnectDelay %s is shorter than %s", o.ReconnectDelay, MinReconnectDelay)
	}
	switch {
	case o.QueueBytes < 0:
		return o, fmt.Errorf("protocol: QueueBytes is negative (%d)", o.QueueBytes)
	case o.QueueBytes == 0:
		o.QueueBytes = DefaultQueueBytes
	}
	switch {
	case o.MaxMessageBytes < 0:
		return o, fmt.Errorf("protocol: MaxMessageBytes is negative (%d)", o.MaxMessageBytes)
	case o.MaxMessageBytes == 0:
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}
