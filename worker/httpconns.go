package worker

// This file owns where users' HTTP connections come from: the pool's
// shared keep-alive connections (the default), or connections of each
// user's own (HTTPOptions.ConnectionPerUser); the TLS settings of both
// clients; the fast client's dialer, its check of idle connections, its
// yield before reading a response and its watch of requests in flight;
// and the back-off of a user whose connections cannot be dialled.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/golocust/golocust/stats"
)

// HTTPOptions configure the connections of every [HTTPUser] and
// [FastHTTPUser] of a run.
//
// By default all users share one pool of keep-alive connections per
// target: a connection is opened when a request finds no idle one, and
// idle ones are closed after a while, so the connections follow the
// requests in flight, not the users (450,000 users paced at a request a
// minute needed a few hundred connections, not 450,000 file descriptors).
// Cookies, redirects and timeouts stay each user's own.
type HTTPOptions struct {
	// TLS configures connections to https targets. nil, the default,
	// verifies the target's certificate against the system's roots, as
	// Locust's HttpUser does. It must not be changed once the run has
	// started.
	TLS *tls.Config
	// Insecure skips verifying the target's certificate and host name,
	// like Python requests' verify=False (--insecure).
	Insecure bool
	// CAFiles are PEM files of the certificate authorities to trust
	// instead of the system's (--ca-file).
	CAFiles []string
	// CertFile and KeyFile are PEM files of a client certificate and its
	// key (--client-cert, --client-key); an empty KeyFile reads the key
	// from CertFile.
	//
	// Insecure, CAFiles, CertFile and KeyFile are read when the run
	// starts; each one set replaces its part of a copy of TLS.
	CertFile, KeyFile string
	// ConnectionPerUser gives each user connections of its own, as each
	// Python Locust user has, instead of the shared pool: a user keeps
	// its connection between requests (closing it after 2 minutes of
	// disuse) and closes it when it
	// exits. It is for tests of a server's connection limits; every
	// connected user then holds a file descriptor. A class can ask for it
	// alone with [UserClass.ConnectionPerUser].
	ConnectionPerUser bool
}

// resolved returns o with the TLS files read into TLS, for
// newConnections, which looks at TLS only.
func (o HTTPOptions) resolved() (HTTPOptions, error) {
	cfg, err := o.buildTLS()
	if err != nil {
		return o, fmt.Errorf("TLS options: %w", err)
	}
	return HTTPOptions{TLS: cfg, ConnectionPerUser: o.ConnectionPerUser}, nil
}

// buildTLS returns the TLS configuration o describes: TLS itself when no
// file option is set (nil: verify against the system's roots), else a
// copy of it (or a new one) with the file options applied.
func (o HTTPOptions) buildTLS() (*tls.Config, error) {
	if !o.Insecure && len(o.CAFiles) == 0 && o.CertFile == "" && o.KeyFile == "" {
		return o.TLS, nil
	}
	cfg := &tls.Config{}
	if o.TLS != nil {
		cfg = o.TLS.Clone()
	}
	if o.Insecure {
		cfg.InsecureSkipVerify = true //nolint:gosec // asked for explicitly
	}
	if len(o.CAFiles) > 0 {
		roots := x509.NewCertPool()
		for _, name := range o.CAFiles {
			pem, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("CA file: %w", err)
			}
			if !roots.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA file %s: no PEM certificate in it", name)
			}
		}
		cfg.RootCAs = roots
	}
	switch {
	case o.CertFile != "":
		key := o.KeyFile
		if key == "" {
			key = o.CertFile
		}
		cert, err := tls.LoadX509KeyPair(o.CertFile, key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case o.KeyFile != "":
		return nil, errors.New("a client key without a client certificate")
	}
	return cfg, nil
}

// perUserIdleTimeout is how long a user's own connection may stay idle
// (ConnectionPerUser). It is longer than the pacing of most tests, so
// that a user holds its connection as a Python user does, and it bounds
// how long fasthttp's idle-connection cleaner outlives an exited user.
const perUserIdleTimeout = 2 * time.Minute

