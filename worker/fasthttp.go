package worker

// This file owns the fast HTTP client, on fasthttp: FastHTTPUser,
// FastHTTPClient and its exchange (sending, redirects, cookies, reading,
// the watch on requests in flight). The request core it shares with
// HTTPClient (names, checks, errors, recording) is in request.go; its
// connections come from httpconns.go.

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/golocust/golocust/stats"
)

// fastNetworkTimeout bounds reading a response and writing a request when
// the request has no deadline of its own, like Locust's network_timeout:
// the fast client cannot interrupt a request in flight. Its connections
// enforce it (keptConn, httpconns.go), giving each request between
// fastNetworkTimeout and networkBoundAhead.
const fastNetworkTimeout = 60 * time.Second

// FastHTTPUser gives a user its own [FastHTTPClient], an HTTP/1.1 client
// built for load generation on github.com/valyala/fasthttp. Embed it
// instead of [HTTPUser] when requests per core matter more than HTTP/2,
// httptrace or http.RoundTripper middleware; the runtime sets Client
// before OnStart. Like fasthttp, the client reuses its responses: a
// [Response] is valid until the user's next request (see
// [FastHTTPClient.SetReuseResponses]).
//
// Users share keep-alive connections (see [HTTPOptions]) unless the run
// or the class asks for a connection per user
// ([UserClass.ConnectionPerUser]). Certificates of https targets are
// verified against the system's roots unless [HTTPOptions].TLS says
// otherwise (--insecure, --ca-file, --client-cert); Locust's FastHttpUser
// skips the verification by default (its insecure = True), so a
// locustfile ported from it may need --insecure.
type FastHTTPUser struct {
	// Client is this user's fast HTTP client, with its own cookie jar.
	Client *FastHTTPClient
}

// bindFastHTTP gives the user its fast client.
func (u *FastHTTPUser) bindFastHTTP(c *FastHTTPClient) { u.Client = c }

// restFastHTTP lets the user's client give back the memory it reuses
// between requests: the user is about to wait long.
func (u *FastHTTPUser) restFastHTTP() {
	if u.Client != nil {
		u.Client.rest()
	}
}

// fastHTTPBinder is implemented by user structs that embed FastHTTPUser.
type fastHTTPBinder interface {
	bindFastHTTP(c *FastHTTPClient)
	restFastHTTP()
}

var _ fastHTTPBinder = (*FastHTTPUser)(nil)

// FastHTTPClient makes HTTP/1.1 requests for one user and records each one
// exactly like [HTTPClient]: same methods, same [RequestOption]s, same
// [Response] and *[RequestError], same row names and failure rules, and
// cookies the server sets are kept for the user's later requests. It is a
// [Client].
//
// Unlike HTTPClient it speaks HTTP/1.1 only, follows redirects itself, and
// cannot interrupt a request in flight when its context is cancelled: the
// request is recorded at the cancel as a RequestCancelled failure, as
// HTTPClient's would be, and the call returns at the response, the
// context's deadline, its [Timeout], or after 60 to 90 s without an
// answer. A request is sent once, never retried; before reusing a
// kept-alive connection that has been idle the client checks that the
// server has not closed it. It is safe for concurrent use.
//
// A Response is valid until the client's next request starts, fasthttp's
// own rule: the client reuses one Response and its memory, so that a GET
// in the steady state allocates nothing (see
// [FastHTTPClient.SetReuseResponses] for what stays valid, and how to
// keep every Response instead). A user that waits a second or more, or
// waits for a load model's turn, gives that memory back (its last
// Response stays its own), so that waiting users cost what users that
// never sent a request cost.
type FastHTTPClient struct {
	requestCore
	baseURL *url.URL // base parsed, nil when base is not an http(s) URL

	conns  *connections // where connections come from
	slot   uint32       // picks the client's shard of conns.inflight
	own    bool         // the connections are the client's own, closed by close
	closed atomic.Bool  // the user has exited: own connections are not kept

	// Made on first use (a million waiting users cost less without them,
	// and without a sync.Once each: BENCHMARKS.md, spawning).
	host       atomic.Pointer[fasthttp.HostClient] // connections to base's host; use hostClient
	other      atomic.Pointer[fasthttp.Client]     // connections to any other host; use otherClient
	jar        atomic.Pointer[cookiejar.Jar]       // use cookieJar
	hasCookies atomic.Bool                         // the jar has been given a cookie

	// reuse is the memory the client reuses from one request to the next:
	// taken from conns.reuses by a request, given back by rest; nil: none.
	reuse atomic.Pointer[fastReuse]
	keep  atomic.Bool // SetReuseResponses(false): every call makes a new Response
}

