package worker

// Tests of the HTTP clients' connections and hardening: shared and
// per-user connections, one attempt per request, bounded bodies,
// credentials on redirects, TLS options, the dial back-off, and requests
// in flight when the test ends.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// clientKinds makes a client of each kind from a pool's connections.
var clientKinds = []struct {
	name string
	make func(c *connections, base string, rec stats.Recorder, own bool) Client
}{
	{"net/http", func(c *connections, base string, rec stats.Recorder, own bool) Client {
		return c.httpClient(base, rec, own)
	}},
	{"fasthttp", func(c *connections, base string, rec stats.Recorder, own bool) Client {
		return c.fastClient(base, rec, own)
	}},
}

// connCounter counts a test server's connections.
type connCounter struct {
	mu             sync.Mutex
	open, accepted int
	changed        chan struct{}
}

func newConnCounter() *connCounter { return &connCounter{changed: make(chan struct{})} }

func (c *connCounter) state(_ net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch s {
	case http.StateNew:
		c.open++
		c.accepted++
	case http.StateClosed, http.StateHijacked:
		c.open--
	default:
		return
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *connCounter) counts() (open, accepted int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.accepted
}

// waitOpen waits until the server has want connections open.
func (c *connCounter) waitOpen(t *testing.T, want int, within time.Duration) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		open, changed := c.open, c.changed
		c.mu.Unlock()
		if open == want {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("the server has %d connections open after %s, want %d", open, within, want)
		}
	}
}

// countingServer is a server whose connections are counted; "/" answers
// "ok".
func countingServer(t *testing.T) (*httptest.Server, *connCounter) {
	t.Helper()
	cc := newConnCounter()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = cc.state
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

// TestClientsSendOnce: a target that drops the connection after reading
// the request sees it once, and the statistics count it once, as a
// failure (fasthttp retried idempotent requests 5 times).
func TestClientsSendOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var seen atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						seen.Add(1)
						return // drop the connection without an answer
					}
				}
			}()
		}
	}()
	base := "http://" + ln.Addr().String()
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			seen.Store(0)
			collector := stats.NewCollector()
			c := kind.make(newConnections(HTTPOptions{}), base, collector.Recorder(1), false)
			if _, err := c.Get(context.Background(), "/once"); err == nil {
				t.Fatal("a dropped connection succeeded")
			}
			rep := collector.Report(time.Now())
			if n := seen.Load(); n != 1 || rep.Total.NumRequests != 1 || rep.Total.NumFailures != 1 {
				t.Errorf("the target saw %d requests, the statistics %d (%d failed); want 1, 1, 1", n, rep.Total.NumRequests, rep.Total.NumFailures)
			}
		})
	}
}

// TestRedirectCredentials: Authorization follows a redirect on the same
// host, and stays behind on a redirect to another host or from https to
// http, with both clients.
func TestRedirectCredentials(t *testing.T) {
	final := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "auth=%q", r.Header.Get("Authorization"))
	}))
	defer final.Close()
	redirector := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/final" {
			fmt.Fprintf(w, "auth=%q", r.Header.Get("Authorization"))
			return
		}
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	plain := httptest.NewServer(redirector)
	defer plain.Close()
	secure := httptest.NewTLSServer(redirector)
	defer secure.Close()
	otherHost := strings.Replace(final.URL, "127.0.0.1", "localhost", 1) + "/final"
	roots := x509.NewCertPool()
	roots.AddCert(secure.Certificate())
	conns := newConnections(HTTPOptions{TLS: &tls.Config{RootCAs: roots}})
	cases := []struct {
		name, base, to, want string
	}{
		{"same host", plain.URL, "/final", `auth="Bearer s3cret"`},
		{"another host", plain.URL, otherHost, `auth=""`},
		{"https to http, same host name", secure.URL, final.URL + "/final", `auth=""`},
		{"https to https, same host", secure.URL, "/final", `auth="Bearer s3cret"`},
	}
	for _, tc := range cases {
		for _, kind := range clientKinds {
			t.Run(tc.name+"/"+kind.name, func(t *testing.T) {
				c := kind.make(conns, tc.base, stats.NewCollector().Recorder(1), false)
				r, err := c.Get(context.Background(), "/go?to="+tc.to, Header("Authorization", "Bearer s3cret"))
				if err != nil {
					t.Fatal(err)
				}
				if r.Text() != tc.want {
					t.Errorf("the target of the redirect got %s, want %s", r.Text(), tc.want)
				}
			})
		}
	}
}