// sharedMaxConns is the fast client's limit on connections to one host in
// the shared pool: none in practice, as net/http's.
const sharedMaxConns = 1 << 30

// dialFunc opens a connection; tests give one that fails.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// connections is where a pool's users get their HTTP connections.
type connections struct {
	tls     *tls.Config
	perUser bool
	// maxConns bounds the shared pool's connections to one host (0: no
	// bound): see sharedConnLimit.
	maxConns int
	dial     dialFunc                                   // nil: the default dialer
	pause    func(ctx context.Context, d time.Duration) // the dial back-off; nil: sleepCtx

	http  *http.Transport // shared by HTTPUsers
	limit *requestLimit   // the shared pool's requests in flight (requestlimit.go)

	lastBase atomic.Pointer[baseParse] // the base URL last parsed (parseBase)

	mu        sync.Mutex
	fastHosts map[fastHostKey]*fasthttp.HostClient // shared by FastHTTPUsers, per target
	fastOther *fasthttp.Client                     // shared, for requests to other hosts

	inflight inflight      // the fast clients' requests in flight
	slots    atomic.Uint32 // hands out the fast clients' slots
	calls    sync.Pool     // the fast clients' *fastCall, for reuse
	reuses   sync.Pool     // the fast clients' *fastReuse, given back by resting clients
	clock    startClock    // the start time of every user's requests
}

type fastHostKey struct {
	addr string
	tls  bool
}

func newConnections(o HTTPOptions) *connections {
	c := &connections{tls: o.TLS, perUser: o.ConnectionPerUser, maxConns: sharedConnLimit()}
	c.http = c.newTransport(false)
	c.limit = newRequestLimit(c.maxConns)
	return c
}

// setHTTP makes the users the pool starts from now on use o. It is called
// before the first user starts.
func (p *pool) setHTTP(o HTTPOptions) { p.transport = newConnections(o) }

// newTransport returns a net/http transport: the shared one, or a user's
// own.
func (c *connections) newTransport(own bool) *http.Transport {
	t := newHTTPTransport()
	if c.tls != nil {
		t.TLSClientConfig = c.tls.Clone()
	}
	if c.dial != nil {
		t.DialContext = c.dial
	}
	if own {
		t.MaxIdleConnsPerHost = 1
		t.IdleConnTimeout = perUserIdleTimeout
	} else {
		t.MaxConnsPerHost = c.maxConns // 0: no bound
	}
	return t
}

// sharedConnLimit returns the most connections the shared pool opens to
// one host: what the open-file limit leaves once fdReserve is kept for
// the worker itself, or 0 (no bound) on a platform without a limit.
// Requests beyond it wait for a connection to come free instead of
// failing for want of file descriptors; when the process falls behind (a
// busy CPU makes every request take longer, so more are in flight), this
// also stops it from spending what CPU it has left on dialling
// connections it cannot use.
func sharedConnLimit() int {
	limit, ok := fileLimit()
	if !ok || limit > 1<<30 {
		return 0
	}
	return max(int(limit)-fdReserve, 16)
}

// fastMaxConns is maxConns for fasthttp, which has no "no bound".
func (c *connections) fastMaxConns() int {
	if c.maxConns > 0 {
		return c.maxConns
	}
	return sharedMaxConns
}

// httpClient returns a client for a new user.
func (c *connections) httpClient(base string, rec stats.Recorder, own bool) *HTTPClient {
	base = strings.TrimRight(base, "/")
	_, bad := c.parseBase(base)
	if !own {
		hc := newCheckedHTTPClient(base, bad, c.sharedHTTP(), rec)
		hc.dials.pause, hc.clock = c.pause, &c.clock
		return hc
	}
	t := c.newTransport(true)
	hc := newCheckedHTTPClient(base, bad, t, rec)
	hc.own = t
	hc.dials.pause, hc.clock = c.pause, &c.clock
	return hc
}