// SetReuseResponses makes the client reuse one [Response], with its
// Header, Body and URL, for all its requests (on, the default) or give
// each request a new one that the caller may keep (off: for a GET, five
// allocations: the Response with its URL, its Header's map, in two, the
// header's values and the body). A reused Response is valid until the
// client's next request starts: that request overwrites it, as fasthttp
// overwrites a fasthttp.Response. Copy what must outlive it (strings
// taken from it, such as [Response.Text] or a Header value, stay valid;
// slices such as Body and Header's value lists do not). A Header the
// caller changed is made anew by the next request.
//
// A request that starts while another of the same client is running gets
// a Response of its own, but a request from another goroutine of the
// user is the client's next request all the same: a task that fetches in
// parallel and reads the responses after must copy what it needs in each
// goroutine, or keep every Response. A GET of a user that runs its tasks
// back to back allocates nothing (see BENCHMARKS.md, fast path): the
// client keeps its last request and response, with their buffers, for
// the next one (a body over 64 KiB, a request over 16 KiB are not kept),
// and a request sent again as it was (the same method and relative path,
// without header options, body or cookies) is not made again. When its
// user waits a second or more, waits for a turn of --max-rps or an
// arrival of --arrival-rate, or is parked, the client gives that memory
// back to a pool its connections share and leaves its last Response to
// the caller; its next request takes memory from the pool and makes a
// new Response (about as many allocations as keeping every Response).
func (c *FastHTTPClient) SetReuseResponses(on bool) {
	c.keep.Store(!on)
	if !on {
		c.rest()
	}
}

// rest gives the client's reused memory back to its connections' pool
// when no request holds it: the user waits long (userloop.go), and a
// waiting user should cost what a user that never sent a request costs.
// The last Response, Header and Body are the caller's from now on.
func (c *FastHTTPClient) rest() {
	r := c.reuse.Load()
	if r == nil || !r.busy.CompareAndSwap(false, true) {
		return
	}
	c.reuse.Store(nil)
	r.forget()
	r.busy.Store(false)
	c.conns.reuses.Put(r)
}

// reused returns the client's reused memory, taken from its connections'
// pool when it has none; nil when the client keeps every Response.
func (c *FastHTTPClient) reused() *fastReuse {
	if c.keep.Load() {
		return nil
	}
	if r := c.reuse.Load(); r != nil {
		return r
	}
	r, _ := c.conns.reuses.Get().(*fastReuse)
	if r == nil {
		r = &fastReuse{call: new(fastCall)}
	}
	if !c.reuse.CompareAndSwap(nil, r) { // another request of the client took one
		c.conns.reuses.Put(r)
		return c.reuse.Load()
	}
	return r
}

// newFastHTTPClient returns a client for base with connections of its
// own. Its connections and its cookie jar are made on first use: a user
// that is still waiting for its first task costs little (see
// BENCHMARKS.md, idle users).
func newFastHTTPClient(base string, recorder stats.Recorder) *FastHTTPClient {
	return newFastClient(base, recorder, &connections{}, true)
}

// newFastClient returns a client for base whose connections come from
// conns: shared ones, or its own when own is set.
func newFastClient(base string, recorder stats.Recorder, conns *connections, own bool) *FastHTTPClient {
	c := &FastHTTPClient{own: own, conns: conns}
	c.requestCore = requestCore{base: strings.TrimRight(base, "/"), recorder: recorder, client: c, clock: &conns.clock}
	c.baseURL, c.badBase = conns.parseBase(c.base)
	return c
}

// baseParse is a base URL as parsed for the users of one connections.
type baseParse struct {
	base string
	url  *url.URL // nil when base is empty or bad; shared, never modified
	bad  error
}

// parseBase returns base parsed (nil when it is empty or not an http(s)
// URL) and checkBase's verdict on it. Users started together share one
// base: the last parse is kept, so that starting 10,000 users a second
// parses it once, not 20,000 times.
func (c *connections) parseBase(base string) (*url.URL, error) {
	if p := c.lastBase.Load(); p != nil && p.base == base {
		return p.url, p.bad
	}
	p := &baseParse{base: base, bad: checkBase(base)}
	if u, err := url.Parse(base); err == nil && p.bad == nil && base != "" {
		p.url = u
	}
	c.lastBase.Store(p)
	return p.url, p.bad
}