// TestReadBodyMemory: readBody allocates for what arrives, not for what a
// header announces, and stops at the limit.
func TestReadBodyMemory(t *testing.T) {
	b, err := readBody(strings.NewReader("hello"), 4<<20, 0)
	if err != nil || string(b) != "hello" || cap(b) > bodyPrealloc+1 {
		t.Errorf("4 MiB announced, 5 bytes sent: %q, %v, capacity %d; want the bytes and at most %d", b, err, cap(b), bodyPrealloc+1)
	}
	big := strings.Repeat("x", 3*bodyPrealloc)
	if b, err := readBody(strings.NewReader(big), int64(len(big)), 0); err != nil || string(b) != big {
		t.Errorf("a body longer than the preallocation: %d bytes, %v", len(b), err)
	}
	if b, err := readBody(strings.NewReader(big), -1, int64(len(big))); err != nil || len(b) != len(big) {
		t.Errorf("a body exactly at the limit: %d bytes, %v", len(b), err)
	}
	var tooLarge *bodyTooLargeError
	if b, err := readBody(strings.NewReader(big), -1, 1000); !errors.As(err, &tooLarge) || len(b) != 1000 || cap(b) > 2000 {
		t.Errorf("a body over the limit: %d bytes (capacity %d), %v; want the first 1000 and a bodyTooLargeError", len(b), cap(b), err)
	}
	if _, err := readBody(strings.NewReader(big), int64(len(big)), 1000); !errors.As(err, &tooLarge) {
		t.Errorf("a body announced over the limit: %v", err)
	}
}

// barrier lets n requests through together.
type barrier struct {
	mu   sync.Mutex
	n    int
	open chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, open: make(chan struct{})} }

func (b *barrier) arrive() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n--; b.n == 0 {
		close(b.open)
	}
	return b.open
}

// bodyServer answers /announced with a header promising 4 MiB and 5
// bytes, closing once every request of the barrier has arrived (so that
// they are all in flight at once), /endless with a chunked body that
// never ends, and /small with 100 bytes.
func bodyServer(t *testing.T, announced *atomic.Pointer[barrier]) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/announced":
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\nhello")
			buf.Flush()
			select {
			case <-announced.Load().arrive():
			case <-time.After(10 * time.Second):
			}
		case "/endless":
			chunk := []byte(strings.Repeat("x", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/small":
			io.WriteString(w, strings.Repeat("s", 100))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestClientsBoundBodies: a header announcing 4 MiB costs no 4 MiB, and a
// body over the maximum is a ResponseTooLarge failure, even one that never
// ends.
func TestClientsBoundBodies(t *testing.T) {
	var announced atomic.Pointer[barrier]
	srv := bodyServer(t, &announced)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			collector := stats.NewCollector()
			c := kind.make(newConnections(HTTPOptions{}), srv.URL, collector.Recorder(1), false)
			const n = 20
			announced.Store(newBarrier(n))
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var wg sync.WaitGroup
			var succeeded atomic.Int64
			for range n {
				wg.Go(func() {
					if _, err := c.Get(ctx, "/announced"); err == nil {
						succeeded.Add(1)
					}
				})
			}
			wg.Wait()
			runtime.ReadMemStats(&after)
			if succeeded.Load() > 0 {
				t.Errorf("%d bodies cut short succeeded", succeeded.Load())
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("%d responses in flight announcing 4 MiB with 5 bytes allocated %d MiB", n, alloc>>20)
			}
			checkTooLarge := func(what string, err error) {
				t.Helper()
				var re *RequestError
				if !errors.As(err, &re) || re.Kind != kindResponseTooLarge || !strings.Contains(re.Err.Error(), "maximum of") {
					t.Errorf("%s: %v, want a ResponseTooLarge failure", what, err)
				}
			}
			_, err := c.Get(ctx, "/endless", MaxBodySize(1<<20))
			checkTooLarge("an endless body with MaxBodySize", err)
			if _, err := c.Get(ctx, "/small", MaxBodySize(100)); err != nil {
				t.Errorf("a body at the maximum: %v", err)
			}
			_, err = c.Get(ctx, "/small", MaxBodySize(99))
			checkTooLarge("a body one byte over", err)
			c.(interface{ SetMaxBodySize(int64) }).SetMaxBodySize(1 << 20)
			_, err = c.Get(ctx, "/endless")
			checkTooLarge("an endless body with SetMaxBodySize", err)
			if r, err := c.Get(ctx, "/small"); err != nil || len(r.Body) != 100 {
				t.Errorf("after SetMaxBodySize, a small body: %v", err)
			}
			rep := collector.Report(time.Now())
			if want := int64(n + 5); rep.Total.NumRequests != want || rep.Total.NumFailures != n+3 {
				t.Errorf("recorded %d requests, %d failures; want %d, %d", rep.Total.NumRequests, rep.Total.NumFailures, want, n+3)
			}
		})
	}
}

