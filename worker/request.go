package worker

// This file owns the request core both HTTP clients share: options, the
// base URL, row names, checks, Locust's failure texts and recording. Each
// client adds only its exchange, the sending and reading (http.go for
// net/http, fasthttp.go for fasthttp); response.go holds Response and
// RequestError.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/stats"
)

// Client is what [HTTPClient] and [FastHTTPClient] have in common, so that
// a helper can take either:
//
//	func login(ctx context.Context, c worker.Client) error {
//		_, err := c.PostForm(ctx, "/login", url.Values{"user": {"alice"}})
//		return err
//	}
type Client interface {
	// Get requests path (relative to the base URL, or absolute).
	Get(ctx context.Context, path string, opts ...RequestOption) (*Response, error)
	// Post sends body with the given content type to path.
	Post(ctx context.Context, path, contentType string, body []byte, opts ...RequestOption) (*Response, error)
	// PostForm sends form URL-encoded to path.
	PostForm(ctx context.Context, path string, form url.Values, opts ...RequestOption) (*Response, error)
	// Request sends a request with any method and records it.
	Request(ctx context.Context, method, path string, body []byte, opts ...RequestOption) (*Response, error)
}

var (
	_ Client = (*HTTPClient)(nil)
	_ Client = (*FastHTTPClient)(nil)
)

// exchanger is a client's own half of a request.
type exchanger interface {
	// newCall returns a zero call, in one allocation with what the
	// client's exchange keeps of it.
	newCall() *call
	// exchange sends x's request (with body, following redirects) and
	// reads the response. It returns the response (nil when none came,
	// else made with x.response), the failure the exchange itself found
	// (nil when the response is still to be judged) and the transport
	// error, if any, for the dial backoff. It sets x.recorded when the
	// request has been recorded already.
	exchange(ctx context.Context, x *call, body []byte) (*Response, *RequestError, error)
	// release is told that Request is done with x: its response has been
	// judged and recorded.
	release(x *call)
}

// requestCore is what both HTTP clients do around an exchange. It is
// embedded in each; its exported methods are theirs.
type requestCore struct {
	base     string // without a trailing slash
	badBase  error  // why base is unusable, nil when it is fine
	timeout  time.Duration
	maxBody  int64
	recorder stats.Recorder
	dials    dialFailures
	client   exchanger   // the client that embeds this core
	clock    *startClock // the requests' start times, shared by the pool's users; nil: time.Now
}

// SetTimeout sets the timeout of every request that has no [Timeout]
// option of its own; 0, the default, means none, as in Locust (the fast
// client still gives up after 60 s without progress). A request that
// times out is a failure of kind Timeout.
func (c *requestCore) SetTimeout(d time.Duration) { c.timeout = max(d, 0) }

// SetMaxBodySize makes a response body longer than n bytes a failure of
// kind ResponseTooLarge, for every request without a [MaxBodySize] option
// of its own; 0, the default, means no limit. Either way a body takes
// only the memory of the bytes received so far.
func (c *requestCore) SetMaxBodySize(n int64) { c.maxBody = max(n, 0) }

// Base returns the base URL that relative paths are joined to.
func (c *requestCore) Base() string { return c.base }

// Get requests path (relative to the base URL, or absolute).
func (c *requestCore) Get(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return c.Request(ctx, http.MethodGet, path, nil, opts...)
}

// Post sends body with the given content type to path.
func (c *requestCore) Post(ctx context.Context, path, contentType string, body []byte, opts ...RequestOption) (*Response, error) {
	return c.Request(ctx, http.MethodPost, path, body, append([]RequestOption{Header("Content-Type", contentType)}, opts...)...)
}

// PostForm sends form URL-encoded to path.
func (c *requestCore) PostForm(ctx context.Context, path string, form url.Values, opts ...RequestOption) (*Response, error) {
	return c.Post(ctx, path, "application/x-www-form-urlencoded", []byte(form.Encode()), opts...)
}

// Request sends a request with any method and records it. The error is a
// *[RequestError] when the request failed; the response is non-nil
// whenever the server answered, failed or not. A task may return the
// error as it is: failures already recorded are not reported again as
// exceptions.
func (c *requestCore) Request(ctx context.Context, method, path string, body []byte, opts ...RequestOption) (*Response, error) {
	x := c.newCall(method, path, opts)
	defer c.client.release(x)
	if failure := c.prepare(ctx, x); failure != nil {
		return nil, c.record(method, failure.Name, x.start, 0, failure)
	}
	r, failure, netErr := c.client.exchange(ctx, x, body)
	// The end from the monotonic clock alone, which is read in half the
	// time of the wall clock and the monotonic one together (time.Now).
	elapsed := time.Since(x.start)
	end := x.start.Add(elapsed)
	if x.recorded {
		return r, transportError(ctx, method, x.name, ctx.Err())
	}
	size := int64(0)
	if r != nil {
		r.Elapsed = elapsed
		size = int64(len(r.Body))
		if failure == nil {
			failure = r.judge(x.cfg.check)
		}
	}
	err := recordRequest(c.recorder, method, x.name, x.start, end, size, failure)
	c.dials.after(ctx, netErr) // after recording: the wait is no part of the request
	return r, err
}

