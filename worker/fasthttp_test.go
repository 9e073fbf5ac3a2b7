package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/stats"
)

// fastTestServer answers the requests the client tests make and counts
// them.
func fastTestServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var served atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Method", r.Method)
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/boom", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Header.Get("X-Token"), body)
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: r.URL.Query().Get("who"), Path: "/"})
		io.WriteString(w, "logged in")
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("session")
		if err != nil {
			http.Error(w, "no session", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, c.Value)
	})
	mux.HandleFunc("/redirect-missing", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/missing", http.StatusFound)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/echo?from=redirect", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/header", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Value", r.URL.Query().Get("v"))
		io.WriteString(w, r.URL.Query().Get("v"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &served
}

// TestFastHTTPClientMatchesHTTPClient makes the same requests with both
// clients and wants the same responses, errors and statistics.
func TestFastHTTPClientMatchesHTTPClient(t *testing.T) {
	srv, _ := fastTestServer(t)
	tests := []struct {
		name     string
		do       func(ctx context.Context, c Client) (*Response, error)
		status   int
		body     string
		row      string // recorded name
		method   string
		errKind  string // "" for success
		errorRow string // the failure text Locust would show
		base     string // "-" for a client without a base URL
	}{
		{name: "get", do: func(ctx context.Context, c Client) (*Response, error) { return c.Get(ctx, "/ok") },
			status: 200, body: "hello", row: "/ok", method: "GET"},
		{name: "query kept in name", do: func(ctx context.Context, c Client) (*Response, error) { return c.Get(ctx, "/echo?a=1&b=2") },
			status: 200, body: "GET /echo?a=1&b=2   ", row: "/echo?a=1&b=2", method: "GET"},
		{name: "escaped path", do: func(ctx context.Context, c Client) (*Response, error) { return c.Get(ctx, "/echo?q=a%20b") },
			status: 200, body: "GET /echo?q=a%20b   ", row: "/echo?q=a%20b", method: "GET"},
		{name: "absolute url", do: func(ctx context.Context, c Client) (*Response, error) { return c.Get(ctx, srv.URL+"/ok") },
			status: 200, body: "hello", row: "/ok", method: "GET"},
		{name: "name option", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Get(ctx, "/echo?id=7", Name("/echo?id=[id]"))
		}, status: 200, body: "GET /echo?id=7   ", row: "/echo?id=[id]", method: "GET"},
		{name: "404 fails", do: func(ctx context.Context, c Client) (*Response, error) { return c.Get(ctx, "/missing") },
			status: 404, body: "404 page not found\n", row: "/missing", method: "GET", errKind: "HTTPError",
			errorRow: "HTTPError('404 Client Error: Not Found for url: " + srv.URL + "/missing')"},
		{name: "500 fails", do: func(ctx context.Context, c Client) (*Response, error) { return c.Get(ctx, "/boom") },
			status: 500, body: "boom\n", row: "/boom", method: "GET", errKind: "HTTPError",
			errorRow: "HTTPError('500 Server Error: Internal Server Error for url: " + srv.URL + "/boom')"},
		{name: "check accepts 404", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Get(ctx, "/missing", Check(func(*Response) error { return nil }))
		}, status: 404, body: "404 page not found\n", row: "/missing", method: "GET"},
		{name: "check rejects 200", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Get(ctx, "/ok", Check(func(r *Response) error {
				if r.Contains("hello") {
					return errors.New("unexpected greeting")
				}
				return nil
			}))
		}, status: 200, body: "hello", row: "/ok", method: "GET", errKind: "CatchResponseError",
			errorRow: "CatchResponseError('unexpected greeting')"},
		{name: "post with header", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Post(ctx, "/echo", "text/plain", []byte("data"), Header("X-Token", "t1"))
		}, status: 200, body: "POST /echo text/plain t1 data", row: "/echo", method: "POST"},
		{name: "post form", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.PostForm(ctx, "/echo", url.Values{"k": {"v w"}})
		}, status: 200, body: "POST /echo application/x-www-form-urlencoded  k=v+w", row: "/echo", method: "POST"},
		{name: "custom method", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Request(ctx, http.MethodDelete, "/ok", nil)
		}, status: 200, body: "hello", row: "/ok", method: "DELETE"},
		{name: "redirect followed", do: func(ctx context.Context, c Client) (*Response, error) { return c.Get(ctx, "/redirect") },
			status: 200, body: "GET /echo?from=redirect   ", row: "/redirect", method: "GET"},
		{name: "redirect to a failure", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Get(ctx, "/redirect-missing")
		}, status: 404, body: "404 page not found\n", row: "/redirect-missing", method: "GET", errKind: "HTTPError",
			errorRow: "HTTPError('404 Client Error: Not Found for url: " + srv.URL + "/missing')"},
		{name: "named failure", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Get(ctx, "/missing?id=3", Name("/missing?id=[id]"))
		}, status: 404, body: "404 page not found\n", row: "/missing?id=[id]", method: "GET", errKind: "HTTPError",
			errorRow: "HTTPError('404 Client Error: Not Found for url: /missing?id=[id]')"},
		{name: "check keeps the status rule", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Get(ctx, "/boom", Check(func(r *Response) error { return r.StatusError() }))
		}, status: 500, body: "boom\n", row: "/boom", method: "GET", errKind: "HTTPError",
			errorRow: "HTTPError('500 Server Error: Internal Server Error for url: " + srv.URL + "/boom')"},
		{name: "too many redirects", do: func(ctx context.Context, c Client) (*Response, error) { return c.Get(ctx, "/loop") },
			row: "/loop", method: "GET", errKind: "TooManyRedirects"},
		{name: "no host", do: func(ctx context.Context, c Client) (*Response, error) { return c.Get(ctx, "/x") },
			row: "/x", method: "GET", errKind: "MissingSchema", base: "-"},
		{name: "timeout", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Get(ctx, "/slow", Timeout(50*time.Millisecond))
		}, row: "/slow", method: "GET", errKind: "Timeout"},
		{name: "connection refused", do: func(ctx context.Context, c Client) (*Response, error) {
			return c.Get(ctx, "http://127.0.0.1:1/x")
		}, row: "/x", method: "GET", errKind: "ConnectionError"},
	}
	clients := []struct {
		name string
		make func(base string, rec stats.Recorder) Client
	}{
		{"net/http", func(base string, rec stats.Recorder) Client { return newHTTPClient(base, newHTTPTransport(), rec) }},
		{"fasthttp", func(base string, rec stats.Recorder) Client { return newFastHTTPClient(base, rec) }},
		{"fasthttp-reused", func(base string, rec stats.Recorder) Client { return newReusingFastClient(base, rec) }},
	}
	for _, tt := range tests {
		for _, cl := range clients {
			t.Run(tt.name+"/"+cl.name, func(t *testing.T) {
				collector := stats.NewCollector()
				base := srv.URL
				if tt.base == "-" {
					base = ""
				}
				c := cl.make(base, collector.Recorder(1))
				resp, err := tt.do(context.Background(), c)
				if tt.errKind == "" {
					if err != nil {
						t.Fatalf("error %v, want none", err)
					}
				} else {
					var re *RequestError
					if !errors.As(err, &re) || re.Kind != tt.errKind {
						t.Fatalf("error %#v, want a RequestError of kind %s", err, tt.errKind)
					}
					if tt.errorRow != "" && re.LocustText() != tt.errorRow {
						t.Errorf("LocustText %q, want %q", re.LocustText(), tt.errorRow)
					}
				}
				if tt.status != 0 {
					if resp == nil {
						t.Fatal("no response")
					}
					if resp.StatusCode != tt.status || string(resp.Body) != tt.body {
						t.Errorf("response %d %q, want %d %q", resp.StatusCode, resp.Body, tt.status, tt.body)
					}
					if want := fmt.Sprintf("%d %s", tt.status, http.StatusText(tt.status)); resp.Status != want {
						t.Errorf("Status %q, want %q", resp.Status, want)
					}
					if resp.Header.Get("Content-Type") == "" || resp.URL == nil || resp.Elapsed <= 0 {
						t.Errorf("response header %v, URL %v, elapsed %v: want all set", resp.Header, resp.URL, resp.Elapsed)
					}
				}
				rep := collector.Report(time.Now())
				if len(rep.Entries) != 1 {
					t.Fatalf("rows %+v, want one", rep.Entries)
				}
				e := rep.Entries[0]
				wantFailures := int64(0)
				if tt.errKind != "" {
					wantFailures = 1
				}
				if e.Name != tt.row || e.Method != tt.method || e.NumRequests != 1 || e.NumFailures != wantFailures {
					t.Errorf("row %s %s requests %d failures %d, want %s %s 1 %d", e.Method, e.Name, e.NumRequests, e.NumFailures, tt.method, tt.row, wantFailures)
				}
				if tt.errorRow != "" && (len(rep.Errors) != 1 || rep.Errors[0].Text != tt.errorRow) {
					t.Errorf("errors %+v, want one %q", rep.Errors, tt.errorRow)
				}
			})
		}
	}
}