// connUser makes one request and then waits an hour, holding its
// connection when it has one of its own.
type connUser struct {
	get     func(ctx context.Context) error
	arrived *arrivals
}

func (u *connUser) Tasks() []Task {
	return []Task{{Name: "get", Run: func(ctx context.Context) error {
		err := u.get(ctx)
		u.arrived.arrive()
		return err
	}}}
}

type connHTTPUser struct {
	HTTPUser
	connUser
}

type connFastUser struct {
	FastHTTPUser
	connUser
}

// connClass returns a class of connUsers on the given client kind.
func connClass(kind string, a *arrivals) *UserClass {
	if kind == "fasthttp" {
		return Class("Conn", func() *connFastUser {
			u := &connFastUser{}
			u.connUser = connUser{arrived: a, get: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/"); return err }}
			return u
		}).Wait(Constant(time.Hour))
	}
	return Class("Conn", func() *connHTTPUser {
		u := &connHTTPUser{}
		u.connUser = connUser{arrived: a, get: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/"); return err }}
		return u
	}).Wait(Constant(time.Hour))
}

// TestConnectionPerUser: with a connection per user (asked by the run or
// by the class), N users that made a request hold N connections, and the
// connections close when the users exit.
func TestConnectionPerUser(t *testing.T) {
	const n = 500
	for _, kind := range []string{"net/http", "fasthttp"} {
		for _, by := range []string{"options", "class"} {
			t.Run(kind+"/"+by, func(t *testing.T) {
				srv, conns := countingServer(t)
				a := newArrivals(n)
				class := connClass(kind, a)
				if by == "class" {
					class.ConnectionPerUser()
				}
				p := newBenchPool(t, class, srv.URL)
				if by == "options" {
					p.setHTTP(HTTPOptions{ConnectionPerUser: true})
				}
				p.setTarget(context.Background(), map[string]int64{"Conn": n})
				a.wait(t, time.Minute)
				conns.waitOpen(t, n, 10*time.Second)
				if rep := p.collector.Report(time.Now()); rep.Total.NumRequests != n || rep.Total.NumFailures != 0 {
					t.Fatalf("%d requests, %d failures; want %d, 0", rep.Total.NumRequests, rep.Total.NumFailures, n)
				}
				stopBenchPool(t, p)
				conns.waitOpen(t, 0, 5*time.Second)
			})
		}
	}
}

// loopUser requests "/" until stopped, and arrives after its first
// request.
type loopUser struct {
	get     func(ctx context.Context) error
	arrived *arrivals
	once    sync.Once
}

func (u *loopUser) Tasks() []Task {
	return []Task{{Name: "get", Run: func(ctx context.Context) error {
		err := u.get(ctx)
		u.once.Do(u.arrived.arrive)
		return err
	}}}
}

type loopHTTPUser struct {
	HTTPUser
	loopUser
}

type loopFastUser struct {
	FastHTTPUser
	loopUser
}

// TestSharedConnectionsFollowRequests: users without a wait share the
// connections, so three spawn/stop cycles of 30 users open about as many
// connections as requests ran at once (30), not one per user and cycle
// (90).
func TestSharedConnectionsFollowRequests(t *testing.T) {
	const users, cycles = 30, 3
	for _, kind := range []string{"net/http", "fasthttp"} {
		t.Run(kind, func(t *testing.T) {
			srv, conns := countingServer(t)
			var a *arrivals
			class := Class("Loop", func() *loopHTTPUser {
				u := &loopHTTPUser{}
				u.loopUser = loopUser{arrived: a, get: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/"); return err }}
				return u
			})
			if kind == "fasthttp" {
				class = Class("Loop", func() *loopFastUser {
					u := &loopFastUser{}
					u.loopUser = loopUser{arrived: a, get: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/"); return err }}
					return u
				})
			}
			p := newBenchPool(t, class, srv.URL)
			p.configure(srv.URL, time.Minute, tagFilter{}) // users finish their request: a cancelled one closes its connection
			for range cycles {
				a = newArrivals(users)
				p.setTarget(context.Background(), map[string]int64{"Loop": users})
				a.wait(t, time.Minute)
				stopBenchPool(t, p)
			}
			// At most one per request in flight, and a few more: net/http
			// keeps the connection it dialled for a request that an idle
			// one served first.
			open, accepted := conns.counts()
			if limit := users + users/2; accepted > limit || open > limit {
				t.Errorf("%d cycles of %d users opened %d connections (%d still open); want at most %d", cycles, users, accepted, open, limit)
			}
			if rep := p.collector.Report(time.Now()); rep.Total.NumFailures != 0 {
				t.Errorf("%d of %d requests failed: %+v", rep.Total.NumFailures, rep.Total.NumRequests, rep.Errors)
			}
		})
	}
}

// TestFastClientsShareConnections: fast clients of one pool use the same
// connections to the target (a user's own keep theirs), and keep their
// own cookies.
func TestFastClientsShareConnections(t *testing.T) {
	srv, _ := fastTestServer(t)
	conns := newConnections(HTTPOptions{})
	collector := stats.NewCollector()
	alice, bob := conns.fastClient(srv.URL, collector.Recorder(1), false), conns.fastClient(srv.URL, collector.Recorder(2), false)
	carol := conns.fastClient(srv.URL, collector.Recorder(3), true)
	ctx := context.Background()
	for _, c := range []*FastHTTPClient{alice, bob, carol} {
		if _, err := c.Get(ctx, "/ok"); err != nil {
			t.Fatal(err)
		}
	}
	if alice.hostClient() != bob.hostClient() || carol.hostClient() == alice.hostClient() {
		t.Error("users of the shared pool do not share connections, or a user with its own shares them")
	}
	if _, err := alice.Get(ctx, "/login?who=alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Get(ctx, "/whoami"); err == nil {
		t.Error("bob got alice's session over the shared connections")
	}
	if r, err := alice.Get(ctx, "/whoami"); err != nil || r.Text() != "alice" {
		t.Errorf("alice's whoami: %v", err)
	}
}

// writePEM writes PEM blocks to a new file and returns its name.
func writePEM(t *testing.T, name string, blocks ...*pem.Block) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	var b []byte
	for _, blk := range blocks {
		b = append(b, pem.EncodeToMemory(blk)...)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// selfSigned returns a self-signed certificate for client authentication
// and its key, as PEM blocks, and the parsed certificate.
func selfSigned(t *testing.T) (cert, key *pem.Block, parsed *x509.Certificate) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "golocust test client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pem.Block{Type: "CERTIFICATE", Bytes: der}, &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}, parsed
}

// TestTLSOptions: certificates are verified by default; Insecure skips
// it; CAFiles trust the server's CA; a client certificate gets through a
// server that requires one.
func TestTLSOptions(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	defer srv.Close()
	caFile := writePEM(t, "ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	clientCert, clientKey, parsed := selfSigned(t)
	certFile, keyFile := writePEM(t, "client.pem", clientCert), writePEM(t, "client.key", clientKey)
	bothFile := writePEM(t, "both.pem", clientCert, clientKey)
	otherCA, _, _ := selfSigned(t)
	otherCAFile := writePEM(t, "other.pem", otherCA)

	mtls := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(parsed)
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	mtls.Config.ErrorLog = log.New(io.Discard, "", 0)
	mtls.StartTLS()
	defer mtls.Close()

	cases := []struct {
		name  string
		url   string
		files HTTPOptions
		ok    bool
	}{
		{"verified by default", srv.URL, HTTPOptions{}, false},
		{"insecure", srv.URL, HTTPOptions{Insecure: true}, true},
		{"own CA", srv.URL, HTTPOptions{CAFiles: []string{otherCAFile, caFile}}, true},
		{"another CA", srv.URL, HTTPOptions{CAFiles: []string{otherCAFile}}, false},
		{"no client certificate", mtls.URL, HTTPOptions{Insecure: true}, false},
		{"client certificate", mtls.URL, HTTPOptions{Insecure: true, CertFile: certFile, KeyFile: keyFile}, true},
		{"client certificate and key in one file", mtls.URL, HTTPOptions{Insecure: true, CertFile: bothFile}, true},
	}
	for _, tc := range cases {
		for _, kind := range clientKinds {
			t.Run(tc.name+"/"+kind.name, func(t *testing.T) {
				cfg, err := tc.files.buildTLS()
				if err != nil {
					t.Fatal(err)
				}
				c := kind.make(newConnections(HTTPOptions{TLS: cfg}), tc.url, stats.NewCollector().Recorder(1), false)
				r, err := c.Get(context.Background(), "/")
				if tc.ok && (err != nil || r.Text() != "ok") {
					t.Errorf("error %v, want ok", err)
				}
				var re *RequestError
				if !tc.ok && (!errors.As(err, &re) || re.Kind != "ConnectionError") {
					t.Errorf("error %v, want a ConnectionError", err)
				}
			})
		}
	}
	for _, bad := range []HTTPOptions{
		{CAFiles: []string{filepath.Join(t.TempDir(), "missing.pem")}},
		{CAFiles: []string{keyFile}},
		{KeyFile: keyFile},
		{CertFile: caFile},
	} {
		if _, err := bad.buildTLS(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
	if cfg, err := (HTTPOptions{}).buildTLS(); cfg != nil || err != nil {
		t.Errorf("no TLS options: %v, %v; want nil, nil (the default)", cfg, err)
	}
}

// TestClientsRejectHostWithoutScheme: a base URL without a scheme fails
// every request with a clear MissingSchema under the path's row name.
func TestClientsRejectHostWithoutScheme(t *testing.T) {
	for _, kind := range clientKinds {
		collector := stats.NewCollector()
		c := kind.make(newConnections(HTTPOptions{}), "localhost:8080", collector.Recorder(1), false)
		_, err := c.Get(context.Background(), "/api")
		var re *RequestError
		if !errors.As(err, &re) || re.Kind != "MissingSchema" || re.Name != "/api" || !strings.Contains(re.Error(), "http://localhost:8080") {
			t.Errorf("%s: %v, want a MissingSchema failure of /api suggesting http://localhost:8080", kind.name, err)
		}
		if rep := collector.Report(time.Now()); len(rep.Entries) != 1 || rep.Entries[0].Name != "/api" {
			t.Errorf("%s: rows %+v, want /api", kind.name, rep.Entries)
		}
	}
}

// TestSessionMasterHostWithoutScheme: a master's host without a scheme is
// one error line, however many spawns repeat it.
func TestSessionMasterHostWithoutScheme(t *testing.T) {
	logs := newLogRecorder()
	m, _ := startSessionWith(t, func(w *Worker) { w.Logger = slog.New(logs) },
		Class("A", func() *idleUser { return &idleUser{} }))
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	for i := range 3 {
		m.send(protocol.SpawnMessage{Timestamp: time.Unix(int64(100+i), 0), Host: "localhost:8080", UserClassesCount: map[string]int64{"A": int64(i + 1)}})
		m.expect("spawning_complete")
	}
	logs.waitFor(t, "the master's host is not a URL", 1)
	if n := logs.count("the master's host is not a URL"); n != 1 {
		t.Errorf("%d log lines about the host, want 1", n)
	}
}

// TestDialBackoff: a user whose requests cannot open a connection (here:
// out of file descriptors) waits 10 ms, 20 ms, ... at most 1 s before its
// next request, each request still recorded; a request that connects
// resets the wait.
func TestDialBackoff(t *testing.T) {
	want := []time.Duration{10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i, w := range want {
		if got := dialBackoff(i + 1); got != w*time.Millisecond {
			t.Errorf("dialBackoff(%d) = %s, want %s", i+1, got, w*time.Millisecond)
		}
	}
	srv, _ := countingServer(t)
	for _, kind := range clientKinds {
		t.Run(kind.name, func(t *testing.T) {
			var failing atomic.Bool
			failing.Store(true)
			var pauses []time.Duration
			conns := newConnections(HTTPOptions{})
			conns.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if failing.Load() {
					return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("socket", syscall.EMFILE)}
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			conns.pause = func(ctx context.Context, d time.Duration) { pauses = append(pauses, d) }
			conns.http = conns.newTransport(false)
			collector := stats.NewCollector()
			c := kind.make(conns, srv.URL, collector.Recorder(1), false)
			ctx := context.Background()
			for range len(want) {
				if _, err := c.Get(ctx, "/"); err == nil || !strings.Contains(err.Error(), "too many open files") {
					t.Fatalf("error %v, want too many open files", err)
				}
			}
			failing.Store(false)
			if _, err := c.Get(ctx, "/", Header("Connection", "close")); err != nil { // the next request dials again
				t.Fatal(err)
			}
			failing.Store(true)
			c.Get(ctx, "/")
			wantPauses := make([]time.Duration, 0, len(want)+1)
			for _, w := range want {
				wantPauses = append(wantPauses, w*time.Millisecond)
			}
			wantPauses = append(wantPauses, 10*time.Millisecond)
			if !slices.Equal(pauses, wantPauses) {
				t.Errorf("pauses %v, want %v", pauses, wantPauses)
			}
			rep := collector.Report(time.Now())
			if f := int64(len(want) + 1); rep.Total.NumRequests != f+1 || rep.Total.NumFailures != f {
				t.Errorf("%d requests, %d failures recorded; want %d, %d", rep.Total.NumRequests, rep.Total.NumFailures, f+1, f)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	sleepCtx(ctx, time.Hour)
	if d := time.Since(start); d > time.Second {
		t.Errorf("the back-off ignored a cancelled context for %s", d)
	}
}

// slowTarget answers no request before the test ends; it tells of each
// request that arrives.
func slowTarget(t *testing.T) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 100)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before srv.Close, which waits for the handlers
	return srv, arrived
}

type slowLoopHTTPUser struct{ HTTPUser }

func (u *slowLoopHTTPUser) Tasks() []Task {
	return []Task{{Name: "slow", Run: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/slow"); return err }}}
}

type slowLoopFastUser struct{ FastHTTPUser }

func (u *slowLoopFastUser) Tasks() []Task {
	return []Task{{Name: "slow", Run: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/slow"); return err }}}
}

// TestNothingLostAtTheEnd: requests in flight when the master quits or the
// worker gets SIGTERM reach the master, as RequestCancelled failures, with
// both clients (the fast client cannot interrupt its request, and lost
// it).
func TestNothingLostAtTheEnd(t *testing.T) {
	const users = 3
	classes := map[string]*UserClass{
		"net/http": Class("Slow", func() *slowLoopHTTPUser { return &slowLoopHTTPUser{} }),
		"fasthttp": Class("Slow", func() *slowLoopFastUser { return &slowLoopFastUser{} }),
	}
	for _, kind := range []string{"net/http", "fasthttp"} {
		for _, end := range []string{"quit", "SIGTERM"} {
			t.Run(kind+"/"+end, func(t *testing.T) {
				srv, arrived := slowTarget(t)
				m, _, cancel := startSessionCtx(t, func(w *Worker) { w.Host = srv.URL }, classes[kind])
				m.expect("client_ready")
				m.send(protocol.AckMessage{Index: 0, HasIndex: true})
				m.send(protocol.SpawnMessage{Timestamp: time.Unix(100, 0), UserClassesCount: map[string]int64{"Slow": users}})
				m.expect("spawning_complete")
				for range users {
					select {
					case <-arrived:
					case <-time.After(10 * time.Second):
						t.Fatal("the users' requests did not reach the target")
					}
				}
				if end == "quit" {
					m.send(protocol.QuitMessage{})
				} else {
					cancel()
				}
				requests, failures, errs := collectStats(t, m, isQuit)
				if requests != users || failures != users || len(errs) != 1 || !strings.HasPrefix(errs[0], "RequestCancelled(") {
					t.Errorf("the master heard of %d requests, %d failures, errors %q; want the %d in flight, cancelled", requests, failures, errs, users)
				}
			})
		}
	}
}

// collectStats adds up the statistics the worker sends until it sends a
// message that last says is its last (a quit, a client_stopped), and the
// distinct error texts in them.
func collectStats(t *testing.T, m *fakeMaster, last func(protocol.Message) bool) (requests, failures int64, errs []string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case body := <-m.conn.sent:
			env, err := protocol.Decode(body)
			if err != nil {
				t.Fatal(err)
			}
			if msg, ok := env.Message.(protocol.StatsMessage); ok {
				requests += msg.Total.NumRequests
				failures += msg.Total.NumFailures
				for _, e := range msg.Errors {
					if !slices.Contains(errs, e.Error) {
						errs = append(errs, e.Error)
					}
				}
			}
			if last(env.Message) {
				return requests, failures, errs
			}
		case <-timeout:
			t.Fatal("the worker's last message did not come within 10 s")
		}
	}
}

// isQuit and isClientStopped tell collectStats where to stop.
func isQuit(m protocol.Message) bool          { _, ok := m.(protocol.QuitMessage); return ok }
func isClientStopped(m protocol.Message) bool { _, ok := m.(protocol.ClientStoppedMessage); return ok }

// TestFastClientRecordsCancelOnce: a fast request whose context is
// cancelled is recorded at the cancel, as RequestCancelled, and not again
// when its response comes.
func TestFastClientRecordsCancelOnce(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "late")
	}))
	t.Cleanup(srv.Close)
	var once sync.Once
	releaseOnce := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseOnce) // before srv.Close, which waits for the handler
	collector := stats.NewCollector()
	conns := newConnections(HTTPOptions{})
	c := conns.fastClient(srv.URL, collector.Recorder(1), false)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "/late")
		errc <- err
	}()
	<-arrived // the request registered before it was sent
	cancel()
	conns.recordCancelled()
	first := collector.Report(time.Now())
	if first.Total.NumRequests != 1 || first.Total.NumFailures != 1 || len(first.Errors) != 1 ||
		!strings.HasPrefix(first.Errors[0].Text, "RequestCancelled(") {
		t.Fatalf("after the cancel: %d requests, %d failures, %+v; want the request, cancelled", first.Total.NumRequests, first.Total.NumFailures, first.Errors)
	}
	releaseOnce()
	var re *RequestError
	if err := <-errc; !errors.As(err, &re) || re.Kind != kindRequestCancelled {
		t.Errorf("the request returned %v, want RequestCancelled", err)
	}
	if again := collector.Report(time.Now()); again.Total.NumRequests != 0 {
		t.Errorf("the response recorded the request again: %+v", again.Total)
	}
}

// TestScanPeriod: the watcher of fast requests scans every 20 ms, less
// often when a scan takes long, never less often than every 80 ms.
func TestScanPeriod(t *testing.T) {
	for _, c := range []struct{ took, want time.Duration }{
		{0, 20 * time.Millisecond},
		{time.Millisecond, 20 * time.Millisecond},
		{5 * time.Millisecond, 40 * time.Millisecond},
		{50 * time.Millisecond, 80 * time.Millisecond},
	} {
		if got := scanPeriod(c.took); got != c.want {
			t.Errorf("scanPeriod(%s) = %s, want %s", c.took, got, c.want)
		}
	}
}

// TestCommandHTTPOptions runs the command with the HTTP options: an https
// target with a self-signed certificate fails every request unless
// --insecure; with --connection-per-user each user holds a connection of
// its own, closed when the test ends.
func TestCommandHTTPOptions(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	web := Class("Web", func() *webUser { return &webUser{} })
	short := []string{"-u", "2", "-r", "100", "-t", "200ms", "--only-summary"}
	if code, _, stderr := run(t, append([]string{"-H", tlsSrv.URL}, short...), web); code != ExitFailure {
		t.Errorf("a self-signed target without --insecure: exit code %d, want %d (failed requests)\n%s", code, ExitFailure, stderr)
	}
	if code, _, stderr := run(t, append([]string{"-H", tlsSrv.URL, "--insecure"}, short...), web); code != ExitOK {
		t.Errorf("with --insecure: exit code %d, want 0\n%s", code, stderr)
	}

	srv, conns := countingServer(t)
	const users = 20
	a := newArrivals(users)
	code, _, stderr := run(t, []string{"-H", srv.URL, "--connection-per-user", "-u", fmt.Sprint(users), "-r", "1000", "-t", "500ms", "--only-summary"},
		connClass("net/http", a))
	if code != ExitOK {
		t.Fatalf("exit code %d\n%s", code, stderr)
	}
	a.wait(t, time.Second) // every user made its request
	if _, accepted := conns.counts(); accepted != users {
		t.Errorf("%d users opened %d connections, want one each", users, accepted)
	}
	conns.waitOpen(t, 0, 5*time.Second)
}

// TestFastClientSkipsClosedIdleConnections: a fast client whose idle
// keep-alive connection the server has closed sends its next request on a
// new connection, once, instead of failing it (it is sent once, never
// retried, so it must not be lost to a dead connection), over plain TCP
// and TLS, for GET and POST.
func TestFastClientSkipsClosedIdleConnections(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", secure), func(t *testing.T) {
			cc := newConnCounter()
			var served atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served.Add(1)
				io.WriteString(w, "ok")
			}))
			srv.Config.ConnState = cc.state
			// Closes idle keep-alive connections, after the client's check
			// has become due.
			srv.Config.IdleTimeout = staleCheckAfter + 20*time.Millisecond
			var opts HTTPOptions
			if secure {
				srv.StartTLS()
				opts.TLS = &tls.Config{InsecureSkipVerify: true}
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			collector := stats.NewCollector()
			c := newConnections(opts).fastClient(srv.URL, collector.Recorder(1), false)
			ctx := context.Background()
			for i, method := range []string{"GET", "POST", "GET"} {
				if _, err := c.Request(ctx, method, "/", nil); err != nil {
					t.Fatalf("request %d (%s) after the server closed the idle connection: %v", i+1, method, err)
				}
				cc.waitOpen(t, 0, 5*time.Second) // the server closed it
			}
			_, accepted := cc.counts()
			rep := collector.Report(time.Now())
			if accepted != 3 || served.Load() != 3 || rep.Total.NumRequests != 3 || rep.Total.NumFailures != 0 {
				t.Errorf("%d connections, %d requests served, %d recorded (%d failed); want 3, 3, 3, 0",
					accepted, served.Load(), rep.Total.NumRequests, rep.Total.NumFailures)
			}
		})
	}
}

