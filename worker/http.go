package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/stats"
)

// HTTPUser gives a user its own [HTTPClient]. Embed it in a user struct;
// the runtime sets Client before OnStart.
//
// Users share keep-alive connections (see [HTTPOptions]) unless the run
// or the class asks for a connection per user
// ([UserClass.ConnectionPerUser]). Certificates of https targets are
// verified against the system's roots unless [HTTPOptions].TLS says
// otherwise (--insecure, --ca-file, --client-cert).
type HTTPUser struct {
	// Client is this user's HTTP client, with its own cookie jar.
	Client *HTTPClient
}

func (u *HTTPUser) bindHTTP(c *HTTPClient) { u.Client = c }

// httpBinder is implemented by user structs that embed HTTPUser.
type httpBinder interface{ bindHTTP(*HTTPClient) }

// HTTPClient makes HTTP requests for one user and records each one in the
// statistics, like Locust's HttpSession: the row name is the request path
// (or the [Name] option), a status of 400 or more or a transport error is
// a failure, and cookies the server sets are kept for the user's later
// requests.
type HTTPClient struct {
	timeout  time.Duration
	maxBody  int64
	base     string
	badBase  error // why base is unusable, nil when it is fine
	client   *http.Client
	recorder stats.Recorder
	dials    dialFailures

	own    *http.Transport // the user's own connections (ConnectionPerUser), else nil
	closed atomic.Bool     // the user has exited: own connections are not kept
}

func newHTTPClient(base string, transport http.RoundTripper, recorder stats.Recorder) *HTTPClient {
	base = strings.TrimRight(base, "/")
	return newCheckedHTTPClient(base, checkBase(base), transport, recorder)
}

// newCheckedHTTPClient is newHTTPClient for a base already checked
// (trimmed, with checkBase's verdict bad).
func newCheckedHTTPClient(base string, bad error, transport http.RoundTripper, recorder stats.Recorder) *HTTPClient {
	return &HTTPClient{
		base:     base,
		badBase:  bad,
		client:   &http.Client{Transport: transport, Jar: &lazyJar{}, CheckRedirect: checkRedirect},
		recorder: recorder,
	}
}

// checkRedirect limits the redirects a request follows, and strips the
// credentials from a redirect from https to http (net/http itself strips
// them on a redirect to another host).
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errTooManyRedirects
	}
	if req.URL.Scheme == "http" && via[len(via)-1].URL.Scheme == "https" {
		stripSensitive(req.Header)
	}
	return nil
}

// sensitiveHeaders are the headers net/http does not copy to a redirect to
// another host.
var sensitiveHeaders = [...]string{"Authorization", "Www-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization", "Proxy-Authenticate"}

func stripSensitive(h http.Header) {
	for _, k := range sensitiveHeaders {
		delete(h, k)
	}
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

// close ends the user's own connections when the user has exited; a
// request still running (an OnStop after a cancel) closes its connection
// when done.
func (c *HTTPClient) close() {
	c.closed.Store(true)
	if c.own != nil {
		c.own.CloseIdleConnections()
	}
}

// SetMaxBodySize makes a response body longer than n bytes a failure of
// kind ResponseTooLarge, for every request without a [MaxBodySize] option
// of its own; 0, the default, means no limit. Either way a body takes
// only the memory of the bytes received so far.
func (c *HTTPClient) SetMaxBodySize(n int64) { c.maxBody = max(n, 0) }

// maxRedirects is how many redirects a request follows, as in Python's
// requests, which Locust's client uses.
const maxRedirects = 30

var errTooManyRedirects = fmt.Errorf("exceeded %d redirects", maxRedirects)

// newHTTPTransport returns a transport like the one all users share:
// keep-alive, as many connections as requests in flight, and room for
// all of them to stay idle (for 90 s) for the next requests.
func newHTTPTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0
	t.MaxIdleConnsPerHost = 1 << 16
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	return t
}

// SetTimeout sets the timeout of every request that has no [Timeout]
// option of its own; 0, the default, means none, as in Locust. A request
// that times out is a failure of kind Timeout.
func (c *HTTPClient) SetTimeout(d time.Duration) { c.timeout = max(d, 0) }

// Base returns the base URL that relative paths are joined to.
func (c *HTTPClient) Base() string { return c.base }

// Jar returns the client's cookie jar.
func (c *HTTPClient) Jar() http.CookieJar { return c.client.Jar }

// Get requests path (relative to the base URL, or absolute).
func (c *HTTPClient) Get(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return c.Request(ctx, http.MethodGet, path, nil, opts...)
}

// Post sends body with the given content type to path.
func (c *HTTPClient) Post(ctx context.Context, path, contentType string, body []byte, opts ...RequestOption) (*Response, error) {
	return c.Request(ctx, http.MethodPost, path, body, append([]RequestOption{Header("Content-Type", contentType)}, opts...)...)
}

// PostForm sends form URL-encoded to path.
func (c *HTTPClient) PostForm(ctx context.Context, path string, form url.Values, opts ...RequestOption) (*Response, error) {
	return c.Post(ctx, path, "application/x-www-form-urlencoded", []byte(form.Encode()), opts...)
}