// TestClientsAgreeOnEdges covers what the two clients once did each their
// own way: the time a check sees, a request whose user is already
// stopping, a URL with no host.
func TestClientsAgreeOnEdges(t *testing.T) {
	srv, served := fastTestServer(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var checked time.Duration
	tests := []struct {
		name    string
		do      func(c Client) (*Response, error)
		row     string
		errKind string // "" for success
	}{
		{name: "check sees the recorded time", do: func(c Client) (*Response, error) {
			return c.Get(context.Background(), "/ok", Check(func(r *Response) error { checked = r.Elapsed; return nil }))
		}, row: "/ok"},
		{name: "stopping before sending", do: func(c Client) (*Response, error) {
			return c.Get(cancelled, srv.URL+"/ok?x=1")
		}, row: "/ok?x=1", errKind: kindRequestCancelled},
		{name: "no host in the URL", do: func(c Client) (*Response, error) { return c.Get(context.Background(), "http:///x") },
			row: "http:///x", errKind: "InvalidURL"},
	}
	clients := map[string]func(rec stats.Recorder) Client{
		"net/http":        func(rec stats.Recorder) Client { return newHTTPClient(srv.URL, newHTTPTransport(), rec) },
		"fasthttp":        func(rec stats.Recorder) Client { return newFastHTTPClient(srv.URL, rec) },
		"fasthttp-reused": func(rec stats.Recorder) Client { return newReusingFastClient(srv.URL, rec) },
	}
	for _, tt := range tests {
		for name, newClient := range clients {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				collector := stats.NewCollector()
				checked = 0
				before := served.Load()
				resp, err := tt.do(newClient(collector.Recorder(1)))
				var re *RequestError
				if errors.As(err, &re) != (tt.errKind != "") || re != nil && re.Kind != tt.errKind {
					t.Fatalf("error %v, want kind %q", err, tt.errKind)
				}
				if tt.errKind != "" && served.Load() != before {
					t.Errorf("the server got %d requests, want none", served.Load()-before)
				}
				if tt.errKind == "" && (checked <= 0 || checked != resp.Elapsed) {
					t.Errorf("check saw elapsed %s, response says %s: want the same, above 0", checked, resp.Elapsed)
				}
				rep := collector.Report(time.Now())
				if len(rep.Entries) != 1 || rep.Entries[0].Name != tt.row || rep.Entries[0].NumRequests != 1 {
					t.Errorf("rows %+v, want one request under %s", rep.Entries, tt.row)
				}
			})
		}
	}
}