// TestInflightBookkeeping: requests leave the watch when they end or when
// the scan records them, each once, whatever the order.
func TestInflightBookkeeping(t *testing.T) {
	collector := stats.NewCollector()
	c := newFastHTTPClient("http://x", collector.Recorder(1))
	var in inflight
	in.running.Store(true) // no watcher: the test scans
	live, cancel := context.WithCancel(context.Background())
	defer cancel()
	dead, kill := context.WithCancel(context.Background())
	kill()
	var ws []*fastWatch
	for i := range 10 {
		ctx := live
		if i%3 == 0 {
			ctx = dead // 0, 3, 6, 9
		}
		w := &fastWatch{ctx: ctx, c: c, method: "GET", name: fmt.Sprint("/", i)}
		in.add(w, 0) // one shard: the moves of take matter
		ws = append(ws, w)
	}
	for _, i := range []int{1, 9, 4} { // end some, a dead one among them
		in.remove(ws[i], 0)
		if !ws[i].claimed.CompareAndSwap(false, true) {
			t.Fatalf("request %d was claimed before it ended", i)
		}
	}
	in.scan() // records 0, 3, 6
	if n := in.count.Load(); n != 4 {
		t.Errorf("%d requests watched after the scan, want 4 (2, 5, 7, 8)", n)
	}
	rep := collector.Report(time.Now())
	var names []string
	for _, e := range rep.Entries {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"/0", "/3", "/6"}) || rep.Total.NumFailures != 3 {
		t.Errorf("recorded %v (%d failures), want /0 /3 /6 cancelled", names, rep.Total.NumFailures)
	}
	for _, i := range []int{2, 5, 7, 8} {
		in.remove(ws[i], 0)
	}
	if n := in.count.Load(); n != 0 || len(in.shards[0].ws) != 0 {
		t.Errorf("%d requests watched (%d in the shard) after all ended", n, len(in.shards[0].ws))
	}
}

