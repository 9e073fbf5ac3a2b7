package worker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// Worker runs user classes for a Python Locust master. The master decides
// how many users of each class run; the worker runs exactly those, and
// reports their requests to the master every three seconds.
//
// The zero value connects to 127.0.0.1:5557.
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
	logger := w.Logger
	if logger == nil {
		logger = slog.Default()
	}
	host, port := w.MasterHost, w.MasterPort
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = 5557
	}
	if port < 1 || port > 65535 {
		return fmt.Errorf("worker: master port %d out of range", port)
	}
	nodeID := w.NodeID
	if nodeID == "" {
		nodeID = protocol.NewNodeID()
	}
	endpoint := net.JoinHostPort(host, strconv.Itoa(port))
	dial := w.dial
	if dial == nil {
		dial = protocol.DialZMQ
	}
	conn, err := dial(ctx, protocol.DialOptions{
		Endpoint: "tcp://" + endpoint,
		Identity: nodeID,
		Logger:   logger,
	})
	if err != nil {
		return fmt.Errorf("worker: connecting to master %s: %w", endpoint, err)
	}
	collector := stats.NewCollector()
	s := &session{
		conn:      conn,
		nodeID:    nodeID,
		version:   w.Version,
		host:      w.Host,
		collector: collector,
		logger:    logger,
		endpoint:  endpoint,
		custom:    classOptions(w.Classes),
	}
	s.pool = newPool(classes, collector, logger, func(msg, traceback string) {
		s.send(protocol.ExceptionMessage{Msg: msg, Traceback: traceback})
	})
	s.pool.configure(w.Host, 0, tagFilter{})
	runErr := s.run(ctx)
	flushCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := conn.Flush(flushCtx); err != nil {
		logger.Warn("the last messages to the master may be lost", "err", err)
	}
	conn.Close()
	s.pool.wait()
	return runErr
}