// newReusingFastClient returns a fast client that reuses its responses.
func newReusingFastClient(base string, rec stats.Recorder) *FastHTTPClient {
	c := newFastHTTPClient(base, rec)
	c.SetReuseResponses(true)
	return c
}

// TestFastHTTPClientReusedResponses checks the rule of reused responses:
// one Response, overwritten by the next request with that request's
// status, header and body; a body limit still applies; requests that run
// at the same time each get a response of their own.
func TestFastHTTPClientReusedResponses(t *testing.T) {
	srv, _ := fastTestServer(t)
	ctx := context.Background()
	c := newReusingFastClient(srv.URL, stats.NewCollector().Recorder(1))
	first, err := c.Get(ctx, "/ok")
	if err != nil || first.Text() != "hello" || first.Header.Get("X-Method") != "GET" {
		t.Fatalf("first response %v, %v: want hello with X-Method GET", first, err)
	}
	second, err := c.Request(ctx, http.MethodPut, "/ok", nil)
	if err != nil || second != first {
		t.Fatalf("second response %p, %v: want the first one (%p) reused", second, err, first)
	}
	if second.Header.Get("X-Method") != "PUT" || second.Text() != "hello" {
		t.Errorf("second response has X-Method %q, body %q: want PUT, hello", second.Header.Get("X-Method"), second.Text())
	}
	third, _ := c.Get(ctx, "/missing")
	if third.StatusCode != http.StatusNotFound || third.Header.Get("X-Method") != "" || third.Text() != "404 page not found\n" {
		t.Errorf("third response %d %q, X-Method %q: want 404 and no X-Method", third.StatusCode, third.Text(), third.Header.Get("X-Method"))
	}
	var re *RequestError
	if _, err := c.Get(ctx, "/ok", MaxBodySize(3)); !errors.As(err, &re) || re.Kind != kindResponseTooLarge {
		t.Errorf("a body over its limit gave %v, want a %s failure", err, kindResponseTooLarge)
	}

	// Each request checks, while it runs, that its response is its own.
	const goroutines, each = 4, 50
	var wrong atomic.Int64
	done := make(chan struct{})
	for g := range goroutines {
		go func() {
			defer func() { done <- struct{}{} }()
			path, want := "/ok", "hello"
			if g%2 == 1 {
				path, want = "/echo?g=1", "GET /echo?g=1   "
			}
			for range each {
				c.Get(ctx, path, Check(func(r *Response) error {
					if r.Text() != want {
						wrong.Add(1)
					}
					return nil
				}))
			}
		}()
	}
	for range goroutines {
		<-done
	}
	if wrong.Load() != 0 {
		t.Errorf("%d concurrent requests saw another request's response", wrong.Load())
	}
}