// TestKeptConnChecksOnlyAfterIdle: a request checks that the server has
// not closed its kept-alive connection only once the connection has been
// idle for staleCheckAfter, and then refuses a closed one.
func TestKeptConnChecksOnlyAfterIdle(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		answered bool
		idle     time.Duration // since the last request started
		want     error
	}{
		{true, 0, nil},
		{true, staleCheckAfter - time.Millisecond, nil},
		{true, staleCheckAfter, errStaleConn},
		{true, time.Minute, errStaleConn},
		{false, time.Minute, nil}, // still reading its response, or a new connection
	}
	for _, tc := range cases {
		client, server := tcpPair(t)
		server.Close() // the server is done with it
		waitReadable(t, client)
		c := newKeptConn(client, client, nil)
		c.answered, c.started = tc.answered, t0
		if err := c.begin(t0.Add(tc.idle)); err != tc.want {
			t.Errorf("answered %v, idle %v: got %v, want %v", tc.answered, tc.idle, err, tc.want)
		}
		client.Close()
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	return client, server
}

// waitReadable waits until the server's close has reached c.
func waitReadable(t *testing.T, c net.Conn) {
	t.Helper()
	raw := peekable(c)
	if raw == nil {
		t.Skip("cannot peek at sockets on this platform")
	}
	probe := newKeptConn(c, c, nil)
	for deadline := time.Now().Add(5 * time.Second); probe.alive(); {
		if time.Now().After(deadline) {
			t.Fatal("the server's close never arrived")
		}
		time.Sleep(time.Millisecond)
	}
}