// Request sends a request with any method and records it. The error is a
// *[RequestError] when the request failed; the response is non-nil
// whenever the server answered, failed or not. A task may return the
// error as it is: failures already recorded are not reported again as
// exceptions.
func (c *HTTPClient) Request(ctx context.Context, method, path string, body []byte, opts ...RequestOption) (*Response, error) {
	cfg := requestConfig{timeout: c.timeout, maxBody: c.maxBody}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	target := path
	absolute := isAbsolute(path)
	if !absolute {
		target = c.base + path
	}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	start := time.Now()
	if !absolute {
		if failure := baseError(c.base, c.badBase, method, nameOr(cfg.name, path)); failure != nil {
			return nil, c.record(method, failure.Name, start, 0, failure)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, target, reader)
	if err != nil {
		return nil, c.record(method, nameOr(cfg.name, path), start, 0, &RequestError{Method: method, Name: nameOr(cfg.name, path), Kind: "InvalidURL", Err: err})
	}
	// Like Locust, the row name is the path and query of the first
	// request, before any redirect.
	name := nameOr(cfg.name, req.URL.RequestURI())
	for k, vs := range cfg.header {
		req.Header[k] = vs
	}
	req.Close = c.closed.Load()
	resp, err := c.client.Do(req)
	if err != nil {
		failure := c.record(method, name, start, 0, transportError(ctx, method, name, err))
		c.dials.after(ctx, err) // after recording: the wait is no part of the request
		return nil, failure
	}
	c.dials.after(ctx, nil)
	r, failure := c.response(ctx, resp, &cfg, name, method, start)
	return r, c.record(method, name, start, int64(len(r.Body)), failure)
}

// isAbsolute reports whether a request's path is a whole URL, with a
// scheme, rather than a path relative to the base URL ("/go?to=http://x"
// is relative).
func isAbsolute(path string) bool {
	i := strings.Index(path, "://")
	return i > 0 && !strings.ContainsAny(path[:i], "/?#")
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

// response reads resp's body and decides whether the request failed.
func (c *HTTPClient) response(ctx context.Context, resp *http.Response, cfg *requestConfig, name, method string, start time.Time) (*Response, *RequestError) {
	data, err := readBody(resp.Body, resp.ContentLength, cfg.maxBody)
	resp.Body.Close()
	if c.closed.Load() {
		c.close()
	}
	r := &Response{StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header, Body: data, URL: resp.Request.URL,
		Elapsed: time.Since(start), name: name, method: method}
	// Locust's HTTPError names the row name when one is given, else the
	// final URL (made only for a failure, in statusError).
	r.errURL = cfg.name
	if err != nil {
		return r, bodyError(ctx, method, name, r.StatusCode, err)
	}
	return r, r.judge(cfg.check)
}

// bodyError classifies an error reading a response body.
func bodyError(ctx context.Context, method, name string, status int, err error) *RequestError {
	var big *bodyTooLargeError
	if errors.As(err, &big) {
		return &RequestError{Method: method, Name: name, StatusCode: status, Kind: kindResponseTooLarge, Err: err}
	}
	return transportError(ctx, method, name, err)
}

// judge returns the request's failure, nil for a success: check's verdict
// when there is a check, else the status rule.
func (r *Response) judge(check func(*Response) error) *RequestError {
	var failure *RequestError
	if check != nil {
		if cerr := runCheck(check, r); cerr != nil {
			if !errors.As(cerr, &failure) {
				failure = &RequestError{Method: r.method, Name: r.name, StatusCode: r.StatusCode, Kind: "CatchResponseError", Err: cerr}
			}
		}
	} else if r.StatusCode >= 400 {
		failure = r.statusError()
	}
	return failure
}

// runCheck calls check, turning a panic into an error.
func runCheck(check func(*Response) error, r *Response) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic in check: %v", v)
		}
	}()
	return check(r)
}

// record adds the request to the statistics and returns err. A non-nil
// err is always a *RequestError.
func (c *HTTPClient) record(method, name string, start time.Time, size int64, err *RequestError) error {
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

func nameOr(name, fallback string) string {
	if name != "" {
		return name
	}
	return fallback
}

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

// failureURL is the URL an HTTPError names: the row name when the request
// had one, else the final URL.
func (r *Response) failureURL() string {
	if r.errURL == "" && r.URL != nil {
		return r.URL.String()
	}
	return r.errURL
}

// bodyPrealloc is the most readBody allocates before the bytes arrive: a
// body's announced length is only a promise (a header saying 4 MiB may
// come with no body at all).
const bodyPrealloc = 64 << 10

// kindResponseTooLarge is the RequestError kind of a response whose body
// is longer than the maximum set with [MaxBodySize] or SetMaxBodySize.
const kindResponseTooLarge = "ResponseTooLarge"

// bodyTooLargeError is a body over the maximum.
type bodyTooLargeError struct{ max int64 }

func (e *bodyTooLargeError) Error() string {
	return fmt.Sprintf("response body larger than the maximum of %d bytes", e.max)
}

// readBody reads a response body of the announced length (-1: unknown)
// and at most limit bytes (0: no limit). It allocates once when the body
// is small and as announced; otherwise its memory follows the bytes
// received. A body over limit is an error of type *bodyTooLargeError,
// with the first limit bytes.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if limit > 0 && length > limit {
		return nil, &bodyTooLargeError{max: limit}
	}
	size := int64(512)
	if length >= 0 {
		size = min(length, bodyPrealloc) + 1 // +1: room to see io.EOF without growing
	}
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // longer than announced: grow
		}
		end := cap(b)
		if limit > 0 {
			end = int(min(int64(end), limit+1))
		}
		n, err := r.Read(b[len(b):end])
		b = b[:len(b)+n]
		switch {
		case limit > 0 && int64(len(b)) > limit:
			return b[:limit], &bodyTooLargeError{max: limit}
		case err == io.EOF:
			return b, nil
		case err != nil:
			return b, err
		}
	}
}