// TestFastHTTPClientRequestSequence makes one client of each mode send a
// sequence of unlike requests, each right after another: a client that
// reuses its responses also keeps its request for the next plain one
// (fastSent), so nothing of a request (a header, a body, HEAD, a
// redirect's hop, cookies) may leak into the next. Each request reaches
// the server once.
func TestFastHTTPClientRequestSequence(t *testing.T) {
	srv, served := fastTestServer(t)
	get := func(path string, opts ...RequestOption) func(ctx context.Context, c *FastHTTPClient) (*Response, error) {
		return func(ctx context.Context, c *FastHTTPClient) (*Response, error) { return c.Get(ctx, path, opts...) }
	}
	steps := []struct {
		do   func(ctx context.Context, c *FastHTTPClient) (*Response, error)
		body string
	}{
		{get("/echo?a=1"), "GET /echo?a=1   "},
		{get("/echo?a=1"), "GET /echo?a=1   "},
		{get("/echo?a=1", Header("X-Token", "t")), "GET /echo?a=1  t "},
		{get("/echo?a=1"), "GET /echo?a=1   "},
		{get("/echo?a=1", Name("/echo?a=[a]")), "GET /echo?a=1   "},
		{func(ctx context.Context, c *FastHTTPClient) (*Response, error) {
			return c.Request(ctx, http.MethodHead, "/ok", nil)
		}, ""},
		{get("/ok"), "hello"},
		{func(ctx context.Context, c *FastHTTPClient) (*Response, error) {
			return c.Post(ctx, "/echo", "text/plain", []byte("data"))
		}, "POST /echo text/plain  data"},
		{get("/echo"), "GET /echo   "},
		{get("/redirect"), "GET /echo?from=redirect   "},
		{get("/redirect"), "GET /echo?from=redirect   "},
		{get("/echo?a=1"), "GET /echo?a=1   "},
		{get(srv.URL + "/echo?abs"), "GET /echo?abs   "},
		{get("/echo?a=1"), "GET /echo?a=1   "},
		{get("/login?who=ann"), "logged in"},
		{get("/whoami"), "ann"},
		{get("/whoami"), "ann"},
	}
	const hops = 2 // the redirects' first hops
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprint("reuse=", reuse), func(t *testing.T) {
			collector := stats.NewCollector()
			c := newFastHTTPClient(srv.URL, collector.Recorder(1))
			c.SetReuseResponses(reuse)
			ctx := context.Background()
			before := served.Load()
			for i, s := range steps {
				r, err := s.do(ctx, c)
				if err != nil || r.StatusCode != http.StatusOK || string(r.Body) != s.body {
					t.Fatalf("step %d: %v, %v; want 200 %q", i, r, err, s.body)
				}
			}
			if n := served.Load() - before; n != int64(len(steps)+hops) {
				t.Errorf("the server got %d requests, want %d", n, len(steps)+hops)
			}
			if rep := collector.Report(time.Now()); rep.Total.NumRequests != int64(len(steps)) {
				t.Errorf("recorded %d requests, want %d", rep.Total.NumRequests, len(steps))
			}
		})
	}
}

// TestFastHTTPClientKeepsResponses: a Response of a client that does not
// reuse its responses, and the last Response of a client that rested
// (its user waits long), are the caller's to keep: later requests of the
// same client change nothing in them.
func TestFastHTTPClientKeepsResponses(t *testing.T) {
	srv, _ := fastTestServer(t)
	ctx := context.Background()
	t.Run("reuse off", func(t *testing.T) {
		c := newFastHTTPClient(srv.URL, stats.NewCollector().Recorder(1))
		c.SetReuseResponses(false)
		first, err := c.Get(ctx, "/header?v=one")
		if err != nil {
			t.Fatal(err)
		}
		checkKept(t, c, first)
	})
	t.Run("rested", func(t *testing.T) {
		c := newFastHTTPClient(srv.URL, stats.NewCollector().Recorder(1))
		if _, err := c.Get(ctx, "/header?v=zero"); err != nil {
			t.Fatal(err)
		}
		first, err := c.Get(ctx, "/header?v=one")
		if err != nil {
			t.Fatal(err)
		}
		c.rest()
		if c.reuse.Load() != nil {
			t.Fatal("the client kept its reused memory after rest")
		}
		checkKept(t, c, first)
	})
}

// checkKept makes more requests with c and checks that first, a response
// to GET /header?v=one, stays as it was.
func checkKept(t *testing.T, c *FastHTTPClient, first *Response) {
	t.Helper()
	ctx := context.Background()
	header := first.Header.Clone()
	for range 3 {
		second, err := c.Get(ctx, "/header?v=two")
		c.rest() // the memory that a rested client takes back from the pool is never first's
		if err != nil || second == first || second.Header.Get("X-Value") != "two" {
			t.Fatalf("second response %p, %v, X-Value %q: want a new one with two", second, err, second.Header.Get("X-Value"))
		}
	}
	if first.Text() != "one" || first.Header.Get("X-Value") != "one" || first.URL.RawQuery != "v=one" ||
		first.StatusCode != http.StatusOK || fmt.Sprint(first.Header) != fmt.Sprint(header) {
		t.Errorf("the kept response changed: %d %q, header %v (was %v), URL %v",
			first.StatusCode, first.Body, first.Header, header, first.URL)
	}
}