// hostClient returns the connections to base's host, or nil when base is
// not an http(s) URL. Two first requests at once may both make a user's
// own connections: one is kept, the other has no connection yet.
func (c *FastHTTPClient) hostClient() *fasthttp.HostClient {
	if h := c.host.Load(); h != nil || c.baseURL == nil {
		return h
	}
	var h *fasthttp.HostClient
	if c.own {
		h = c.conns.newFastHost(c.baseURL, true)
	} else {
		h = c.conns.fastHost(c.baseURL)
	}
	if !c.host.CompareAndSwap(nil, h) {
		return c.host.Load()
	}
	return h
}

// otherClient returns the connections to hosts other than base's, made
// on first use like hostClient's.
func (c *FastHTTPClient) otherClient() *fasthttp.Client {
	if o := c.other.Load(); o != nil {
		return o
	}
	var o *fasthttp.Client
	if c.own {
		o = c.conns.newFastOther(true)
	} else {
		o = c.conns.sharedFastOther()
	}
	if !c.other.CompareAndSwap(nil, o) {
		return c.other.Load()
	}
	return o
}

// close ends the client's own connections when its user has exited; a
// request still running (an OnStop after a cancel) closes its connection
// when done.
func (c *FastHTTPClient) close() {
	if !c.own {
		return
	}
	c.closed.Store(true)
	if h := c.host.Load(); h != nil {
		h.CloseIdleConnections()
	}
	if o := c.other.Load(); o != nil {
		o.CloseIdleConnections()
	}
}

// cookieJar returns the client's cookie jar, made on first use.
func (c *FastHTTPClient) cookieJar() *cookiejar.Jar {
	if j := c.jar.Load(); j != nil {
		return j
	}
	j, _ := cookiejar.New(nil) // cookiejar.New never fails without options
	if !c.jar.CompareAndSwap(nil, j) {
		return c.jar.Load()
	}
	return j
}

// addrOf returns host:port of an http(s) URL.
func addrOf(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return u.Host + ":443"
	}
	return u.Host + ":80"
}

// Jar returns the client's cookie jar. Cookies set in it are sent with
// later requests.
func (c *FastHTTPClient) Jar() http.CookieJar { return (*fastJar)(c) }

// fastJar is the client's jar seen from outside: setting cookies through
// it also tells the client to consult the jar.
type fastJar FastHTTPClient

func (j *fastJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	(*FastHTTPClient)(j).cookieJar().SetCookies(u, cookies)
	if len(cookies) > 0 {
		j.hasCookies.Store(true)
	}
}

func (j *fastJar) Cookies(u *url.URL) []*http.Cookie {
	return (*FastHTTPClient)(j).cookieJar().Cookies(u)
}

// fastCall is a call of the fast client with what its exchange keeps of
// it. The caller keeps none of it: it is reused (the client's own when it
// reuses its responses, else from its connections' pool), unless the
// watcher may still look at it.
type fastCall struct {
	call
	watch    fastWatch
	reuse    *fastReuse // the client's reused memory, when the call holds it
	discard  bool       // the watcher may still hold watch: do not reuse the call
	deadline time.Time  // when the request must end; zero: no deadline of its own

	// wire is the request's bytes, when it is a plain request; nil: the
	// transport writes req. They are made once for each plain request the
	// call is reused for (wireKey, wireBuf: kept when the call is reused).
	wire    []byte
	wireKey fastSent
	wireBuf wireWriter

	// What the transport (fasttransport.go) read of the last hop.
	next    *url.URL // where it redirects to, nil when it is the final one
	body    []byte   // the final hop's body
	bodyErr error    // why that body could not be read whole
}

// fastResponse is the memory of a Response of the fast client, in one
// allocation: the Response and the storage of its URL and header values.
type fastResponse struct {
	resp         Response
	url          url.URL   // the response's URL, when built from the base
	headerValues [8]string // the values of the response's header, when they fit
}

// newCall returns the client's reused call when it reuses responses and
// no other request holds it, else one from the connections' pool.
func (c *FastHTTPClient) newCall() *call {
	if r := c.reused(); r != nil && c.claim(r) {
		f := r.call
		f.reset(r)
		return &f.call
	}
	f, _ := c.conns.calls.Get().(*fastCall)
	if f == nil {
		f = new(fastCall)
	}
	f.fast = f
	return &f.call
}

