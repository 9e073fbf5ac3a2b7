package worker

// This file owns what a test runs besides its users: Hooks (test start
// and stop, a listener of every request, handlers of the master's custom
// messages), attached to classes with UserClass.Hooks, and Message with
// SendMessage, Locust's runner.send_message and register_message. The
// session (session_custom.go) carries messages to and from a master; a
// standalone run hands them to its own handlers, as Locust's local runner
// does.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
	"github.com/ugorji/go/codec"
)

// Hooks are a test's listeners, like a locustfile's event handlers. Attach
// them to the classes that need them with [UserClass.Hooks]; hooks attached
// to several classes of a run are run once. Every field is optional.
type Hooks struct {
	// TestStart runs once per worker per test, before the first user
	// starts (Locust's test_start on a worker), and standalone before the
	// ramp. An error is logged; the test goes on.
	TestStart func(ctx context.Context) error
	// TestStop runs once per worker per test, after the last user has
	// stopped: on the master's stop or quit, when the worker is shut down
	// or loses its master for good, and at a standalone run's end.
	TestStop func(ctx context.Context) error
	// Request sees every request users record, failures included, as
	// the statistics get it; it is called on the user's goroutine, so it
	// must be quick and safe for concurrent use. Unset, it costs nothing.
	Request func(s stats.Sample)
	// Messages handle the master's custom messages by type (Locust's
	// runner.register_message on a worker). Handlers run one at a time in
	// the order the messages came, never on the session's goroutine; the
	// users of a spawn start only after the messages received before it
	// are handled, so a master can hand out test data in test_start.
	Messages map[string]func(ctx context.Context, m Message)
}

// Hooks attaches hooks to the class. It returns c.
func (c *UserClass) Hooks(h ...*Hooks) *UserClass {
	c.hooks = append(c.hooks, h...)
	return c
}

// Message is a custom message from the master (or, standalone, from
// SendMessage).
type Message struct {
	// Type is the message type, e.g. "accounts".
	Type string
	// Data is the payload as msgpack decodes it: nil, bool, int64,
	// float64, string, []byte, []any, map[string]any.
	Data any
}

// Decode stores the payload in the value v points to, the way msgpack
// decodes into Go values: struct fields by their `codec` tag or name,
// slices, maps, numbers converted (an integer too large for a smaller
// type is an error; a uint64 above math.MaxInt64 decoded into a signed
// type wraps, as the codec has it).
func (m Message) Decode(v any) error {
	var buf []byte
	h := msgpackHandle()
	if err := codec.NewEncoderBytes(&buf, h).Encode(m.Data); err != nil {
		return fmt.Errorf("worker: message %q: %w", m.Type, err)
	}
	if err := codec.NewDecoderBytes(buf, h).Decode(v); err != nil {
		return fmt.Errorf("worker: message %q: decoding into %T: %w", m.Type, v, err)
	}
	return nil
}

// msgpackHandle is the codec setting of Message.Decode: strings as msgpack
// str, maps of strings decoded as map[string]any.
func msgpackHandle() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{WriteExt: true}
	h.RawToString = true
	return h
}

// ErrNoMaster is returned by SendMessage outside a test (no user's or
// hook's context).
var ErrNoMaster = errors.New("worker: SendMessage needs the context of a user, a hook or a message handler")

// SendMessage sends a custom message to the master, like Locust's
// runner.send_message on a worker: the master's locustfile handles it with
// runner.register_message(msgType, handler). ctx is a user's, a hook's or
// a message handler's context. Messages wait, like statistics, until the
// master has registered the worker, and are sent again after a lost
// connection; beyond 10,000 waiting (or 64 MiB) SendMessage refuses new
// ones with an error. Standalone, the run's own Messages handlers get it,
// as Locust's local runner does. data must be made of msgpack's types
// (scalars, strings, slices, maps with string keys, structs).
func SendMessage(ctx context.Context, msgType string, data any) error {
	env := envFrom(ctx)
	if env == nil || env.pool == nil || env.pool.messenger == nil {
		return ErrNoMaster
	}
	return env.pool.messenger(protocol.CustomMessage{MessageType: msgType, Data: data})
}

// testHooks runs a run's hooks: it knows which ran, so that each runs once
// per test.
type testHooks struct {
	hooks  []*Hooks
	logger *slog.Logger
	env    func(ctx context.Context) context.Context // a context SendMessage and Record work with

	mu      sync.Mutex
	running bool // TestStart ran, TestStop not yet
}

// runHooks returns the distinct hooks of classes.
func runHooks(classes []*UserClass) []*Hooks {
	seen := map[*Hooks]bool{}
	var out []*Hooks
	for _, c := range classes {
		for _, h := range c.hooks {
			if h != nil && !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// start runs the TestStart hooks unless a test is running already. A nil
// t has no hooks.
func (t *testHooks) start(ctx context.Context) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running {
		return
	}
	t.running = true
	for _, h := range t.hooks {
		if h.TestStart != nil {
			t.call("test start", h.TestStart, ctx)
		}
	}
}

// stop runs the TestStop hooks if a test is running.
func (t *testHooks) stop(ctx context.Context) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.running {
		return
	}
	t.running = false
	for _, h := range t.hooks {
		if h.TestStop != nil {
			t.call("test stop", h.TestStop, ctx)
		}
	}
}

// call runs one hook, logging its error or panic.
func (t *testHooks) call(what string, hook func(context.Context) error, ctx context.Context) {
	defer func() {
		if v := recover(); v != nil {
			t.logger.Error("a "+what+" hook panicked", "panic", fmt.Sprint(v), "stack", string(recovered(v).stack))
		}
	}()
	if err := hook(t.env(ctx)); err != nil {
		t.logger.Error("a "+what+" hook failed", "err", err)
	}
}

// requestListener returns one function calling every Request hook, or nil
// when there is none.
func requestListener(hooks []*Hooks) func(stats.Sample) {
	var fs []func(stats.Sample)
	for _, h := range hooks {
		if h.Request != nil {
			fs = append(fs, h.Request)
		}
	}
	switch len(fs) {
	case 0:
		return nil
	case 1:
		return fs[0]
	}
	return func(s stats.Sample) {
		for _, f := range fs {
			f(s)
		}
	}
}

// messageHandlers returns the handlers of every hook by message type, in
// the hooks' order.
func messageHandlers(hooks []*Hooks) map[string][]func(context.Context, Message) {
	out := map[string][]func(context.Context, Message){}
	for _, h := range hooks {
		for typ, f := range h.Messages {
			if f != nil {
				out[typ] = append(out[typ], f)
			}
		}
	}
	return out
}
