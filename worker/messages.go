package worker

// This file owns the handling of custom messages received: a queue whose
// goroutine runs the handlers of Hooks.Messages one message at a time, in
// order, away from the goroutine that received them (the session's loop
// must never wait for user code). A spawn waits until the messages
// received before it are handled. hooks.go owns the API; the session
// (session_custom.go) and a standalone run push messages here.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// maxQueuedMessages bounds the messages waiting for their handlers;
// beyond it further ones are refused, counted and logged.
const maxQueuedMessages = 10_000

// messageQueue runs message handlers in order on its own goroutine.
type messageQueue struct {
	handlers map[string][]func(context.Context, Message)
	env      func(context.Context) context.Context
	logger   *slog.Logger

	mu       sync.Mutex
	queue    []Message
	received uint64        // messages pushed, refused ones excluded
	handled  uint64        // messages whose handlers returned
	changed  chan struct{} // closed and replaced when handled grows or a message arrives
	refused  int64
	stuckAt  uint64          // handled+1 while the handler a wait gave up on still runs; 0: none
	warned   map[string]bool // message types without a handler, logged once
}

func newMessageQueue(hooks []*Hooks, env func(context.Context) context.Context, logger *slog.Logger) *messageQueue {
	return &messageQueue{handlers: messageHandlers(hooks), env: env, logger: logger, changed: make(chan struct{}), warned: map[string]bool{}}
}

// errMessagesWaiting refuses a message while maxQueuedMessages wait.
var errMessagesWaiting = errors.New("worker: too many custom messages wait for their handlers")

// push queues m for its handlers. A type without a handler is logged once
// and dropped (Locust logs each); while too many wait, m is refused with
// an error, counted and logged.
func (q *messageQueue) push(m Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.handlers[m.Type]) == 0 {
		if !q.warned[m.Type] {
			q.warned[m.Type] = true
			q.logger.Warn("no handler for a custom message type; add one to Hooks.Messages", "type", peerText(m.Type))
		}
		return nil
	}
	if len(q.queue) >= maxQueuedMessages {
		q.refused++
		if q.refused == 1 || q.refused%1000 == 0 {
			q.logger.Error("custom messages arrive faster than their handlers take them; refusing them",
				"waiting", len(q.queue), "refused_so_far", q.refused)
		}
		return errMessagesWaiting
	}
	q.queue = append(q.queue, m)
	q.received++
	q.signalLocked()
	return nil
}

// handles reports whether a handler takes messages of type typ.
func (q *messageQueue) handles(typ string) bool { return len(q.handlers[typ]) > 0 }

func (q *messageQueue) signalLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// mark returns the number of messages received so far, for waitHandled.
func (q *messageQueue) mark() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.received
}

// waitHandled waits until the first n messages are handled, ctx is done
// or within has passed (a slow handler is logged, the caller goes on).
func (q *messageQueue) waitHandled(ctx context.Context, n uint64, within time.Duration) {
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for {
		q.mu.Lock()
		done, changed := q.handled >= n || q.stuckAt == q.handled+1, q.changed
		q.mu.Unlock()
		if done {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-timeout.C:
			q.logger.Warn("starting users before the custom messages received are handled: a handler is slow", "waited", within)
			q.mu.Lock()
			q.stuckAt = q.handled + 1 // later waits do not wait for it again
			q.mu.Unlock()
			return
		}
	}
}

// run handles messages until ctx is done.
func (q *messageQueue) run(ctx context.Context) {
	for {
		q.mu.Lock()
		changed := q.changed
		var m Message
		ok := len(q.queue) > 0
		if ok {
			m = q.queue[0]
			q.queue[0] = Message{}
			q.queue = q.queue[1:]
		}
		q.mu.Unlock()
		if !ok {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return
			}
		}
		q.handle(ctx, m)
		q.mu.Lock()
		q.handled++
		q.signalLocked()
		q.mu.Unlock()
	}
}

// handle runs m's handlers, logging a panic.
func (q *messageQueue) handle(ctx context.Context, m Message) {
	for _, f := range q.handlers[m.Type] {
		func() {
			defer func() {
				if v := recover(); v != nil {
					q.logger.Error("a custom message handler panicked", "type", m.Type, "panic", fmt.Sprint(v), "stack", string(recovered(v).stack))
				}
			}()
			f(q.env(ctx), m)
		}()
	}
}