// claim makes r, which reused returned, the request's own, unless
// another request of the client holds it or a rest between reused and
// now has given it to the pool: rest holds busy to take r away, so once
// busy is held and r is still the client's, it stays the client's.
func (c *FastHTTPClient) claim(r *fastReuse) bool {
	if !r.busy.CompareAndSwap(false, true) {
		return false
	}
	if c.reuse.Load() != r {
		r.busy.Store(false)
		return false
	}
	return true
}

// release lets the next request have the call: the reused one, or a new
// one in its place when the watcher may still look at this one; or back
// to the pool, unless the watcher may still look at it.
func (c *FastHTTPClient) release(x *call) {
	f := x.fast
	if r := f.reuse; r != nil {
		if f.discard {
			r.call = new(fastCall)
		}
		r.trim()
		r.busy.Store(false)
		return
	}
	if !f.discard {
		f.reset(nil)
		c.conns.calls.Put(f)
	}
}

// reset readies f for another request, holding reuse (nil: none), with
// the bytes of the plain request it was last used for.
func (f *fastCall) reset(reuse *fastReuse) {
	key, buf := f.wireKey, f.wireBuf
	*f = fastCall{reuse: reuse, wireKey: key, wireBuf: buf}
	f.fast = f
}

// fastReuse is what a client keeps between requests to reuse it
// (SetReuseResponses). It belongs to the request that holds busy. Its
// fasthttp messages and call go from client to client through the
// connections' pool (rest); what a Response shows the caller (response,
// header, values, body) is never handed to another client: forget drops
// it, and the next request makes it anew.
type fastReuse struct {
	busy     atomic.Bool
	req      fasthttp.Request  // the request, as the last one left it
	resp     fasthttp.Response // and its response
	sent     fastSent          // what req holds, when it is a plain request; else zero
	call     *fastCall         // the call
	response *fastResponse     // the Response; nil: made by the next request
	header   http.Header       // the Response's Header
	keys     []string          // the last response's header names, in order
	values   []string          // and values; Header's value lists are cut from it
	body     []byte            // the Response's Body, when it is small
	urlPaths urlPaths          // the last URL's paths, for the next one to the same path
	// aliased: each of header's value lists is one element of values (no
	// name was given twice), so that writing values updates header.
	aliased bool
	big     bool // req was made for a request over reuseRequestMax: trim drops it
}

// trim drops the memory of a request larger than reuseRequestMax (its
// URL and header options; its bytes, when plain), so that one large
// request does not stay with the user: the response's body is bounded
// by reuseBodyMax, its header by fasthttp's read buffer.
func (r *fastReuse) trim() {
	if r.big {
		r.req, r.sent, r.big = fasthttp.Request{}, fastSent{}, false
	}
	if f := r.call; cap(f.wireBuf.b) > reuseRequestMax {
		f.wireBuf.b, f.wireKey = nil, fastSent{}
	}
}

// reuseRequestMax is the largest request whose memory a client keeps.
const reuseRequestMax = 16 << 10

// forget leaves what the last Response showed to its caller, and what the
// last request was, so that r can serve another client.
func (r *fastReuse) forget() {
	// keys is never the caller's (the Header's names are strings of
	// their own): its room stays for the next client.
	r.keys = r.keys[:0]
	r.response, r.header, r.values, r.body, r.aliased = nil, nil, nil, nil, false
	r.sent = fastSent{}
	r.call.wireKey, r.call.wireBuf.b = fastSent{}, r.call.wireBuf.b[:0]
	r.req.Reset()
	r.resp.Reset()
}

// reuseBodyMax is the largest body a reused buffer keeps: a larger one is
// the Response's alone, so that one big response does not stay in memory.
const reuseBodyMax = 64 << 10

// exchange sends x, watched for its context's cancel, follows its
// redirects and reads the response.
func (c *FastHTTPClient) exchange(ctx context.Context, x *call, body []byte) (*Response, *RequestError, error) {
	x.fast.deadline = fastDeadline(ctx, x)
	if limit := c.sharedLimit(); limit != nil {
		if err := limit.acquire(ctx, x.fast.deadline); err != nil {
			return nil, fastTransportError(ctx, x.method, x.name, err), err
		}
		defer limit.release()
	}
	w := c.watch(ctx, x)
	r, failure, netErr := c.roundTrips(ctx, x, body)
	if !w.finish() {
		x.recorded = true
	}
	// The watcher takes only watches whose context is done, under the lock
	// finish took: with the context not done, it never had this one.
	x.fast.discard = ctx.Err() != nil
	return r, failure, netErr
}

