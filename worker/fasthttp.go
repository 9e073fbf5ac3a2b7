package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/golocust/golocust/stats"
)

// fastNetworkTimeout bounds reading a response and writing a request when
// the request has no deadline of its own, like Locust's network_timeout:
// the fast client cannot be interrupted by a cancelled context.
const fastNetworkTimeout = 60 * time.Second

// FastHTTPUser gives a user its own [FastHTTPClient], an HTTP/1.1 client
// built for load generation on github.com/valyala/fasthttp. Embed it
// instead of [HTTPUser] when requests per core matter more than HTTP/2,
// httptrace or http.RoundTripper middleware; the runtime sets Client
// before OnStart.
type FastHTTPUser struct {
	// Client is this user's fast HTTP client, with its own connections and
	// cookie jar.
	Client *FastHTTPClient
}

// bindFastHTTP gives the user a fast client for base that records to
// recorder.
func (u *FastHTTPUser) bindFastHTTP(base string, recorder stats.Recorder) {
	u.Client = newFastHTTPClient(base, recorder)
}

// fastHTTPBinder is implemented by user structs that embed FastHTTPUser.
type fastHTTPBinder interface {
	bindFastHTTP(base string, recorder stats.Recorder)
}

var _ fastHTTPBinder = (*FastHTTPUser)(nil)

// FastHTTPClient makes HTTP/1.1 requests for one user and records each one
// exactly like [HTTPClient]: same methods, same [RequestOption]s, same
// [Response] and *[RequestError], same row names and failure rules, and
// cookies the server sets are kept for the user's later requests.
//
// Unlike HTTPClient it keeps its own keep-alive connections (one per
// request in flight, normally one), speaks HTTP/1.1 only, follows
// redirects itself, and cannot interrupt a request in flight when its
// context is cancelled: a request ends at its context's deadline, its
// [Timeout], or after 60 s without progress. It is safe for concurrent
// use.
type FastHTTPClient struct {
	timeout  time.Duration
	base     string
	baseURL  *url.URL // base parsed, nil when base is not an http(s) URL
	baseHost string   // host[:port] of base
	recorder stats.Recorder
	hostOnce sync.Once
	host     *fasthttp.HostClient // connections to base's host; use hostClient

	otherOnce sync.Once
	other     *fasthttp.Client // connections to any other host, made on first use

	jarOnce    sync.Once
	jar        *cookiejar.Jar // use cookieJar
	hasCookies atomic.Bool    // the jar has been given a cookie
}

// newFastHTTPClient returns a client for base. Its connections and its
// cookie jar are made on first use: a user that is still waiting for its
// first task costs little (see BENCHMARKS.md, idle users).
func newFastHTTPClient(base string, recorder stats.Recorder) *FastHTTPClient {
	c := &FastHTTPClient{base: strings.TrimRight(base, "/"), recorder: recorder}
	if u, err := url.Parse(c.base); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		c.baseURL = u
		c.baseHost = u.Host
	}
	return c
}

// hostClient returns the connections to base's host, or nil when base is
// not an http(s) URL.
func (c *FastHTTPClient) hostClient() *fasthttp.HostClient {
	c.hostOnce.Do(func() {
		if u := c.baseURL; u != nil {
			c.host = &fasthttp.HostClient{
				Addr:                     addrOf(u),
				IsTLS:                    u.Scheme == "https",
				ReadTimeout:              fastNetworkTimeout,
				WriteTimeout:             fastNetworkTimeout,
				NoDefaultUserAgentHeader: true,
			}
		}
	})
	return c.host
}