// TestFastHTTPClientReusedHeader: a reused Response's Header holds the
// last response's header, whatever the caller did to it: the same names
// with new values, or other names, and a Header the caller changed is
// made anew.
func TestFastHTTPClientReusedHeader(t *testing.T) {
	srv, _ := fastTestServer(t)
	ctx := context.Background()
	c := newReusingFastClient(srv.URL, stats.NewCollector().Recorder(1))
	get := func(path, want string) *Response {
		t.Helper()
		r, err := c.Get(ctx, path, Check(func(*Response) error { return nil }))
		if err != nil || r.Header.Get("X-Value") != want || r.Header.Get("Content-Type") == "" {
			t.Fatalf("%s: %v, %v; want X-Value %q and a Content-Type", path, r, err, want)
		}
		return r
	}
	changes := []struct {
		what   string
		change func(h http.Header)
	}{
		{"nothing", func(http.Header) {}},
		{"a value written in place", func(h http.Header) { h["X-Value"][0] = "mine" }},
		{"a value set", func(h http.Header) { h.Set("X-Value", "mine") }},
		{"a value added", func(h http.Header) { h.Add("X-Value", "mine") }},
		{"a name deleted", func(h http.Header) { h.Del("Content-Type") }},
		{"a name added", func(h http.Header) { h.Set("X-Mine", "1") }},
	}
	for i, ch := range changes {
		v := fmt.Sprint(i)
		ch.change(get("/header?v=a"+v, "a"+v).Header)
		r := get("/header?v=b"+v, "b"+v)
		if len(r.Header["X-Value"]) != 1 || r.Header.Get("X-Mine") != "" {
			t.Errorf("after %s, the next header is %v", ch.what, r.Header)
		}
	}
	if r := get("/missing", ""); r.StatusCode != http.StatusNotFound || len(r.Header["X-Value"]) != 0 {
		t.Errorf("a response with other names has header %v", r.Header)
	}
	get("/header?v=c", "c")
}

// TestKeptConnStartRequest: the transport begins a request at the time it
// knows (never before the connection was made) and sets a request's own
// deadline only when it changes.
func TestKeptConnStartRequest(t *testing.T) {
	dc := &deadlineConn{}
	c := newKeptConn(dc, nil, nil)
	born := c.born
	if err := c.startRequest(born.Add(-time.Hour), time.Time{}); err != nil || !c.started.Equal(born) || dc.sets != 2 {
		t.Fatalf("first request: %v, started %v, %d deadlines set; want it begun when the connection was made (%v), its bound set",
			err, c.started, dc.sets, born)
	}
	own := born.Add(time.Second)
	steps := []struct {
		now, deadline time.Time
		sets          int // deadlines set
	}{
		{born.Add(time.Millisecond), time.Time{}, 0},
		{born.Add(2 * time.Millisecond), own, 2},
		{born.Add(3 * time.Millisecond), own, 0},
		{born.Add(4 * time.Millisecond), time.Time{}, 2},
	}
	for i, s := range steps {
		c.answered = true // its response came
		before := dc.sets
		if err := c.startRequest(s.now, s.deadline); err != nil || !c.started.Equal(s.now) || dc.sets-before != s.sets {
			t.Errorf("step %d: %v, started %v, %d deadlines set; want started %v, %d set", i, err, c.started, dc.sets-before, s.now, s.sets)
		}
	}
	if !dc.read.Equal(c.bound) || !dc.write.Equal(c.bound) {
		t.Errorf("deadlines read %v, write %v; want the bound %v", dc.read, dc.write, c.bound)
	}
}

// TestStartClock: a start is the wall clock read last plus the monotonic
// time since, until that read is clockRefresh old; then the clock reads
// the wall clock again.
func TestStartClock(t *testing.T) {
	var c startClock
	first := c.now()
	if b := c.base.Load(); b == nil || !b.Equal(first) {
		t.Fatalf("the first start %v is not the wall clock read (%v)", first, b)
	}
	recent := time.Now().Add(-clockRefresh / 2) // keeps its monotonic reading
	c.base.Store(&recent)
	before := time.Now()
	got := c.now()
	if c.base.Load() != &recent || got.Before(before) || got.After(time.Now()) {
		t.Errorf("with a read %v old, start %v, base %v; want the base kept and a start within [%v, now]",
			clockRefresh/2, got, c.base.Load(), before)
	}
	old := time.Now().Add(-clockRefresh)
	c.base.Store(&old)
	if got := c.now(); c.base.Load() == &old || !c.base.Load().Equal(got) {
		t.Errorf("with a read %v old, start %v, base %v; want the wall clock read again", clockRefresh, got, c.base.Load())
	}
	if (*startClock)(nil).now().IsZero() {
		t.Error("a nil clock gives no time")
	}
}