// sharedHTTP returns the shared pool's transport: requests in flight
// within c.limit, when there is one.
func (c *connections) sharedHTTP() http.RoundTripper {
	if c.limit == nil {
		return c.http
	}
	return &limitedTransport{rt: c.http, limit: c.limit}
}

// backlog returns how many requests of the shared pool wait for a place in
// its request limit.
func (c *connections) backlog() int {
	if c == nil || c.limit == nil {
		return 0
	}
	return c.limit.waiting()
}

// fastClient returns a fast client for a new user.
func (c *connections) fastClient(base string, rec stats.Recorder, own bool) *FastHTTPClient {
	fc := newFastClient(base, rec, c, own)
	fc.slot = c.slots.Add(1)
	fc.dials.pause = c.pause
	return fc
}

// fastHost returns the shared connections to u's host.
func (c *connections) fastHost(u *url.URL) *fasthttp.HostClient {
	key := fastHostKey{addrOf(u), u.Scheme == "https"}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.fastHosts[key]; ok {
		return h
	}
	if c.fastHosts == nil {
		c.fastHosts = make(map[fastHostKey]*fasthttp.HostClient)
	}
	h := c.newFastHost(u, false)
	c.fastHosts[key] = h
	return h
}

// newFastHost returns connections to u's host: shared ones, or a user's
// own. Their transport is the fast client's (fastTransport), which reads
// each body into its request's memory.
func (c *connections) newFastHost(u *url.URL, own bool) *fasthttp.HostClient {
	h := &fasthttp.HostClient{
		Transport:                 fastTransport{},
		Addr:                      addrOf(u),
		IsTLS:                     u.Scheme == "https",
		TLSConfig:                 c.tlsConfig(),
		DialTimeout:               c.fastDial(addrOf(u), u.Scheme == "https"),
		NoDefaultUserAgentHeader:  true, // no ReadTimeout, WriteTimeout: keptConn bounds requests
		MaxIdemponentCallAttempts: maxStaleRetries,
		RetryIfErr:                retryStale,
		MaxConns:                  c.fastMaxConns(),
		MaxConnWaitTimeout:        fastNetworkTimeout, // at the bound, wait for a connection
	}
	if own {
		h.MaxIdleConnDuration = perUserIdleTimeout
	}
	return h
}

// newFastOther returns connections to any host: shared ones, or a user's
// own.
func (c *connections) newFastOther(own bool) *fasthttp.Client {
	fc := &fasthttp.Client{
		Transport:                 fastTransport{},
		TLSConfig:                 c.tlsConfig(),
		NoDefaultUserAgentHeader:  true, // no ReadTimeout, WriteTimeout: keptConn bounds requests
		MaxIdemponentCallAttempts: maxStaleRetries,
		RetryIfErr:                retryStale,
		MaxConnsPerHost:           c.fastMaxConns(),
		MaxConnWaitTimeout:        fastNetworkTimeout,
		ConfigureClient: func(hc *fasthttp.HostClient) error {
			hc.DialTimeout = c.fastDial(hc.Addr, hc.IsTLS)
			return nil
		},
	}
	if own {
		fc.MaxIdleConnDuration = perUserIdleTimeout
	}
	return fc
}

// sharedFastOther returns the shared connections to hosts other than the
// targets.
func (c *connections) sharedFastOther() *fasthttp.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fastOther == nil {
		c.fastOther = c.newFastOther(false)
	}
	return c.fastOther
}

// tlsConfig returns the TLS configuration of the fast client's
// connections, shared: fasthttp clones it for each host it dials.
func (c *connections) tlsConfig() *tls.Config {
	if c == nil {
		return nil
	}
	return c.tls
}

// dialTimeout bounds opening a connection for a request without a
// deadline of its own, for both clients (fasthttp's own default is 3 s,
// which a burst of new users overflowing the target's accept queue
// exceeds: SYNs are retried after 1 and 3 s).
const dialTimeout = 30 * time.Second