// deadlineConn records the deadlines set on it.
type deadlineConn struct {
	net.Conn
	read, write time.Time
	sets        int
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error  { c.read = t; c.sets++; return nil }
func (c *deadlineConn) SetWriteDeadline(t time.Time) error { c.write = t; c.sets++; return nil }

// TestKeptConnDeadlines: a keptConn gives each request at least
// fastNetworkTimeout, moving its deadline only when less is left, and a
// request's own earlier deadline wins.
func TestKeptConnDeadlines(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	far := at(networkBoundAhead)
	steps := []struct {
		what        string
		do          func(c *keptConn) error
		read, write time.Time // the deadlines in force after the step
		sets        int       // deadlines set by the step
	}{
		{"first request", func(c *keptConn) error { return c.begin(t0) }, far, far, 2},
		{"a request 20 s later", func(c *keptConn) error { return c.begin(at(20 * time.Second)) }, far, far, 0},
		{"its own read deadline", func(c *keptConn) error { return c.SetReadDeadline(at(25 * time.Second)) }, at(25 * time.Second), far, 1},
		{"its own write deadline, later than the bound", func(c *keptConn) error { return c.SetWriteDeadline(at(time.Hour)) }, at(25 * time.Second), far, 1},
		{"none of its own again", func(c *keptConn) error { return c.SetDeadline(time.Time{}) }, far, far, 2},
		{"a request with less than the timeout left", func(c *keptConn) error { return c.begin(far.Add(-fastNetworkTimeout + time.Nanosecond)) },
			far.Add(-fastNetworkTimeout + time.Nanosecond + networkBoundAhead), far.Add(-fastNetworkTimeout + time.Nanosecond + networkBoundAhead), 2},
	}
	dc := &deadlineConn{}
	c := newKeptConn(dc, nil, nil)
	for _, s := range steps {
		before := dc.sets
		if err := s.do(c); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
		if !dc.read.Equal(s.read) || !dc.write.Equal(s.write) || dc.sets-before != s.sets {
			t.Errorf("%s: read deadline %v, write %v, %d set; want %v, %v, %d",
				s.what, dc.read, dc.write, dc.sets-before, s.read, s.write, s.sets)
		}
	}
}