// TestFastHTTPClientCookiesPerUser checks that each user's client keeps its
// own cookies.
func TestFastHTTPClientCookiesPerUser(t *testing.T) {
	srv, _ := fastTestServer(t)
	ctx := context.Background()
	collector := stats.NewCollector()
	alice := newFastHTTPClient(srv.URL, collector.Recorder(1))
	bob := newFastHTTPClient(srv.URL, collector.Recorder(2))
	if _, err := alice.Get(ctx, "/whoami"); err == nil {
		t.Fatal("whoami without a session succeeded")
	}
	for _, c := range []struct {
		client *FastHTTPClient
		who    string
	}{{alice, "alice"}, {bob, "bob"}} {
		if _, err := c.client.Get(ctx, "/login?who="+c.who); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		client *FastHTTPClient
		who    string
	}{{alice, "alice"}, {bob, "bob"}, {alice, "alice"}} {
		r, err := c.client.Get(ctx, "/whoami")
		if err != nil {
			t.Fatal(err)
		}
		if r.Text() != c.who {
			t.Errorf("whoami = %q, want %q", r.Text(), c.who)
		}
	}
	// A cookie put in the jar from outside is sent too.
	carol := newFastHTTPClient(srv.URL, collector.Recorder(3))
	u, _ := url.Parse(srv.URL)
	carol.Jar().SetCookies(u, []*http.Cookie{{Name: "session", Value: "carol"}})
	if r, err := carol.Get(ctx, "/whoami"); err != nil || r.Text() != "carol" {
		t.Errorf("whoami with a jar cookie = %v, %v; want carol", r, err)
	}
	if got := len(carol.Jar().Cookies(u)); got != 1 {
		t.Errorf("jar holds %d cookies, want 1", got)
	}
}