// fastDial returns the fast client's dialer for one host: it opens the
// connection, TLS when isTLS, bounded by the request's timeout or
// dialTimeout, and wraps it in a keptConn.
func (c *connections) fastDial(addr string, isTLS bool) fasthttp.DialFuncWithTimeout {
	var dial dialFunc
	var tlsConfig *tls.Config
	var crowded *atomic.Bool
	if c != nil {
		dial, tlsConfig, crowded = c.dial, c.tls, &c.inflight.crowded.now
	}
	if isTLS {
		tlsConfig = serverTLS(tlsConfig, addr)
	}
	return func(addr string, timeout time.Duration) (net.Conn, error) {
		if timeout <= 0 || timeout > dialTimeout {
			timeout = dialTimeout
		}
		deadline := time.Now().Add(timeout)
		var raw net.Conn
		var err error
		if dial == nil {
			raw, err = fasthttp.DialTimeout(addr, timeout)
		} else {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			raw, err = dial(ctx, "tcp", addr)
			cancel()
		}
		if err != nil {
			return nil, err
		}
		if !isTLS {
			return newKeptConn(raw, raw, crowded), nil
		}
		tc := tls.Client(raw, tlsConfig)
		if err := handshake(tc, deadline); err != nil {
			raw.Close()
			return nil, err
		}
		return &keptTLSConn{keptConn: newKeptConn(tc, raw, crowded), tls: tc}, nil
	}
}

// serverTLS returns cfg (nil: the defaults) for connections to addr,
// naming the server to verify.
func serverTLS(cfg *tls.Config, addr string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	return cfg
}

// handshake runs tc's handshake before deadline.
func handshake(tc *tls.Conn, deadline time.Time) error {
	if err := tc.SetDeadline(deadline); err != nil {
		return err
	}
	if err := tc.Handshake(); err != nil {
		return err
	}
	return tc.SetDeadline(time.Time{})
}

// keptConn is a connection of the fast client. Before it carries a
// request after a response, it checks that the server has not closed it
// meanwhile, as Python's urllib3 does (net/http's background reader sees
// such a close by itself): otherwise a request sent once, never retried,
// would fail on a connection the server dropped while idle (servers
// commonly close keep-alive connections after 2 to 75 s). A dropped one
// refuses the write with errStaleConn, nothing written, and the request
// goes to another connection. The check costs a system call, so it is
// made only after the connection has been idle for staleCheckAfter; a
// server that closes sooner says so in its response (Connection: close),
// which fasthttp honours.
//
// Before the first read of a response it yields its thread when the
// process's threads are crowded: goroutines wait to run, at least one per
// thread (sampled every 20 to 80 ms by the watcher of requests in flight,
// crowding.go). Written a moment ago, the request is rarely answered yet:
// a read would find nothing, cost a system call, and park the goroutine
// until the network poller wakes it, for a second read. After the
// goroutines waiting have had their turn, the response is usually there,
// and one read takes it (for a response that fits fasthttp's read
// buffer, one read system call instead of two: BENCHMARKS.md, fast
// path). When threads are idle, a yield would only wake one to take the
// user back at once, before the answer.
//
// It also bounds every request by fastNetworkTimeout, in place of
// fasthttp's ReadTimeout and WriteTimeout, which set two deadlines and
// read the clock twice per request: its deadline, moved only when less
// than fastNetworkTimeout is left, gives each request between
// fastNetworkTimeout and networkBoundAhead. A request's own deadline,
// which the transport sets (fastTransport, startRequest), applies when it
// is earlier.
type keptConn struct {
	net.Conn                       // what requests are written to: the TCP or TLS connection
	raw      syscall.RawConn       // the TCP socket, to peek at; nil where that cannot be done
	peekFn   func(fd uintptr) bool // peek, made once
	peekOK   bool                  // what peek saw
	answered bool                  // a response arrived since the last request was written
	started  time.Time             // when the last request was first written; zero before the first
	bound    time.Time             // the connection's deadline for no progress; zero until the first request
	ownRead  time.Time             // a request's own read deadline (fastTransport sets it), zero: none
	ownWrite time.Time             // and its write deadline
	born     time.Time             // when it was made: its clock reads the monotonic time since
	buf      [1]byte
	crowded  *atomic.Bool // whether the process's threads are crowded (crowding.go); nil: never yield
}