// call is one request of either client, redirects included, and the
// memory of its response: with the client's part (see exchanger.newCall),
// one allocation for what a request keeps.
type call struct {
	cfg      requestConfig
	method   string
	path     string   // as the caller gave it
	base     string   // the client's
	name     string   // the row name
	target   string   // the URL of the current hop; use targetURL
	relative bool     // path is joined to base
	reqURL   *url.URL // target parsed, once something needed it; nil for a plain relative path
	start    time.Time
	recorded bool // the fast client's watcher recorded the request as cancelled

	resp Response  // what Request returns, from the net/http client
	fast *fastCall // the fast client's part of the call, nil for net/http
}

// newCall applies the options to a new request.
func (c *requestCore) newCall(method, path string, opts []RequestOption) *call {
	x := c.client.newCall()
	x.cfg = requestConfig{timeout: c.timeout, maxBody: c.maxBody}
	x.method, x.path, x.base = method, path, c.base
	x.relative, x.start = !isAbsolute(path), c.clock.now()
	for _, o := range opts {
		o(&x.cfg)
	}
	if !x.relative {
		x.target = path
	}
	return x
}

// startClock gives requests their start: the wall clock, read at most once
// every clockRefresh, plus the monotonic clock's time since, which is read
// in half the time of both (time.Now). A start is as time.Now would give
// it but after the wall clock is set (a step by NTP or by hand): then it
// is off by that step until the next read, at most clockRefresh later.
type startClock struct {
	base atomic.Pointer[time.Time] // the last wall clock read, with its monotonic reading
}

// clockRefresh is how often a startClock reads the wall clock.
const clockRefresh = time.Second

// now returns the time; a nil clock reads time.Now.
func (c *startClock) now() time.Time {
	if c == nil {
		return time.Now()
	}
	if b := c.base.Load(); b != nil {
		if d := time.Since(*b); d >= 0 && d < clockRefresh {
			return b.Add(d)
		}
	}
	t := time.Now()
	c.base.Store(&t)
	return t
}

// targetURL returns the URL of the current hop, joined on first use.
func (x *call) targetURL() string {
	if x.target == "" {
		x.target = x.base + x.path
	}
	return x.target
}

// prepare returns the failure of a request that cannot be sent (no
// usable base URL, a bad URL, a context already done) and otherwise sets
// its row name.
func (c *requestCore) prepare(ctx context.Context, x *call) *RequestError {
	if x.relative {
		if failure := baseError(c.base, c.badBase, x.method, nameOr(x.cfg.name, x.path)); failure != nil {
			return failure
		}
	}
	if failure := x.setName(); failure != nil {
		return failure
	}
	if err := ctx.Err(); err != nil {
		return transportError(ctx, x.method, x.name, err)
	}
	return nil
}

// setName sets the row name: the Name option, else, like Locust, the
// path and query of the first request, before any redirect. It parses
// the URL only when the path is not already its own request URI.
func (x *call) setName() *RequestError {
	if x.relative && plainRequestURI(x.path) {
		x.name = nameOr(x.cfg.name, x.path)
		return nil
	}
	u, err := url.Parse(x.targetURL())
	if err != nil || u.Host == "" {
		if err == nil {
			err = fmt.Errorf("no host in URL %q", x.target)
		}
		return &RequestError{Method: x.method, Name: nameOr(x.cfg.name, x.path), Kind: "InvalidURL", Err: err}
	}
	x.reqURL = u
	x.name = nameOr(x.cfg.name, u.RequestURI())
	return nil
}

// response returns the call's response, made of what the exchange read,
// in r's memory (nil: the call's own).
func (x *call) response(r *Response, code int, status string, header http.Header, body []byte, u *url.URL) *Response {
	if r == nil {
		r = &x.resp
	}
	*r = Response{StatusCode: code, Status: status, Header: header, Body: body, URL: u,
		name: x.name, method: x.method, errURL: x.cfg.name}
	return r
}

// record adds the request to the statistics and returns err. A non-nil
// err is always a *RequestError.
func (c *requestCore) record(method, name string, start time.Time, size int64, err *RequestError) error {
	return recordRequest(c.recorder, method, name, start, time.Now(), size, err)
}