// lazyJar is a user's cookie jar, made when the first cookie arrives: most
// requests of most users carry no cookie, and an idle user should cost
// little.
type lazyJar struct {
	once sync.Once
	jar  *cookiejar.Jar
	used atomic.Bool
}

// SetCookies keeps cookies for u.
func (j *lazyJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	if len(cookies) == 0 {
		return
	}
	j.once.Do(func() { j.jar, _ = cookiejar.New(nil) }) // New fails only with options
	j.jar.SetCookies(u, cookies)
	j.used.Store(true)
}

// Cookies returns the cookies to send to u.
func (j *lazyJar) Cookies(u *url.URL) []*http.Cookie {
	if !j.used.Load() {
		return nil
	}
	return j.jar.Cookies(u)
}

// kindRequestCancelled is the RequestError kind of a request cut short
// because its user was stopping.
const kindRequestCancelled = "RequestCancelled"

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

// Response is a completed HTTP response with its body read.
type Response struct {
	// StatusCode is the HTTP status, e.g. 200.
	StatusCode int
	// Status is the status line's text, e.g. "200 OK".
	Status string
	// Header holds the response headers.
	Header http.Header
	// Body is the whole response body.
	Body []byte
	// URL is the final URL, after redirects.
	URL *url.URL
	// Elapsed is the response time recorded for the request.
	Elapsed time.Duration

	name, method, errURL string
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("response of %s %s: %w", r.method, r.name, err)
	}
	return nil
}

// Text returns the body as a string.
func (r *Response) Text() string { return string(r.Body) }

// Contains reports whether the body contains s.
func (r *Response) Contains(s string) bool { return bytes.Contains(r.Body, []byte(s)) }

// StatusError returns a *[RequestError] of kind HTTPError when the status
// is 400 or more, the rule of raise_for_status in Python's requests, and
// nil otherwise.
func (r *Response) StatusError() error {
	if r.StatusCode < 400 {
		return nil
	}
	return r.statusError()
}

func (r *Response) statusError() *RequestError {
	class := "Client"
	if r.StatusCode >= 500 {
		class = "Server"
	}
	reason := strings.TrimSpace(strings.TrimPrefix(r.Status, fmt.Sprint(r.StatusCode)))
	if reason == "" {
		reason = http.StatusText(r.StatusCode)
	}
	return &RequestError{
		Method: r.method, Name: r.name, StatusCode: r.StatusCode, Kind: "HTTPError",
		Err: fmt.Errorf("%d %s Error: %s for url: %s", r.StatusCode, class, reason, nameOr(r.failureURL(), r.name)),
	}
}

// RequestError is a failed request. It is recorded in the statistics
// before it is returned.
type RequestError struct {
	// Method and Name are the request's statistics row.
	Method, Name string
	// StatusCode is the response status, or 0 when no response arrived.
	StatusCode int
	// Kind is the Python exception name Locust would show: HTTPError,
	// ConnectionError, Timeout, CatchResponseError, TooManyRedirects, MissingSchema,
	// InvalidURL, ResponseTooLarge (a body over [MaxBodySize]), or
	// RequestCancelled for a request cut short because the user was
	// stopping.
	Kind string
	// Err is the cause, whose text Locust's failure table shows.
	Err error
}

// Error returns "METHOD name: cause".
func (e *RequestError) Error() string { return fmt.Sprintf("%s %s: %v", e.Method, e.Name, e.Err) }

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// LocustText returns the error as Locust shows it, e.g.
// HTTPError('404 Client Error: Not Found for url: http://host/x') (the
// url is the row name when [Name] was given, as in Locust).
func (e *RequestError) LocustText() string {
	return e.Kind + "(" + stats.PyRepr(e.Err.Error()) + ")"
}

// recordedError marks an error that is already in the statistics.
type recordedError struct{ err error }

func (e *recordedError) Error() string { return e.err.Error() }
func (e *recordedError) Unwrap() error { return e.err }

// isRecorded reports whether err is a request failure already recorded.
func isRecorded(err error) bool {
	var re *RequestError
	var rec *recordedError
	return errors.As(err, &re) || errors.As(err, &rec)
}