// cookieJar returns the client's cookie jar, made on first use.
func (c *FastHTTPClient) cookieJar() *cookiejar.Jar {
	c.jarOnce.Do(func() {
		c.jar, _ = cookiejar.New(nil) // cookiejar.New never fails without options
	})
	return c.jar
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

// SetTimeout sets the timeout of every request that has no [Timeout]
// option of its own; 0, the default, means none but the 60 s network
// timeout. A request that times out is a failure of kind Timeout.
func (c *FastHTTPClient) SetTimeout(d time.Duration) { c.timeout = max(d, 0) }

// Base returns the base URL that relative paths are joined to.
func (c *FastHTTPClient) Base() string { return c.base }

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

// Get requests path (relative to the base URL, or absolute).
func (c *FastHTTPClient) Get(ctx context.Context, path string, opts ...RequestOption) (*Response, error) {
	return c.Request(ctx, http.MethodGet, path, nil, opts...)
}

// Post sends body with the given content type to path.
func (c *FastHTTPClient) Post(ctx context.Context, path, contentType string, body []byte, opts ...RequestOption) (*Response, error) {
	return c.Request(ctx, http.MethodPost, path, body, append([]RequestOption{Header("Content-Type", contentType)}, opts...)...)
}

// PostForm sends form URL-encoded to path.
func (c *FastHTTPClient) PostForm(ctx context.Context, path string, form url.Values, opts ...RequestOption) (*Response, error) {
	return c.Post(ctx, path, "application/x-www-form-urlencoded", []byte(form.Encode()), opts...)
}

// Request sends a request with any method and records it, following
// redirects. The error is a *[RequestError] when the request failed; the
// response is non-nil whenever the server answered, failed or not.
func (c *FastHTTPClient) Request(ctx context.Context, method, path string, body []byte, opts ...RequestOption) (*Response, error) {
	cfg := requestConfig{timeout: c.timeout}
	for _, o := range opts {
		o(&cfg)
	}
	deadline, hasDeadline := ctx.Deadline()
	if cfg.timeout > 0 {
		if d := time.Now().Add(cfg.timeout); !hasDeadline || d.Before(deadline) {
			deadline, hasDeadline = d, true
		}
	}
	relative := !strings.Contains(path, "://")
	target := path
	if relative {
		target = c.base + path
	}
	start := time.Now()
	if relative && c.base == "" {
		return nil, c.record(method, nameOr(cfg.name, path), start, 0, &RequestError{Method: method, Name: nameOr(cfg.name, path), Kind: "MissingSchema",
			Err: fmt.Errorf("invalid URL %q: no host; set the class's Host, the master's host or --host", path)})
	}
	if err := ctx.Err(); err != nil {
		name := nameOr(cfg.name, path)
		return nil, c.record(method, name, start, 0, transportError(ctx, method, name, err))
	}

	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)

	var reqURL *url.URL // parsed only when cookies, redirects or a query need it
	name := cfg.name
	if name == "" {
		if relative && plainRequestURI(path) {
			name = path
		} else {
			u, err := url.Parse(target)
			if err != nil || u.Host == "" {
				if err == nil {
					err = fmt.Errorf("no host in URL %q", target)
				}
				return nil, c.record(method, nameOr(cfg.name, path), start, 0, &RequestError{Method: method, Name: nameOr(cfg.name, path), Kind: "InvalidURL", Err: err})
			}
			reqURL = u
			name = u.RequestURI()
		}
	}

	req.Header.SetMethod(method)
	req.SetRequestURI(target)
	for k, vs := range cfg.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil {
		req.SetBodyRaw(body)
	}

	for redirects := 0; ; redirects++ {
		if c.hasCookies.Load() {
			if reqURL == nil {
				reqURL, _ = url.Parse(target)
			}
			if reqURL != nil {
				for _, ck := range c.cookieJar().Cookies(reqURL) {
					req.Header.SetCookie(ck.Name, ck.Value)
				}
			}
		}
		err := c.do(req, resp, target, relative && redirects == 0, deadline, hasDeadline)
		if err != nil {
			return nil, c.record(method, name, start, 0, fastTransportError(ctx, method, name, err))
		}
		c.keepCookies(resp, &reqURL, target)
		code := resp.StatusCode()
		next := redirectTarget(resp, code)
		if next == "" {
			break
		}
		if redirects >= maxRedirects {
			return nil, c.record(method, name, start, 0, fastTransportError(ctx, method, name, errTooManyRedirects))
		}
		if reqURL == nil {
			reqURL, _ = url.Parse(target)
		}
		loc, err := url.Parse(next)
		if reqURL == nil || err != nil {
			break
		}
		reqURL = reqURL.ResolveReference(loc)
		target = reqURL.String()
		relative = false
		if code == http.StatusMovedPermanently || code == http.StatusFound || code == http.StatusSeeOther {
			if !req.Header.IsHead() {
				req.Header.SetMethod(http.MethodGet)
			}
			req.ResetBody()
			req.Header.Del("Content-Type")
		}
		req.Header.DelAllCookies()
		req.SetRequestURI(target)
		resp.Reset()
	}

	r := c.response(resp, name, method, target, path, reqURL)
	end := time.Now()
	r.Elapsed = end.Sub(start)
	// Locust's HTTPError names the row name when one is given, else the
	// final URL.
	r.errURL = target
	if cfg.name != "" {
		r.errURL = cfg.name
	}
	var failure *RequestError
	if cfg.check != nil {
		if cerr := runCheck(cfg.check, r); cerr != nil {
			if !errors.As(cerr, &failure) {
				failure = &RequestError{Method: method, Name: name, StatusCode: r.StatusCode, Kind: "CatchResponseError", Err: cerr}
			}
		}
	} else if r.StatusCode >= 400 {
		failure = r.statusError()
	}
	return r, c.recordAt(method, name, start, end, int64(len(r.Body)), failure)
}

