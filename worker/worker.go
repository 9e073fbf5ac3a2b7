package worker

// This file owns Worker, the way in for a Locust master without the
// command line: it validates the classes, dials the master and hands the
// conversation to the session (session.go), then flushes and waits for
// the users. It also makes panics' tracebacks stable for the master.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// Worker runs user classes for a Python Locust master. The master decides
// how many users of each class run; the worker runs exactly those, and
// reports their requests to the master every three seconds.
//
// It is one of the advanced ways in, for programs that build the run
// themselves instead of from the command line; [Main] runs it when given
// --master-host or --worker. The zero value connects to 127.0.0.1:5557.
type Worker struct {
	// MasterHost is the master's host name or address; "" means 127.0.0.1.
	MasterHost string
	// MasterPort is the master's port; 0 means 5557.
	MasterPort int
	// Host is the target base URL users get when the master sends none.
	Host string
	// Classes are the user classes, named as in the master's locustfile.
	Classes []*UserClass
	// Logger receives the worker's log; nil means slog.Default().
	Logger *slog.Logger
	// NodeID overrides the generated "<hostname>_<32 hex>" identity.
	NodeID string
	// Version is sent in client_ready; "" sends -1, which every Locust 2.x
	// master accepts without a version warning.
	Version string
	// NoMasterTimeout is how long users keep running while no master
	// knows the worker (the connection is lost, or the master restarted):
	// after it, users are stopped and the worker keeps waiting for a
	// master, which starts them again with its next spawn. 0 means
	// DefaultNoMasterTimeout (60 s, like Locust's newest workers); a
	// negative value stops users as soon as the master is lost. Users that
	// survived, on a master that does not resume the test within 3 s of
	// the worker registering again, are stopped too.
	NoMasterTimeout time.Duration
	// MaxUsers is the most users a spawn may ask this worker for; a spawn
	// asking for more (or for a negative count) is refused with an error
	// in the log and the users keep running as they were. 0 means
	// DefaultMaxUsers.
	MaxUsers int64
	// HTTP configures the users' HTTP connections: shared or one per
	// user, and TLS (certificates are verified by default).
	HTTP HTTPOptions
	// Prometheus, when set, is the address (e.g. 0.0.0.0:9646) of a
	// /metrics endpoint of the worker's requests, users and state.
	Prometheus string
	// MaxRPS caps this worker's task iterations per second; 0: no cap.
	// The cap is per worker: with N workers the test makes up to N*MaxRPS.
	// A master whose locustfile declares a max_rps option (e.g.
	// parser.add_argument("--max-rps", type=float, default=0)) sends its
	// value with each spawn, and a value above 0 wins; it too is per
	// worker. 0, None or "" (the option's default) leaves MaxRPS.
	MaxRPS float64

	// dial replaces the ZeroMQ transport in tests.
	dial func(ctx context.Context, opts protocol.DialOptions) (protocol.Conn, error)
}

// Run connects to the master and serves it until the master says quit
// (Run returns nil) or ctx is cancelled, in which case users are stopped
// within the stop timeout, the last statistics and a quit are sent, and Run
// returns ctx's error.
func (w *Worker) Run(ctx context.Context) error {
	classes, err := validateClasses(w.Classes)
	if err != nil {
		return err
	}
	httpOpts, err := w.HTTP.resolved()
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	logger := w.Logger
	if logger == nil {
		logger = slog.Default()
	}
	endpoint, err := w.endpoint()
	if err != nil {
		return err
	}
	nodeID := w.NodeID
	if nodeID == "" {
		nodeID = protocol.NewNodeID()
	}
	dial := w.dial
	if dial == nil {
		dial = protocol.DialZMQ
	}
	// The connection outlives ctx: after a cancel the worker still sends
	// its last statistics and quit, then closes it.
	conn, err := dial(context.WithoutCancel(ctx), protocol.DialOptions{Endpoint: "tcp://" + endpoint, Identity: nodeID, Logger: logger})
	if err != nil {
		return fmt.Errorf("worker: connecting to master %s: %w", endpoint, err)
	}
	raiseFileLimit(logger)
	if limit, ok := fileLimit(); ok && limit < lowFileLimit {
		logger.Warn("the open-file limit is low: it bounds the requests in flight at once (users share keep-alive connections, one per request in flight) and the users that hold a connection of their own; raise it with ulimit -n",
			"open_file_limit", limit, "connections", max(int64(limit)-fdReserve, 0))
	}
	s := w.newSession(conn, endpoint, nodeID, logger)
	s.pool = newPool(classes, s.collector, logger, masterExceptions(s))
	s.pool.setHTTP(httpOpts)
	s.pool.configure(w.Host, 0, tagFilter{})
	s.pool.setMaxRPS(time.Now(), w.MaxRPS)
	hooks := runHooks(w.Classes)
	var promListen func(stats.Sample)
	if w.Prometheus != "" {
		e := newExporter(s.pool.counts, s.currentState)
		if err := e.start(w.Prometheus, logger); err != nil {
			conn.Close()
			return &optionError{fmt.Errorf("worker: %w", err)}
		}
		defer e.close()
		promListen = e.listen
	}
	s.pool.listen = joinListeners(requestListener(hooks), promListen)
	s.pool.messenger = s.sendCustom
	s.hooks = &testHooks{hooks: hooks, logger: logger, env: s.pool.hookContext}
	s.messages = newMessageQueue(hooks, s.pool.hookContext, logger)
	messagesCtx, stopMessages := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMessages()
	go s.messages.run(messagesCtx)
	runCtx, stopTest := context.WithCancelCause(ctx)
	defer stopTest(nil)
	s.pool.setStopTest(func() {
		logger.Info("a user stopped the test: this worker stops its users and quits; the master stops the test when its last worker quits")
		stopTest(errUserStoppedTest)
	})
	runErr := s.run(runCtx)
	hangUp(s)
	if ctx.Err() == nil && errors.Is(context.Cause(runCtx), errUserStoppedTest) {
		return nil // the test ended as a user asked
	}
	return runErr
}