// staleCheckAfter is how long a connection must have been idle before a
// request checks that the server has not closed it: shorter than any
// server's idle timeout in common use, much longer than the gaps between
// requests of a busy connection.
const staleCheckAfter = 100 * time.Millisecond

// networkBoundAhead is how far ahead of a request's start a keptConn sets
// its deadline when less than fastNetworkTimeout is left: half as much
// again, so that the deadline moves once per fastNetworkTimeout/2 of
// requests, not at every one.
const networkBoundAhead = fastNetworkTimeout + fastNetworkTimeout/2

// boundSlack is how much earlier than needed a keptConn moves its bound,
// so that a request begun at a time a little behind the clock
// (keptConn.startRequest) still gets fastNetworkTimeout.
const boundSlack = time.Second

// keptTLSConn is a keptConn over TLS; its Handshake method tells fasthttp
// that the TLS is done.
type keptTLSConn struct {
	*keptConn
	tls *tls.Conn
}

func (c *keptTLSConn) Handshake() error { return c.tls.Handshake() }

// newKeptConn returns conn kept, tcp its socket, yielding before a
// response while crowded says so (nil: never).
func newKeptConn(conn, tcp net.Conn, crowded *atomic.Bool) *keptConn {
	c := &keptConn{Conn: conn, raw: peekable(tcp), born: time.Now(), crowded: crowded}
	c.peekFn = c.peek
	return c
}

// errStaleConn is a kept-alive connection the server has closed.
var errStaleConn = errors.New("the server closed the idle keep-alive connection")

func (c *keptConn) Read(p []byte) (int, error) {
	if !c.answered && c.crowded != nil && c.crowded.Load() {
		runtime.Gosched() // see keptConn: the response is rarely there yet
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.answered = true
	}
	return n, err
}