// sharedLimit returns the limit on the shared pool's requests in flight
// (requestlimit.go), or nil for a client with its own connections.
func (c *FastHTTPClient) sharedLimit() *requestLimit {
	if c.own || c.conns == nil {
		return nil
	}
	return c.conns.limit
}

// fastWatch is a request of the fast client in flight, watched for its
// context's cancel: the fast client cannot stop a request, and a user
// stopped for good (the master's quit, SIGTERM) must not take its last
// request with it. Whichever of the watcher (see inflight) and the
// request's own end comes first records the request.
type fastWatch struct {
	ctx          context.Context
	c            *FastHTTPClient
	method, name string
	start        time.Time
	claimed      atomic.Bool
	index        int // in its inflight shard, -1 once out; guarded by the shard's mu
}

// watch registers x as in flight.
func (c *FastHTTPClient) watch(ctx context.Context, x *call) *fastWatch {
	w := &x.fast.watch
	w.ctx, w.c, w.method, w.name, w.start = ctx, c, x.method, x.name, x.start
	c.conns.inflight.add(w, c.slot)
	return w
}

// cancelled records w as cancelled, unless its end came first.
func (w *fastWatch) cancelled() {
	if w.claimed.CompareAndSwap(false, true) {
		w.c.record(w.method, w.name, w.start, 0, transportError(w.ctx, w.method, w.name, w.ctx.Err()))
	}
}

// finish ends the watch and reports whether the request is still to be
// recorded.
func (w *fastWatch) finish() bool {
	w.c.conns.inflight.remove(w, w.c.slot)
	return w.claimed.CompareAndSwap(false, true)
}

// fastDeadline returns when x must end, the earlier of its context's
// deadline and its timeout, or the zero time when it has neither.
func fastDeadline(ctx context.Context, x *call) time.Time {
	deadline, ok := ctx.Deadline()
	if x.cfg.timeout > 0 {
		if d := x.start.Add(x.cfg.timeout); !ok || d.Before(deadline) {
			return d
		}
	}
	return deadline
}

// roundTrips sends x and follows its redirects, by its deadline unless it
// is zero. It returns the response (nil when none came), the failure the
// exchange found and the transport error, if any.
func (c *FastHTTPClient) roundTrips(ctx context.Context, x *call, body []byte) (*Response, *RequestError, error) {
	req, resp := acquireMessages(x)
	defer releaseMessages(x, req, resp)
	c.setRequest(req, x, body)
	var first *url.URL // the first hop's URL, once redirected
	for redirects := 0; ; redirects++ {
		c.addCookies(req, x)
		if err := c.do(req, resp, x, redirects == 0); err != nil {
			return nil, fastTransportError(ctx, x.method, x.name, err), err
		}
		c.keepCookies(resp, x)
		next := x.fast.next
		if next == nil {
			break
		}
		if redirects >= maxRedirects {
			return nil, fastTransportError(ctx, x.method, x.name, errTooManyRedirects), nil
		}
		if first == nil {
			first = x.reqURL
		}
		if r := x.fast.reuse; r != nil {
			r.sent = fastSent{} // req is no longer the plain request
		}
		x.fast.wire = nil
		redirect(req, resp.StatusCode(), x, first, next)
		resp.Reset()
	}
	if c.closed.Load() {
		c.close()
	}
	r := c.response(resp, x.fast.body, x)
	if err := x.fast.bodyErr; err != nil {
		return r, bodyError(ctx, x.method, x.name, r.StatusCode, err), err
	}
	return r, nil, nil
}

// acquireMessages returns the fasthttp request and response for x: the
// client's own when x holds its reused memory, else from fasthttp's pools.
func acquireMessages(x *call) (*fasthttp.Request, *fasthttp.Response) {
	if r := x.fast.reuse; r != nil {
		return &r.req, &r.resp
	}
	return fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
}

// releaseMessages gives back what acquireMessages gave.
func releaseMessages(x *call, req *fasthttp.Request, resp *fasthttp.Response) {
	if x.fast.reuse != nil {
		return
	}
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
}

// fastSent is a plain request: a relative path with a method, without
// header options, body or cookies.
type fastSent struct{ method, base, path string }

// wireWriter keeps what is written to it: a request's bytes.
type wireWriter struct{ b []byte }

