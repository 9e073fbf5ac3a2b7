package worker

// This file owns the default HTTP client, on net/http: HTTPUser,
// HTTPClient and its exchange (sending, redirects, cookies, reading). The
// request core it shares with the fast client (names, checks, errors,
// recording) is in request.go; its connections come from httpconns.go.

import (
	"bytes"
	"context"
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
// requests. It is a [Client].
type HTTPClient struct {
	requestCore
	client *http.Client

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
	c := &HTTPClient{client: &http.Client{Transport: transport, Jar: &lazyJar{}, CheckRedirect: checkRedirect}}
	c.requestCore = requestCore{base: base, badBase: bad, recorder: recorder, client: c}
	return c
}

// checkRedirect limits the redirects a request follows, and strips the
// credentials from a redirect from https to http (net/http itself strips
// them on a redirect to another host).
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return errTooManyRedirects
	}
	if req.URL.Scheme == "http" && via[len(via)-1].URL.Scheme == "https" {
		for _, k := range sensitiveHeaders {
			delete(req.Header, k)
		}
	}
	return nil
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

// Jar returns the client's cookie jar.
func (c *HTTPClient) Jar() http.CookieJar { return c.client.Jar }

// newCall returns a new call: net/http keeps its own state.
func (c *HTTPClient) newCall() *call { return new(call) }

// release does nothing: a response of HTTPClient is the caller's.
func (c *HTTPClient) release(*call) {}

// exchange sends x with net/http, which follows the redirects and keeps
// the cookies, and reads the response.
func (c *HTTPClient) exchange(ctx context.Context, x *call, body []byte) (*Response, *RequestError, error) {
	if x.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, x.start.Add(x.cfg.timeout))
		defer cancel()
	}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, x.method, x.targetURL(), reader)
	if err != nil {
		return nil, &RequestError{Method: x.method, Name: x.name, Kind: "InvalidURL", Err: err}, nil
	}
	for k, vs := range x.cfg.header {
		req.Header[k] = vs
	}
	req.Close = c.closed.Load()
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, transportError(ctx, x.method, x.name, err), err
	}
	data, err := readBody(resp.Body, resp.ContentLength, x.cfg.maxBody)
	resp.Body.Close()
	if c.closed.Load() {
		c.close()
	}
	r := x.response(nil, resp.StatusCode, resp.Status, resp.Header, data, resp.Request.URL)
	if err != nil {
		return r, bodyError(ctx, x.method, x.name, r.StatusCode, err), nil
	}
	return r, nil, nil
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