// TestFastHTTPUserInPool runs FastHTTPUsers through the runtime's pool and
// compares what they recorded with what the server served.
func TestFastHTTPUserInPool(t *testing.T) {
	srv, served := fastTestServer(t)
	collector := stats.NewCollector()
	var done, ids atomic.Int64
	const users, perUser = 5, 20
	finished := make(chan struct{}, users)
	class := Class("Fast", func() *fastPoolUser { return &fastPoolUser{n: perUser, ids: &ids, done: &done, finished: finished} })
	classes, err := validateClasses([]*UserClass{class})
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(classes, collector, slog.New(slog.DiscardHandler), nil)
	p.configure(srv.URL, 0, tagFilter{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p.setTarget(ctx, map[string]int64{"Fast": users})
	for range users {
		select {
		case <-finished:
		case <-ctx.Done():
			t.Fatal("users did not finish")
		}
	}
	p.stopAll(ctx)
	waitPool(t, p)
	rep := collector.Report(time.Now())
	if rep.Total.NumRequests != users*(perUser+1) || rep.Total.NumFailures != 0 {
		t.Errorf("recorded %d requests, %d failures; want %d, 0", rep.Total.NumRequests, rep.Total.NumFailures, users*(perUser+1))
	}
	if served.Load() != rep.Total.NumRequests {
		t.Errorf("server served %d, users recorded %d", served.Load(), rep.Total.NumRequests)
	}
	if done.Load() != users*perUser {
		t.Errorf("%d whoami answers matched the user's own login, want %d", done.Load(), users*perUser)
	}
}

type fastPoolUser struct {
	FastHTTPUser
	n        int
	who      string
	ids      *atomic.Int64
	done     *atomic.Int64
	finished chan<- struct{}
}

func (u *fastPoolUser) OnStart(ctx context.Context) error {
	u.who = fmt.Sprintf("u%d", u.ids.Add(1))
	_, err := u.Client.Get(ctx, "/login?who="+u.who)
	return err
}

func (u *fastPoolUser) Tasks() []Task {
	return []Task{{Name: "whoami", Run: func(ctx context.Context) error {
		if u.n == 0 {
			<-ctx.Done()
			return ctx.Err()
		}
		r, err := u.Client.Get(ctx, "/whoami", Name("/whoami"))
		if err != nil {
			return err
		}
		if r.Text() == u.who {
			u.done.Add(1)
		}
		u.n--
		if u.n == 0 {
			u.finished <- struct{}{}
		}
		return nil
	}}}
}

// fastShopper is a user on the fast client: the tasks are written exactly
// as for HTTPUser.
type fastShopper struct {
	FastHTTPUser
}

func (u *fastShopper) Tasks() []Task {
	return []Task{{Name: "browse", Run: func(ctx context.Context) error {
		_, err := u.Client.Get(ctx, "/item?id=7", Name("/item?id=[id]"))
		return err
	}}}
}

// Embed FastHTTPUser instead of HTTPUser to make each request cost less
// CPU; requests are recorded the same way, and cookies are kept per user.
func ExampleFastHTTPUser() {
	Main(Class("Shopper", func() *fastShopper { return &fastShopper{} }))
}

// pagingUser follows a paged listing: it keeps the next page's link, a
// string, from one request to the next, never the Response itself.
type pagingUser struct {
	FastHTTPUser
	next string // the next page's path: a string stays valid
}

func (u *pagingUser) Tasks() []Task {
	return []Task{{Name: "page", Run: func(ctx context.Context) error {
		if u.next == "" {
			u.next = "/items?page=1"
		}
		r, err := u.Client.Get(ctx, u.next, Name("/items"))
		if err != nil {
			return err
		}
		// r, r.Body and r.Header's value lists are reused by the user's
		// next request; strings taken from them are the user's.
		u.next = r.Header.Get("X-Next-Page")
		return nil
	}}}
}

// keepingUser keeps whole responses (to compare two of them, say), so its
// client makes a new Response for each request.
type keepingUser struct {
	FastHTTPUser
	last *Response
}

func (u *keepingUser) OnStart(context.Context) error {
	u.Client.SetReuseResponses(false)
	return nil
}

func (u *keepingUser) Tasks() []Task {
	return []Task{{Name: "price", Run: func(ctx context.Context) error {
		r, err := u.Client.Get(ctx, "/price")
		if err != nil {
			return err
		}
		if u.last != nil && !bytes.Equal(u.last.Body, r.Body) {
			Record(ctx, "CHECK", "price changed", 0, 0, nil)
		}
		u.last = r // kept: this client makes a new Response each time
		return nil
	}}}
}

// A FastHTTPUser's Response is valid until the user's next request, as a
// fasthttp.Response is: copy what must outlive it (strings do), or tell
// the client to keep every Response, at the cost of about five
// allocations a request.
func ExampleFastHTTPClient_SetReuseResponses() {
	Main(
		Class("Pager", func() *pagingUser { return &pagingUser{} }),
		Class("Keeper", func() *keepingUser { return &keepingUser{} }),
	)
}

// restUser makes a request in each task and tells, from its second task
// on, whether its client still held its reused memory when the task
// began: whether it kept it through the wait before.
type restUser struct {
	FastHTTPUser
	tasks int
	held  chan<- bool
}

func (u *restUser) Tasks() []Task {
	return []Task{{Name: "get", Run: func(ctx context.Context) error {
		if u.tasks++; u.tasks > 1 {
			select {
			case u.held <- u.Client.reuse.Load() != nil:
			default: // the test has its answer
			}
		}
		_, err := u.Client.Get(ctx, "/ok")
		return err
	}}}
}

// TestFastHTTPUserRestsWhenItWaits: a user that waits restAfter or more
// between tasks gives its client's reused memory back before the wait,
// and a user that waits less keeps it.
func TestFastHTTPUserRestsWhenItWaits(t *testing.T) {
	srv, _ := fastTestServer(t)
	for _, tt := range []struct {
		wait time.Duration
		held bool
	}{{restAfter, false}, {10 * time.Millisecond, true}} {
		t.Run(tt.wait.String(), func(t *testing.T) {
			held := make(chan bool, 1)
			class := Class("Rest", func() *restUser { return &restUser{held: held} }).Wait(Constant(tt.wait))
			tp := newTestPool(t, class)
			tp.configure(srv.URL, 0, tagFilter{})
			tp.setTarget(context.Background(), map[string]int64{"Rest": 1})
			select {
			case got := <-held:
				if got != tt.held {
					t.Errorf("after a wait of %s the client held its reused memory: %t, want %t", tt.wait, got, tt.held)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the user's second task did not begin within 10 s")
			}
		})
	}
}

// TestFastHTTPClientRestBeforeClaim: a rest between a request's look at
// the client's reused memory and its claim of it (another goroutine of
// the user requesting while the user loop rests) leaves the request
// without it, so the memory in the pool is never also a request's.
func TestFastHTTPClientRestBeforeClaim(t *testing.T) {
	srv, _ := fastTestServer(t)
	a := newFastClient(srv.URL, stats.NewCollector().Recorder(1), &connections{}, false)
	if _, err := a.Get(context.Background(), "/ok"); err != nil {
		t.Fatal(err)
	}
	r := a.reused() // the request's look
	a.rest()        // the user loop, before a long wait
	if a.claim(r) {
		t.Fatal("the request claimed memory its client had given to the pool")
	}
	if r.busy.Load() {
		t.Error("a failed claim left the memory busy")
	}
}

// TestFastHTTPClientTrimsLargeRequests: a request over reuseRequestMax
// (a long URL, large header options) leaves no memory of its size with
// the client; small ones keep theirs, which is what makes them free.
func TestFastHTTPClientTrimsLargeRequests(t *testing.T) {
	srv, _ := fastTestServer(t)
	ctx := context.Background()
	long := "/ok?q=" + strings.Repeat("x", 2*reuseRequestMax)
	for _, tt := range []struct {
		name string
		get  func(c *FastHTTPClient) (*Response, error)
	}{
		{"long URL", func(c *FastHTTPClient) (*Response, error) { return c.Get(ctx, long) }},
		{"large header", func(c *FastHTTPClient) (*Response, error) {
			return c.Get(ctx, "/ok", Header("X-Big", strings.Repeat("y", 2*reuseRequestMax)))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newFastHTTPClient(srv.URL, stats.NewCollector().Recorder(1))
			if r, err := tt.get(c); err != nil || r.StatusCode != http.StatusOK {
				t.Fatalf("%v, %v", r, err)
			}
			r := c.reuse.Load()
			if n := cap(r.call.wireBuf.b); n > reuseRequestMax {
				t.Errorf("the client keeps %d bytes of the request's wire form", n)
			}
			if n := len(r.req.Header.RequestURI()) + len(r.req.Header.Peek("X-Big")); n > 1 {
				t.Errorf("the client keeps the large request (URI and header: %d bytes)", n)
			}
			if _, err := c.Get(ctx, "/ok"); err != nil {
				t.Fatal(err)
			}
			if n := len(r.req.Header.RequestURI()); n == 0 || r.big {
				t.Errorf("a small request after it is not kept (URI %d bytes, big %t)", n, r.big)
			}
		})
	}
}

// TestFastResponseURLAfterReuse: a reused client's response URL follows
// each request's path and its own base, also when a rest hands its
// memory to a client of another base.
func TestFastResponseURLAfterReuse(t *testing.T) {
	srv := startFastServer(t)
	conns := &connections{}
	a := newFastClient(srv+"/a", stats.NewCollector().Recorder(1), conns, false)
	b := newFastClient(srv+"/b", stats.NewCollector().Recorder(2), conns, false)
	ctx := context.Background()
	for _, step := range []struct {
		c    *FastHTTPClient
		path string
		want string
	}{
		{a, "/x?q=1", "/a/x"}, {a, "/x", "/a/x"}, {a, "/y%20z", "/a/y%20z"}, {a, "/x", "/a/x"},
		{b, "/x", "/b/x"}, {a, "/x", "/a/x"},
	} {
		r, err := step.c.Get(ctx, step.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.URL.EscapedPath(); got != step.want {
			t.Errorf("GET %s from %s: URL path %q, want %q", step.path, step.c.Base(), got, step.want)
		}
		step.c.rest()
	}
}

// answeringConn is a connection to a server that runs as a goroutine of
// its own: a request written makes the server runnable, and it answers
// when it runs. A Read that comes before the answer counts as a miss
// (on a socket: a read system call that finds nothing, and a park) and
// then waits for it.
type answeringConn struct {
	cannedConn
	requests chan struct{} // a request was written
	answers  chan struct{} // the server answered it
	misses   atomic.Int64
	closing  sync.Once
}

func newAnsweringConn() *answeringConn {
	c := &answeringConn{cannedConn: *newCannedConn(), requests: make(chan struct{}, 1), answers: make(chan struct{}, 1)}
	go func() {
		for range c.requests {
			c.answers <- struct{}{}
		}
	}()
	return c
}

func (c *answeringConn) Write(p []byte) (int, error) {
	c.requests <- struct{}{}
	return c.cannedConn.Write(p)
}

func (c *answeringConn) Read(p []byte) (int, error) {
	if c.off == 0 { // the first read of a response
		select {
		case <-c.answers:
		default:
			c.misses.Add(1)
			<-c.answers
		}
	}
	return c.cannedConn.Read(p)
}

func (c *answeringConn) Close() error {
	c.closing.Do(func() { close(c.requests) })
	return nil
}

// TestFastClientReadsAnsweredResponses: between writing a request and
// reading its response the fast client lets the goroutines waiting to
// run have their turn when the process's threads are crowded (keptConn),
// so that on one thread a server that became runnable by the request
// has answered before the client reads. When they are not crowded it
// reads at once, and misses.
func TestFastClientReadsAnsweredResponses(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const requests = 100
	for _, tc := range []struct {
		crowded          bool
		minMiss, maxMiss int64
	}{
		// Once in 61 turns Go's scheduler takes the yielding goroutine
		// back before the others (it looks at the global queue first then).
		{crowded: true, minMiss: 0, maxMiss: requests / 10},
		{crowded: false, minMiss: requests, maxMiss: requests},
	} {
		var conn *answeringConn
		conns := &connections{dial: func(context.Context, string, string) (net.Conn, error) {
			conn = newAnsweringConn()
			return conn, nil
		}}
		// The watcher's samples say tc.crowded from the start, and a
		// request held in flight keeps it from forgetting them between
		// the client's requests.
		conns.inflight.crowded.sample = func() bool { return tc.crowded }
		conns.inflight.crowded.now.Store(tc.crowded)
		conns.inflight.crowded.last = tc.crowded
		held := &fastWatch{ctx: context.Background()}
		conns.inflight.add(held, 0)
		c := newFastClient("http://127.0.0.1:80", stats.NewCollector().Recorder(1), conns, true)
		for i := range requests {
			if r, err := c.Get(context.Background(), "/"); err != nil || r.StatusCode != 200 {
				t.Fatalf("crowded %v, request %d: %v", tc.crowded, i, err)
			}
		}
		c.close()
		conns.inflight.remove(held, 0)
		if misses := conn.misses.Load(); misses < tc.minMiss || misses > tc.maxMiss {
			t.Errorf("crowded %v: %d of %d reads came before the server's answer; want %d to %d",
				tc.crowded, misses, requests, tc.minMiss, tc.maxMiss)
		}
	}
}