func (w *wireWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// setRequest makes req x's request with body, and the bytes of a plain
// request (x.fast.wire). A client that reuses its responses keeps its
// request as the last one left it: when that was the same plain request,
// req is ready as it is.
func (c *FastHTTPClient) setRequest(req *fasthttp.Request, x *call, body []byte) {
	plain := x.relative && x.cfg.header == nil && body == nil && !c.hasCookies.Load() && !c.closed.Load()
	key := fastSent{x.method, x.base, x.path}
	if r := x.fast.reuse; r == nil || !plain || r.sent != key {
		c.makeRequest(req, x, body)
		if r != nil && plain {
			r.sent = key
		}
	}
	req.SetUserValue(fastCallKey{}, x)
	if plain {
		x.fast.setWire(req, key)
	}
}

// setWire gives f the bytes of req, the plain request key: those it made
// for its last request when that was the same, else made now.
func (f *fastCall) setWire(req *fasthttp.Request, key fastSent) {
	if f.wireKey != key {
		f.wireKey, f.wireBuf.b = fastSent{}, f.wireBuf.b[:0]
		if _, err := req.WriteTo(&f.wireBuf); err != nil {
			return // the transport writes req, and fails the same way
		}
		f.wireKey = key
	}
	f.wire = f.wireBuf.b
}

// makeRequest makes req x's request with body, from scratch.
func (c *FastHTTPClient) makeRequest(req *fasthttp.Request, x *call, body []byte) {
	size := len(x.base) + len(x.path) + len(x.target)
	if r := x.fast.reuse; r != nil {
		r.sent = fastSent{}
		req.Reset()
	}
	req.Header.SetMethod(x.method)
	setRequestURI(req, x)
	for k, vs := range x.cfg.header {
		for _, v := range vs {
			req.Header.Add(k, v)
			size += len(k) + len(v)
		}
	}
	if r := x.fast.reuse; r != nil && size > reuseRequestMax {
		r.big = true
	}
	if body != nil {
		req.SetBodyRaw(body)
	}
}

// setRequestURI puts x's first URL on req, without making a string of
// base and path.
func setRequestURI(req *fasthttp.Request, x *call) {
	if x.target != "" {
		req.SetRequestURI(x.target)
		return
	}
	var buf [256]byte
	req.SetRequestURIBytes(append(append(buf[:0], x.base...), x.path...))
}

// addCookies puts the jar's cookies for the current hop on req.
func (c *FastHTTPClient) addCookies(req *fasthttp.Request, x *call) {
	if !c.hasCookies.Load() {
		return
	}
	if x.reqURL == nil {
		x.reqURL, _ = url.Parse(x.targetURL())
	}
	if x.reqURL != nil {
		for _, ck := range c.cookieJar().Cookies(x.reqURL) {
			req.Header.SetCookie(ck.Name, ck.Value)
		}
	}
}

// nextHop returns the URL resp redirects to, or nil when resp is final
// (or its Location cannot be followed).
func nextHop(resp *fasthttp.Response, x *call) *url.URL {
	next := redirectTarget(resp, resp.StatusCode())
	if next == "" {
		return nil
	}
	if x.reqURL == nil {
		x.reqURL, _ = url.Parse(x.targetURL())
	}
	loc, err := url.Parse(next)
	if x.reqURL == nil || err != nil {
		return nil
	}
	return x.reqURL.ResolveReference(loc)
}

// redirect turns req into the request of the next hop, as net/http does:
// a 301, 302 or 303 becomes a GET without a body, and the credentials
// stay behind on a redirect to another host than first's or from https
// to http.
func redirect(req *fasthttp.Request, code int, x *call, first, next *url.URL) {
	if stripOnRedirect(first, x.reqURL, next) {
		for _, k := range sensitiveHeaders {
			req.Header.Del(k)
		}
	}
	x.reqURL = next
	x.target = next.String()
	x.relative = false
	if code == http.StatusMovedPermanently || code == http.StatusFound || code == http.StatusSeeOther {
		if !req.Header.IsHead() {
			req.Header.SetMethod(http.MethodGet)
		}
		req.ResetBody()
		req.Header.Del("Content-Type")
	}
	req.Header.DelAllCookies()
	req.SetRequestURI(x.target)
}

// stripOnRedirect reports whether a request that started at first loses
// its credentials on the redirect from prev to next: net/http's rule
// (next's host is neither first's nor a subdomain of it), and Python
// requests' rule for a downgrade from https to http.
func stripOnRedirect(first, prev, next *url.URL) bool {
	if prev.Scheme == "https" && next.Scheme == "http" {
		return true
	}
	if first.Host == next.Host {
		return false
	}
	sub, parent := strings.ToLower(next.Hostname()), strings.ToLower(first.Hostname())
	if sub == parent {
		return false
	}
	if strings.ContainsAny(sub, ":%") || !strings.HasSuffix(sub, "."+parent) {
		return true
	}
	return false
}

// do sends req to the base host's connections when it goes there, and to
// the connections to other hosts otherwise. Their transport
// (fastTransport) keeps x's deadline and reads the body into x.
func (c *FastHTTPClient) do(req *fasthttp.Request, resp *fasthttp.Response, x *call, firstHop bool) error {
	if c.closed.Load() {
		req.SetConnectionClose()
		x.fast.wire = nil // without the close
	}
	if host := c.hostClient(); host != nil && (x.relative && firstHop || string(req.Host()) == c.baseURL.Host && sameScheme(x.targetURL(), host.IsTLS)) {
		return doHost(host, req, resp)
	}
	return c.otherClient().Do(req, resp)
}

func sameScheme(target string, tls bool) bool {
	return strings.HasPrefix(target, "https://") == tls
}

// keepCookies stores the cookies resp sets in the jar.
func (c *FastHTTPClient) keepCookies(resp *fasthttp.Response, x *call) {
	var cookies []*http.Cookie
	for _, v := range resp.Header.Cookies() {
		if ck, err := http.ParseSetCookie(string(v)); err == nil {
			cookies = append(cookies, ck)
		}
	}
	if len(cookies) == 0 {
		return
	}
	if x.reqURL == nil {
		u, err := url.Parse(x.targetURL())
		if err != nil {
			return
		}
		x.reqURL = u
	}
	c.cookieJar().SetCookies(x.reqURL, cookies)
	c.hasCookies.Store(true)
}

// redirectTarget returns the Location to follow, or "" when resp is final.
func redirectTarget(resp *fasthttp.Response, code int) string {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return string(resp.Header.Peek("Location"))
	}
	return ""
}