func (c *keptConn) Write(p []byte) (int, error) {
	if c.answered || c.started.IsZero() { // the first write of a request
		if err := c.begin(c.now()); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// now returns the time from the monotonic clock alone, which is read in
// half the time of time.Now.
func (c *keptConn) now() time.Time { return c.born.Add(time.Since(c.born)) }

// begin readies the connection for a request whose first write is at
// now: its deadline, then, after a long idle, the check that the server
// has not closed it (errStaleConn).
func (c *keptConn) begin(now time.Time) error {
	check := c.mayBeStale(now)
	c.answered, c.started = false, now
	if err := c.extendBound(now); err != nil {
		return err
	}
	if check && !c.alive() {
		return errStaleConn
	}
	return nil
}

// mayBeStale reports whether a request starting at now must check that
// the server has not closed the connection: it has carried a response
// and has been idle for staleCheckAfter since its last request started.
func (c *keptConn) mayBeStale(now time.Time) bool {
	return c.answered && now.Sub(c.started) >= staleCheckAfter
}

// extendBound moves the connection's deadline to networkBoundAhead after
// now when less than fastNetworkTimeout (and boundSlack) is left of it.
func (c *keptConn) extendBound(now time.Time) error {
	if !c.bound.IsZero() && c.bound.Sub(now) >= fastNetworkTimeout+boundSlack {
		return nil
	}
	c.bound = now.Add(networkBoundAhead)
	if err := c.Conn.SetReadDeadline(earliest(c.ownRead, c.bound)); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(earliest(c.ownWrite, c.bound))
}

// SetReadDeadline sets a request's own read deadline (zero: none); the
// connection's bound applies when it is earlier.
func (c *keptConn) SetReadDeadline(t time.Time) error {
	c.ownRead = t
	return c.Conn.SetReadDeadline(earliest(t, c.bound))
}

// SetWriteDeadline is SetReadDeadline for writes.
func (c *keptConn) SetWriteDeadline(t time.Time) error {
	c.ownWrite = t
	return c.Conn.SetWriteDeadline(earliest(t, c.bound))
}

// startRequest readies the connection for a request of the fast client's
// transport (fastTransport) with its own deadline (zero: none), set only
// when it differs from the one in force (most requests have none, like
// the one before them), and begins the request at now, or at the
// connection's birth when that is later.
//
// now is the latest time the caller knows without reading the clock: the
// request's start, or the connection's last release, whichever is later.
// The real time is later by what happened between, microseconds unless
// the process is starved: the check for a closed idle connection may come
// that much late (servers close idle connections after seconds, far more
// than staleCheckAfter), and the connection's bound is moved before
// boundSlack of that delay could cut a request's fastNetworkTimeout short.
func (c *keptConn) startRequest(now, deadline time.Time) error {
	if !deadline.Equal(c.ownRead) || !deadline.Equal(c.ownWrite) {
		if err := c.SetDeadline(deadline); err != nil {
			return err
		}
	}
	return c.begin(latest(now, c.born))
}

// SetDeadline sets both deadlines.
func (c *keptConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// earliest returns the earlier of two deadlines, where zero is none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// alive reports whether the server has left the idle connection open.
func (c *keptConn) alive() bool {
	if c.raw == nil {
		return true
	}
	if err := c.raw.Read(c.peekFn); err != nil {
		return false
	}
	return c.peekOK
}

// retryStale sends a request again only when it was never written: its
// connection turned out closed by the server (errStaleConn). Any other
// failure is final, so that the target sees each request once.
func retryStale(_ *fasthttp.Request, _ int, err error) (resetTimeout, retry bool) {
	return false, errors.Is(err, errStaleConn)
}

// maxStaleRetries bounds the idle connections a request may find closed
// before it dials a new one.
const maxStaleRetries = 16

// Dial back-off: a user whose request could not even open a connection
// (out of file descriptors, the target refusing) waits a little before
// its next request instead of spinning on the failure. The failure is
// recorded as usual first.
const (
	dialBackoffMin = 10 * time.Millisecond
	dialBackoffMax = time.Second
)

// dialBackoff returns the wait after the n-th dial failure in a row (n ≥
// 1): 10 ms, doubling, at most 1 s.
func dialBackoff(n int) time.Duration {
	d := dialBackoffMin
	for i := 1; i < n && d < dialBackoffMax; i++ {
		d *= 2
	}
	return min(d, dialBackoffMax)
}

// isDialError reports whether err means no connection could be opened.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, fasthttp.ErrDialTimeout)
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// dialFailures counts a client's dial failures in a row, and backs off.
type dialFailures struct {
	n     atomic.Int32
	pause func(ctx context.Context, d time.Duration) // nil: sleepCtx
}

// after notes how a request ended (err is its transport error, nil when
// the server answered) and waits when it could not open a connection.
func (f *dialFailures) after(ctx context.Context, err error) {
	if err == nil || !isDialError(err) {
		if f.n.Load() != 0 {
			f.n.Store(0)
		}
		return
	}
	n := f.n.Add(1)
	pause := f.pause
	if pause == nil {
		pause = sleepCtx
	}
	pause(ctx, dialBackoff(int(n)))
}

// bind gives a new user that embeds HTTPUser or FastHTTPUser its client.
// Connections of the user's own are closed when the user's context ends,
// which is when it exits (after OnStop) or is cancelled.
func (c *connections) bind(r *userRun, user User) {
	own := c.perUser || r.class.perUser
	var closer interface{ close() } // the client, when its connections are its own
	if b, ok := user.(fastHTTPBinder); ok {
		fc := c.fastClient(r.config.host, r.recorder, own)
		b.bindFastHTTP(fc)
		closer = fc
	} else if b, ok := user.(httpBinder); ok {
		hc := c.httpClient(r.config.host, r.recorder, own)
		b.bindHTTP(hc)
		closer = hc
	}
	if own && closer != nil {
		context.AfterFunc(r.Context, closer.close)
	}
}

// inflight holds the fast clients' requests in flight, and records those
// whose context is cancelled at once, as net/http's cancelled requests
// are, though the fast client goes on waiting for their response. A
// watcher goroutine looks at them every inflightScanEvery while there
// are any: cheaper than a hook on each user's context (context.AfterFunc
// leaves a map of about 350 bytes on every user's context for good).
type inflight struct {
	shards  [inflightShards]inflightShard
	count   atomic.Int64 // requests in the shards
	running atomic.Bool  // the watcher runs
	crowded crowding     // sampled by the watcher at each scan; not crowded while it does not run
}

type inflightShard struct {
	mu sync.Mutex
	ws []*fastWatch // each at its index
}

const (
	inflightShards = 16
	// inflightScanEvery is how soon a cancelled request is recorded: well
	// within the 100 ms a quitting worker waits after cancelling its users
	// (at most 80 ms when there are very many requests in flight).
	inflightScanEvery = 20 * time.Millisecond
)

// add puts w in the slot's shard and starts the watcher if need be.
func (in *inflight) add(w *fastWatch, slot uint32) {
	s := &in.shards[slot%inflightShards]
	s.mu.Lock()
	w.index = len(s.ws)
	s.ws = append(s.ws, w)
	s.mu.Unlock()
	in.count.Add(1)
	if !in.running.Load() && in.running.CompareAndSwap(false, true) {
		go in.watch()
	}
}

// remove takes w out, if the watcher has not.
func (in *inflight) remove(w *fastWatch, slot uint32) {
	s := &in.shards[slot%inflightShards]
	s.mu.Lock()
	if w.index >= 0 {
		s.take(w.index)
		in.count.Add(-1)
	}
	s.mu.Unlock()
}

// take removes the watch at index i, moving the last one there; it is
// called with s.mu held.
func (s *inflightShard) take(i int) {
	last := len(s.ws) - 1
	s.ws[i].index = -1
	if i != last {
		s.ws[i] = s.ws[last]
		s.ws[i].index = i
	}
	s.ws[last] = nil
	s.ws = s.ws[:last]
}

// watch records cancelled requests until none is in flight. It scans
// every inflightScanEvery, less often when a scan takes long (hundreds of
// thousands of requests stuck on a dead target), so that it takes at
// most an eighth of a core for scans up to 10 ms, and beyond that one
// scan every 80 ms.
//
// At each scan it also samples whether the process's threads are crowded
// (crowding.go), for the connections' yield before a response.
func (in *inflight) watch() {
	t := time.NewTimer(inflightScanEvery)
	defer t.Stop()
	sched := newSchedSample()
	for range t.C {
		if in.count.Load() == 0 {
			in.crowded.forget()
			in.running.Store(false)
			// An add that saw the watcher running may have come since.
			if in.count.Load() == 0 || !in.running.CompareAndSwap(false, true) {
				return
			}
		}
		in.crowded.update(sched)
		start := time.Now()
		in.scan()
		t.Reset(scanPeriod(time.Since(start)))
	}
}

// scanPeriod returns the wait before the next scan after one that took
// took: inflightScanEvery, or eight times took, at most four times
// inflightScanEvery.
func scanPeriod(took time.Duration) time.Duration {
	return min(max(inflightScanEvery, 8*took), 4*inflightScanEvery)
}

// scan records the requests whose context is done. It takes about 50 ns
// per request in flight (a cache miss or two each): 20 to 25 ms for
// 450,000 requests stuck on a dead target, which watch spaces out.
func (in *inflight) scan() {
	var done []*fastWatch
	for i := range in.shards {
		s := &in.shards[i]
		s.mu.Lock()
		for j := len(s.ws) - 1; j >= 0; j-- { // backwards: take moves the last one to j
			if w := s.ws[j]; w.ctx.Err() != nil {
				done = append(done, w)
				s.take(j)
				in.count.Add(-1)
			}
		}
		s.mu.Unlock()
	}
	for _, w := range done {
		w.cancelled()
	}
}

// recordCancelled records at once every fast request in flight whose
// context is done, which the watcher does within 20 to 80 ms. A caller
// about to send the last statistics calls it after cancelling the users.
func (c *connections) recordCancelled() { c.inflight.scan() }