// errUserStoppedTest is why a worker quits when a user called StopTest.
var errUserStoppedTest = errors.New("a user stopped the test")

// endpoint returns the master's host:port, 127.0.0.1:5557 unless w says
// otherwise.
func (w *Worker) endpoint() (string, error) {
	host, port := w.MasterHost, w.MasterPort
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = 5557
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("worker: master port %d out of range", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// newSession returns the session of w on conn, without its pool.
func (w *Worker) newSession(conn protocol.Conn, endpoint, nodeID string, logger *slog.Logger) *session {
	noMaster := w.NoMasterTimeout
	if noMaster == 0 {
		noMaster = DefaultNoMasterTimeout
	}
	maxUsers := w.MaxUsers
	if maxUsers <= 0 {
		maxUsers = DefaultMaxUsers
	}
	collector := stats.NewCollector()
	collector.SetLogger(logger)
	return &session{
		conn:            conn,
		nodeID:          nodeID,
		version:         w.Version,
		host:            w.Host,
		collector:       collector,
		logger:          logger,
		endpoint:        endpoint,
		custom:          classOptions(w.Classes),
		noMasterTimeout: noMaster,
		maxUsers:        maxUsers,
	}
}

// masterExceptions returns what the pool reports user-code exceptions to:
// the master of s, throttled per traceback (see exceptionSender), with
// stable tracebacks, so identical panics share one row. What it holds
// back is sent before the session's final report.
func masterExceptions(s *session) func(msg, traceback string) {
	sender := newExceptionSender(func(m protocol.ExceptionMessage) { s.send(m) }, s.logger)
	s.beforeQuit = sender.close
	return sender.exception
}

// hangUp sends what the session still has queued, within a second,
// closes its connection, and waits for its users.
func hangUp(s *session) {
	flushCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.conn.Flush(flushCtx); err != nil {
		s.logger.Warn("the last messages to the master may be lost", "err", err)
	}
	s.conn.Close()
	s.logLostReports()
	s.closeOutbox()
	s.logLostMessages()
	// Stopping users gave up on stuck ones after stopGrace already.
	s.pool.waitWithin(stopGrace)
}

// lowFileLimit is the open-file limit below which the worker warns at
// start.
const lowFileLimit = 4096

var (
	goroutineHeader = regexp.MustCompile(`^goroutine \d+ \[[^\]]*\]:$`)
	inGoroutine     = regexp.MustCompile(` in goroutine \d+$`)
	frameArgs       = regexp.MustCompile(`\([^()]*\)$`)
	panicHeader     = regexp.MustCompile(`^(panic in [^ :]+): .*$`)
)

// stableTraceback removes what differs between two panics at the same
// place in a Go stack trace (the panic value, goroutine ids, argument
// values), because the master groups exceptions by their exact traceback
// text. Like Python's, the traceback then names only where it happened;
// the exception message carries the value.
func stableTraceback(tb string) string {
	lines := strings.Split(tb, "\n")
	out := lines[:0]
	for i, l := range lines {
		if i == 0 {
			l = panicHeader.ReplaceAllString(l, "$1")
		}
		if goroutineHeader.MatchString(l) {
			continue
		}
		l = inGoroutine.ReplaceAllString(l, "")
		if !strings.HasPrefix(l, "\t") {
			l = frameArgs.ReplaceAllString(l, "(...)")
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