// response copies what the caller may keep out of resp. It is on the hot
// path, so it copies with few allocations: all header values share one
// string, and the URL of a plain relative path is built, not parsed.
func (c *FastHTTPClient) response(resp *fasthttp.Response, body []byte, x *call) *Response {
	var fr *fastResponse
	if r := x.fast.reuse; r != nil {
		if r.response == nil { // the first request, or the first after a rest
			r.response, r.header = new(fastResponse), make(http.Header, cap(r.keys))
			r.values = make([]string, 0, max(cap(r.keys), 8))
		}
		fr = r.response
	} else {
		fr = new(fastResponse)
	}
	u := x.reqURL
	if u == nil { // a plain relative path, never parsed
		p, q, _ := strings.Cut(x.path, "?")
		paths := c.urlPaths(x.fast.reuse, p)
		u = &fr.url
		*u = url.URL{Scheme: c.baseURL.Scheme, Host: c.baseURL.Host, Path: paths.path, RawPath: paths.raw, RawQuery: q}
	}
	code := resp.StatusCode()
	var header http.Header
	if r := x.fast.reuse; r != nil {
		header = r.fillHeader(&resp.Header)
	} else {
		header = copyHeader(&resp.Header, fr.headerValues[:])
	}
	return x.response(&fr.resp, code, statusLine(code, resp.Header.StatusMessage()), header, body, u)
}

// urlPaths returns the paths of the URL of a request to the plain path p,
// from the reused memory r when the last request went to p too (nil r:
// joined anew).
func (c *FastHTTPClient) urlPaths(r *fastReuse, p string) urlPaths {
	if r == nil {
		return urlPaths{}.join(c.baseURL, p)
	}
	r.urlPaths = r.urlPaths.join(c.baseURL, p)
	return r.urlPaths
}

// urlPaths are the Path and RawPath of a response's URL: the base URL's
// joined with a request's path p.
type urlPaths struct {
	base         *url.URL
	p, path, raw string
}

// join returns the paths of base joined with p: ps itself when it was
// made for the same base and p (a user that requests the same path again
// allocates nothing).
func (ps urlPaths) join(base *url.URL, p string) urlPaths {
	if ps.base == base && ps.p == p {
		return ps
	}
	return urlPaths{base: base, p: p, path: base.Path + p, raw: base.EscapedPath() + p}
}

