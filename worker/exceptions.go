package worker

// This file owns the throttling of the exception messages a worker sends
// its master. Users that fail with no wait can raise tens of thousands of
// exceptions a second; one message each would flood the connection and
// starve heartbeats and reports. So a window (a second) sends the first
// few exceptions of each traceback one by one, and counts the others: one
// message at the window's end carries their count in its text.
//
// A Locust master counts one exception per message and keeps the text of
// the first message of each traceback. So its count is exact as long as
// no traceback passes exceptionBurst a second, and a lower bound beyond;
// then the true count is in the texts of the count messages and in the
// worker's log (a warning a window with the exceptions it counted). A
// standalone run counts every exception exactly (see exceptionLog).

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

const (
	// exceptionWindow is the throttle's period.
	exceptionWindow = time.Second
	// exceptionBurst is how many exceptions of one traceback a window
	// sends one by one; the rest are counted. 100 a second keeps the
	// master's count exact for any ordinary bug (a panic every few
	// tasks), and a flood (tens of thousands a second) to about 100 KB/s.
	exceptionBurst = 100
	// exceptionTracebacks is how many distinct tracebacks a window sends;
	// the exceptions of more are counted together.
	exceptionTracebacks = 10
	// throttledTraceback is the traceback of the message that counts the
	// exceptions of tracebacks beyond exceptionTracebacks.
	throttledTraceback = "golocust: exceptions of too many distinct tracebacks, counted together"
	// maxExceptionMsg and maxExceptionTraceback bound the texts of an
	// exception message: a panic with a 10 MB value must not make 10 MB
	// messages. A Go stack trace starts where the panic happened, so its
	// head is kept.
	maxExceptionMsg       = 4 << 10
	maxExceptionTraceback = 32 << 10
)

// exceptionThrottle decides which exceptions become messages. It holds
// one window at a time; the caller passes the time.
type exceptionThrottle struct {
	window time.Duration
	burst  int                 // exceptions of a traceback sent one by one per window
	limit  int                 // distinct tracebacks sent per window
	end    time.Time           // the end of the current window; zero when none is open
	sent   map[string]*unsent  // the tracebacks sent in this window
	other  unsent              // exceptions of tracebacks beyond limit
	others map[string]struct{} // the tracebacks behind other, up to limit, for the message text
}

// unsent counts the exceptions of a traceback not sent in the window.
type unsent struct {
	sent int   // sent one by one
	n    int64 // counted
	msg  string
}

func newExceptionThrottle(window time.Duration, burst, limit int) *exceptionThrottle {
	return &exceptionThrottle{window: window, burst: burst, limit: limit, sent: make(map[string]*unsent), others: make(map[string]struct{})}
}

// add takes one exception at now and returns the messages to send: the
// counts of the window that ended before now, if any (counted is the
// number of exceptions they stand for), then this exception unless it is
// held (counted, to be sent with the window's counts). A window opens at
// the first exception after the previous one ended; the caller must flush
// it at its end (see end).
func (t *exceptionThrottle) add(msg, traceback string, now time.Time) (out []protocol.ExceptionMessage, counted int64, held bool) {
	out, counted = t.flush(now)
	if t.end.IsZero() {
		t.end = now.Add(t.window)
	}
	u, ok := t.sent[traceback]
	if !ok && len(t.sent) < t.limit {
		u = &unsent{}
		t.sent[traceback] = u
	}
	if u != nil && u.sent < t.burst {
		u.sent++
		return append(out, protocol.ExceptionMessage{Msg: msg, Traceback: traceback}), counted, false
	}
	if u != nil {
		u.n++
		u.msg = msg
		return out, counted, true
	}
	t.other.n++
	t.other.msg = msg
	if len(t.others) < t.limit {
		t.others[traceback] = struct{}{}
	}
	return out, counted, true
}