// do sends req to the base host's connections when it goes there, and to
// the shared multi-host client otherwise.
func (c *FastHTTPClient) do(req *fasthttp.Request, resp *fasthttp.Response, target string, toBase bool, deadline time.Time, hasDeadline bool) error {
	var d interface {
		Do(*fasthttp.Request, *fasthttp.Response) error
		DoDeadline(*fasthttp.Request, *fasthttp.Response, time.Time) error
	}
	if host := c.hostClient(); host != nil && (toBase || string(req.Host()) == c.baseHost && sameScheme(target, host.IsTLS)) {
		d = host
	} else {
		c.otherOnce.Do(func() {
			c.other = &fasthttp.Client{
				ReadTimeout:              fastNetworkTimeout,
				WriteTimeout:             fastNetworkTimeout,
				NoDefaultUserAgentHeader: true,
			}
		})
		d = c.other
	}
	if hasDeadline {
		return d.DoDeadline(req, resp, deadline)
	}
	return d.Do(req, resp)
}

func sameScheme(target string, tls bool) bool {
	return strings.HasPrefix(target, "https://") == tls
}

// keepCookies stores the cookies resp sets in the jar.
func (c *FastHTTPClient) keepCookies(resp *fasthttp.Response, reqURL **url.URL, target string) {
	var cookies []*http.Cookie
	for _, v := range resp.Header.Cookies() {
		if ck, err := http.ParseSetCookie(string(v)); err == nil {
			cookies = append(cookies, ck)
		}
	}
	if len(cookies) == 0 {
		return
	}
	if *reqURL == nil {
		u, err := url.Parse(target)
		if err != nil {
			return
		}
		*reqURL = u
	}
	c.cookieJar().SetCookies(*reqURL, cookies)
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
func (c *FastHTTPClient) response(resp *fasthttp.Response, name, method, target, path string, u *url.URL) *Response {
	code := resp.StatusCode()
	if u == nil {
		if c.baseURL != nil && target == c.base+path && plainRequestURI(path) {
			p, q, _ := strings.Cut(path, "?")
			u = &url.URL{Scheme: c.baseURL.Scheme, Host: c.baseURL.Host, Path: c.baseURL.Path + p, RawQuery: q}
		} else {
			u, _ = url.Parse(target)
		}
	}
	return &Response{
		StatusCode: code, Status: statusLine(code, resp.Header.StatusMessage()), Header: copyHeader(&resp.Header),
		Body: bytes.Clone(resp.Body()), URL: u, name: name, method: method,
	}
}

// copyHeader copies h into an http.Header with three allocations: the
// map, the value slices and one string holding every value.
func copyHeader(h *fasthttp.ResponseHeader) http.Header {
	n, size := 0, 0
	for _, v := range h.All() {
		n++
		size += len(v)
	}
	header := make(http.Header, n)
	values := make([]string, n)
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

// record adds the request to the statistics and returns err.
func (c *FastHTTPClient) record(method, name string, start time.Time, size int64, err *RequestError) error {
	return c.recordAt(method, name, start, time.Now(), size, err)
}

// recordAt records a request that ended at now.
func (c *FastHTTPClient) recordAt(method, name string, start, now time.Time, size int64, err *RequestError) error {
	return recordRequest(c.recorder, method, name, start, now, size, err)
}

// fastTransportError classifies a fasthttp error like transportError
// classifies a net/http one.
func fastTransportError(ctx context.Context, method, name string, err error) *RequestError {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return &RequestError{Method: method, Name: name, Kind: "Timeout", Err: err}
	}
	return transportError(ctx, method, name, err)
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