// fillHeader puts h into the reused Header. A name or value equal to the
// one at the same place in the last response is that response's string,
// so that a server that answers alike each time costs no allocation (a
// Date header, one a second). When the names are the last response's, in
// the same order, the Header is left as it is: its value lists are
// r.values' elements, which now hold the new values.
func (r *fastReuse) fillHeader(h *fasthttp.ResponseHeader) http.Header {
	i, sameKeys := 0, true
	for k, v := range h.All() {
		if i == len(r.keys) {
			r.keys, r.values = append(r.keys, ""), append(r.values, "")
			sameKeys = false
		}
		if r.keys[i] != string(k) {
			r.keys[i] = headerKey(k)
			sameKeys = false
		}
		if r.values[i] != string(v) {
			r.values[i] = string(v)
		}
		i++
	}
	sameKeys = sameKeys && i == len(r.keys)
	r.keys, r.values = r.keys[:i], r.values[:i]
	if !sameKeys || !r.aliased || !r.intact() {
		r.rebuild()
	}
	return r.header
}

// intact reports whether the Header is as rebuild left it, not changed by
// the caller: each name's value list is its element of r.values.
func (r *fastReuse) intact() bool {
	if len(r.header) != len(r.keys) {
		return false
	}
	for i, key := range r.keys {
		if vs := r.header[key]; len(vs) != 1 || &vs[0] != &r.values[i] {
			return false
		}
	}
	return true
}

// rebuild makes the Header anew from r.keys and r.values.
func (r *fastReuse) rebuild() {
	clear(r.header)
	r.aliased = true
	for i, key := range r.keys {
		if old, ok := r.header[key]; ok {
			r.header[key] = append(old, r.values[i])
			r.aliased = false // a name given twice has a list of its own
		} else {
			r.header[key] = r.values[i : i+1 : i+1]
		}
	}
}

// copyHeader copies h into an http.Header with three allocations: the
// map (two for a small one), and one string holding every value. The
// value slices are cut from values when it is long enough.
func copyHeader(h *fasthttp.ResponseHeader, values []string) http.Header {
	n, size := 0, 0
	for _, v := range h.All() {
		n++
		size += len(v)
	}
	header := make(http.Header, n)
	if len(values) < n {
		values = make([]string, n)
	}
	var b strings.Builder
	b.Grow(size)
	for _, v := range h.All() {
		b.Write(v)
	}
	all := b.String()
	i, off := 0, 0
	for k, v := range h.All() {
		values[i] = all[off : off+len(v)]
		off += len(v)
		key := headerKey(k)
		if old, ok := header[key]; ok {
			header[key] = append(old, values[i])
		} else {
			header[key] = values[i : i+1 : i+1]
		}
		i++
	}
	return header
}

// headerKey returns k as a string, without allocating for the headers
// almost every response has.
func headerKey(k []byte) string {
	switch string(k) {
	case "Content-Type":
		return "Content-Type"
	case "Content-Length":
		return "Content-Length"
	case "Server":
		return "Server"
	case "Date":
		return "Date"
	case "Connection":
		return "Connection"
	case "Set-Cookie":
		return "Set-Cookie"
	case "Cache-Control":
		return "Cache-Control"
	case "Last-Modified":
		return "Last-Modified"
	case "Etag":
		return "Etag"
	}
	return string(k)
}

// statusLine returns "200 OK" and the like, without allocating for common
// statuses with their usual reason.
func statusLine(code int, reason []byte) string {
	if code == http.StatusOK && (len(reason) == 0 || string(reason) == "OK") {
		return "200 OK" // the most common, first
	}
	text := http.StatusText(code)
	if len(reason) > 0 && string(reason) != text {
		return strconv.Itoa(code) + " " + string(reason)
	}
	switch code {
	case 200:
		return "200 OK"
	case 201:
		return "201 Created"
	case 204:
		return "204 No Content"
	case 301:
		return "301 Moved Permanently"
	case 302:
		return "302 Found"
	case 304:
		return "304 Not Modified"
	case 400:
		return "400 Bad Request"
	case 401:
		return "401 Unauthorized"
	case 403:
		return "403 Forbidden"
	case 404:
		return "404 Not Found"
	case 429:
		return "429 Too Many Requests"
	case 500:
		return "500 Internal Server Error"
	case 502:
		return "502 Bad Gateway"
	case 503:
		return "503 Service Unavailable"
	}
	return strconv.Itoa(code) + " " + text
}

// fastTransportError classifies a fasthttp error like transportError
// classifies a net/http one.
func fastTransportError(ctx context.Context, method, name string, err error) *RequestError {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return &RequestError{Method: method, Name: name, Kind: "Timeout", Err: err}
	}
	return transportError(ctx, method, name, err)
}