// flush ends the window when now is at or past its end, and returns the
// messages that count the exceptions it did not send, and their number.
func (t *exceptionThrottle) flush(now time.Time) (out []protocol.ExceptionMessage, counted int64) {
	if t.end.IsZero() || now.Before(t.end) {
		return nil, 0
	}
	for tb, u := range t.sent { // map order: any order will do
		counted += u.n
		if u.n > 0 {
			out = append(out, protocol.ExceptionMessage{
				Msg:       fmt.Sprintf("%s (and %d more like it in %s, not sent one by one)", u.msg, u.n, t.window),
				Traceback: tb,
			})
		}
	}
	counted += t.other.n
	if t.other.n > 0 {
		more := ""
		if len(t.others) == t.limit {
			more = " or more"
		}
		out = append(out, protocol.ExceptionMessage{
			Msg: fmt.Sprintf("%d exceptions of %d%s other tracebacks in %s, not sent one by one (more than %d tracebacks); the latest: %s",
				t.other.n, len(t.others), more, t.window, t.limit, t.other.msg),
			Traceback: throttledTraceback,
		})
	}
	t.end = time.Time{}
	clear(t.sent)
	clear(t.others)
	t.other = unsent{}
	return out, counted
}

// exceptionSender is a worker's exception function: it throttles the
// exceptions, sends the messages, and flushes each window at its end.
type exceptionSender struct {
	send   func(protocol.ExceptionMessage)
	logger *slog.Logger

	mu       sync.Mutex
	throttle *exceptionThrottle
	timer    *time.Timer
}

func newExceptionSender(send func(protocol.ExceptionMessage), logger *slog.Logger) *exceptionSender {
	return &exceptionSender{send: send, logger: logger, throttle: newExceptionThrottle(exceptionWindow, exceptionBurst, exceptionTracebacks)}
}

// boundException cuts an exception's message and traceback to their
// limits, the traceback made stable first, so that identical panics
// share one row (worker and standalone alike).
func boundException(msg, traceback string) (string, string) {
	return stats.Truncate(msg, maxExceptionMsg), stats.Truncate(stableTraceback(traceback), maxExceptionTraceback)
}

// exception is the exceptionFunc of a worker's pool. The traceback is made
// stable, so that identical panics share one row and one throttle.
func (s *exceptionSender) exception(msg, traceback string) {
	msg, traceback = boundException(msg, traceback)
	s.mu.Lock()
	end := s.throttle.end
	out, counted, held := s.throttle.add(msg, traceback, time.Now())
	if s.throttle.end != end { // a window opened: flush it at its end
		if s.timer == nil {
			s.timer = time.AfterFunc(exceptionWindow, s.flush)
		} else {
			s.timer.Reset(exceptionWindow)
		}
	}
	s.mu.Unlock()
	countMsgs := len(out) // the exception itself, when sent, comes last
	if !held {
		countMsgs--
	}
	s.sendAll(out, countMsgs, counted)
}

// flush sends the counts of the window that ended, if any.
func (s *exceptionSender) flush() {
	s.mu.Lock()
	out, counted := s.throttle.flush(time.Now())
	s.mu.Unlock()
	s.sendAll(out, len(out), counted)
}

// close stops the timer and sends the counts of the open window at once,
// so that none is lost when the worker ends.
func (s *exceptionSender) close() {
	s.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	out, counted := s.throttle.flush(s.throttle.end) // end the window now, whatever its end
	s.mu.Unlock()
	s.sendAll(out, len(out), counted)
}

// sendAll sends out and logs what its countMsgs count messages stand for:
// the master counts each of them once, for counted exceptions, so its
// true count is its own minus the count messages plus the counted ones.
func (s *exceptionSender) sendAll(out []protocol.ExceptionMessage, countMsgs int, counted int64) {
	if counted > 0 {
		s.logger.Warn("too many exceptions to send one by one: some went to the master as counts, which its exceptions table counts once each",
			"counted", counted, "count_messages", countMsgs, "window", exceptionWindow, "one_by_one_per_traceback", exceptionBurst)
	}
	for _, m := range out {
		s.send(m)
	}
}