// recordRequest records a request of either HTTP client that ended at now
// and returns err as an error (nil, not a nil *RequestError, on success).
func recordRequest(rec stats.Recorder, method, name string, start, now time.Time, size int64, err *RequestError) error {
	sample := stats.Sample{Method: method, Name: name, Duration: now.Sub(start), Size: size, At: now}
	if err == nil {
		rec.Record(sample)
		return nil
	}
	sample.Err = err
	rec.Record(sample)
	return err
}

// checkBase returns why base cannot be joined with request paths: it
// needs an http or https scheme and a host ("localhost:8080" has
// neither, to the URL parser).
func checkBase(base string) error {
	if base == "" {
		return nil
	}
	u, err := url.Parse(base)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	return fmt.Errorf("invalid host %q: want a URL with a scheme, like http://%s", base, strings.TrimPrefix(base, "//"))
}

// baseError returns the failure of a relative path's request when the
// base URL is missing or unusable, and nil when it is fine.
func baseError(base string, bad error, method, name string) *RequestError {
	switch {
	case base == "":
		return &RequestError{Method: method, Name: name, Kind: "MissingSchema",
			Err: fmt.Errorf("invalid URL %q: no host; set the class's Host, the master's host or --host", name)}
	case bad != nil:
		return &RequestError{Method: method, Name: name, Kind: "MissingSchema", Err: bad}
	}
	return nil
}

// isAbsolute reports whether a request's path is a whole URL, with a
// scheme, rather than a path relative to the base URL ("/go?to=http://x"
// is relative).
func isAbsolute(path string) bool {
	i := strings.Index(path, "://")
	return i > 0 && !strings.ContainsAny(path[:i], "/?#")
}

// plainRequestURI reports whether a relative path is already what
// url.URL.RequestURI would make of it, so the row name needs no parsing.
func plainRequestURI(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch b := p[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("/-._~!$&'()*+,;=:@?", b) >= 0:
		default:
			return false
		}
	}
	return true
}

func nameOr(name, fallback string) string {
	if name != "" {
		return name
	}
	return fallback
}

// maxRedirects is how many redirects a request follows, as in Python's
// requests, which Locust's client uses.
const maxRedirects = 30

var errTooManyRedirects = fmt.Errorf("exceeded %d redirects", maxRedirects)

// sensitiveHeaders are the headers net/http does not copy to a redirect to
// another host.
var sensitiveHeaders = [...]string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization", "Proxy-Authenticate"}

// kindRequestCancelled is the RequestError kind of a request cut short
// because its user was stopping.
const kindRequestCancelled = "RequestCancelled"

// transportError classifies the error of a request that got no usable
// response, with Locust's kinds.
func transportError(ctx context.Context, method, name string, err error) *RequestError {
	kind := "ConnectionError"
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		kind = "Timeout"
	case errors.Is(err, errTooManyRedirects):
		kind = "TooManyRedirects"
	case ctx.Err() != nil:
		kind = kindRequestCancelled
		// Not the URL (net/http's *url.Error names it): one failure row
		// for all the requests a stop cuts short, not one per URL.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		err = fmt.Errorf("request cancelled because the user is stopping: %w", err)
	}
	return &RequestError{Method: method, Name: name, Kind: kind, Err: err}
}

// RequestOption changes one request.
type RequestOption func(*requestConfig)

type requestConfig struct {
	name    string
	check   func(*Response) error
	header  http.Header
	timeout time.Duration
	maxBody int64
}

// Name records the request under name instead of its path, to group
// dynamic URLs such as /item/123 under /item/[id].
func Name(name string) RequestOption {
	return func(c *requestConfig) { c.name = name }
}

// Check makes check decide whether the request succeeded, like Locust's
// catch_response: a nil result is a success whatever the status (a 404
// can be fine), an error is a failure shown as CatchResponseError('text')
// (a 200 with a wrong body can fail). Return [Response.StatusError] from
// check to keep the usual status rule; it is recorded as an HTTPError.
func Check(check func(*Response) error) RequestOption {
	return func(c *requestConfig) { c.check = check }
}

// Header adds a request header.
func Header(key, value string) RequestOption {
	return func(c *requestConfig) {
		if c.header == nil {
			c.header = make(http.Header)
		}
		c.header.Add(key, value)
	}
}

// Timeout limits the whole request, body included, to d.
func Timeout(d time.Duration) RequestOption {
	return func(c *requestConfig) { c.timeout = d }
}

// MaxBodySize makes a response body longer than n bytes a failure of kind
// ResponseTooLarge; the client stops reading it there and closes the
// connection. 0 means no limit. It overrides the client's SetMaxBodySize.
func MaxBodySize(n int64) RequestOption {
	return func(c *requestConfig) { c.maxBody = max(n, 0) }
}
