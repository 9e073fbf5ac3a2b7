package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/stats"
)

// testServer answers the paths the client tests use.
func testServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") })
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/boom", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	mux.HandleFunc("/item/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "item") })
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/new?x=1", http.StatusFound) })
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "new page") })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "s1", Path: "/"})
	})
	mux.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("session"); err != nil || c.Value != "s1" {
			http.Error(w, "login first", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "you")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestHTTPClient checks what each kind of request records: the row name,
// success or failure, and the failure text as Locust would show it.
func TestHTTPClient(t *testing.T) {
	srv := testServer(t)
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	tests := []struct {
		name     string
		base     string
		method   string
		path     string
		opts     []RequestOption
		wantRow  string
		wantText string // "" for a success; else a prefix of the failure text
		wantCode int
	}{
		{name: "ok", path: "/ok", wantRow: "/ok", wantCode: 200},
		{name: "query kept in name", path: "/ok?a=1", wantRow: "/ok?a=1", wantCode: 200},
		{name: "404", path: "/missing", wantRow: "/missing", wantCode: 404,
			wantText: "HTTPError('404 Client Error: Not Found for url: " + srv.URL + "/missing')"},
		{name: "500", path: "/boom", wantRow: "/boom", wantCode: 500,
			wantText: "HTTPError('500 Server Error: Internal Server Error for url: " + srv.URL + "/boom')"},
		{name: "name groups", path: "/item/42", opts: []RequestOption{Name("/item/[id]")}, wantRow: "/item/[id]", wantCode: 200},
		{name: "name in error url", path: "/missing", opts: []RequestOption{Name("/m/[x]")}, wantRow: "/m/[x]", wantCode: 404,
			wantText: "HTTPError('404 Client Error: Not Found for url: /m/[x]')"},
		{name: "check fails a 200", path: "/ok", wantRow: "/ok", wantCode: 200,
			opts:     []RequestOption{Check(func(r *Response) error { return errors.New("no greeting for Bob") })},
			wantText: "CatchResponseError('no greeting for Bob')"},
		{name: "check passes a 404", path: "/missing", wantRow: "/missing", wantCode: 404,
			opts: []RequestOption{Check(func(r *Response) error {
				if r.StatusCode == 404 {
					return nil
				}
				return r.StatusError()
			})}},
		{name: "check keeps the status rule", path: "/boom", wantRow: "/boom", wantCode: 500,
			opts:     []RequestOption{Check(func(r *Response) error { return r.StatusError() })},
			wantText: "HTTPError('500 Server Error"},
		{name: "check panics", path: "/ok", wantRow: "/ok", wantCode: 200,
			opts:     []RequestOption{Check(func(r *Response) error { panic("oops") })},
			wantText: "CatchResponseError('panic in check: oops')"},
		{name: "redirect keeps first path", path: "/old", wantRow: "/old", wantCode: 200},
		{name: "redirect loop", path: "/loop", wantRow: "/loop", wantText: "TooManyRedirects("},
		{name: "post", method: "POST", path: "/ok", wantRow: "/ok", wantCode: 200},
		{name: "timeout", path: "/slow", opts: []RequestOption{Timeout(100 * time.Millisecond)}, wantRow: "/slow", wantText: "Timeout("},
		{name: "connection refused", base: refused, path: "/x", wantRow: "/x", wantText: "ConnectionError("},
		{name: "no host", base: "-", path: "/x", wantRow: "/x", wantText: "MissingSchema("},
		{name: "absolute url", base: "-", path: srv.URL + "/ok", wantRow: "/ok", wantCode: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := srv.URL
			switch tt.base {
			case "-":
				base = ""
			case "":
			default:
				base = tt.base
			}
			col := stats.NewCollector()
			c := newHTTPClient(base, newHTTPTransport(), col.Recorder(1))
			method := tt.method
			if method == "" {
				method = http.MethodGet
			}
			resp, err := c.Request(context.Background(), method, tt.path, nil, tt.opts...)
			if tt.wantCode != 0 && (resp == nil || resp.StatusCode != tt.wantCode) {
				t.Errorf("response %+v, want status %d", resp, tt.wantCode)
			}
			if (err != nil) != (tt.wantText != "") {
				t.Errorf("error %v, want failure %v", err, tt.wantText != "")
			}
			if err != nil && !isRecorded(err) {
				t.Errorf("error %v is not marked as recorded", err)
			}
			r := col.Report(time.Now())
			if len(r.Entries) != 1 {
				t.Fatalf("rows %+v, want one", r.Entries)
			}
			e := r.Entries[0]
			if e.Name != tt.wantRow || e.Method != method || e.NumRequests != 1 {
				t.Errorf("row %s %s with %d requests, want %s %s with 1", e.Method, e.Name, e.NumRequests, method, tt.wantRow)
			}
			if tt.wantText == "" {
				if e.NumFailures != 0 || len(r.Errors) != 0 {
					t.Errorf("failures %d %+v, want none", e.NumFailures, r.Errors)
				}
				return
			}
			if e.NumFailures != 1 || len(r.Errors) != 1 {
				t.Fatalf("failures %d %+v, want one", e.NumFailures, r.Errors)
			}
			if got := r.Errors[0].Text; !strings.HasPrefix(got, tt.wantText) {
				t.Errorf("failure text %q, want it to start with %q", got, tt.wantText)
			}
		})
	}
}

// TestHTTPClientRedirectResponse checks the response after a redirect.
func TestHTTPClientRedirectResponse(t *testing.T) {
	srv := testServer(t)
	col := stats.NewCollector()
	c := newHTTPClient(srv.URL, newHTTPTransport(), col.Recorder(1))
	resp, err := c.Get(context.Background(), "/old")
	if err != nil {
		t.Fatal(err)
	}
	if resp.URL.Path != "/new" || resp.Text() != "new page" || resp.Elapsed <= 0 {
		t.Errorf("after the redirect: url %s, body %q, elapsed %s", resp.URL, resp.Text(), resp.Elapsed)
	}
}

// TestHTTPClientCookies checks that each client keeps its own cookies.
func TestHTTPClientCookies(t *testing.T) {
	srv := testServer(t)
	col := stats.NewCollector()
	transport := newHTTPTransport()
	alice := newHTTPClient(srv.URL, transport, col.Recorder(1))
	bob := newHTTPClient(srv.URL, transport, col.Recorder(2))
	ctx := context.Background()
	if _, err := alice.Post(ctx, "/login", "text/plain", nil); err != nil {
		t.Fatal(err)
	}
	if r, err := alice.Get(ctx, "/me"); err != nil || r.Text() != "you" {
		t.Errorf("alice after login: %v", err)
	}
	if _, err := bob.Get(ctx, "/me"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("bob never logged in but got %v", err)
	}
}

// TestHTTPClientSetTimeout checks the client-wide timeout.
func TestHTTPClientSetTimeout(t *testing.T) {
	srv := testServer(t)
	c := newHTTPClient(srv.URL, newHTTPTransport(), stats.NewCollector().Recorder(1))
	c.SetTimeout(50 * time.Millisecond)
	start := time.Now()
	_, err := c.Get(context.Background(), "/slow")
	var re *RequestError
	if !errors.As(err, &re) || re.Kind != "Timeout" {
		t.Fatalf("error %v, want a Timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timed out after %s", d)
	}
}

// TestStopCancelsRequest stops a user in the middle of a slow request
// under a short stop timeout: the request is recorded as a failure that
// says why, not dropped.
func TestStopCancelsRequest(t *testing.T) {
	srv := testServer(t)
	sent := make(chan struct{})
	class := Class("Slow", func() *funcUser {
		return &funcUser{tasks: func(u *funcUser) []Task {
			return []Task{{Name: "slow", Run: func(ctx context.Context) error {
				close(sent)
				_, err := u.Client.Get(ctx, "/slow")
				return err
			}}}
		}}
	})
	tp := newTestPool(t, class)
	tp.configure(srv.URL, 200*time.Millisecond, tagFilter{})
	tp.setTarget(context.Background(), map[string]int64{"Slow": 1})
	waitFor(t, sent, "the request")
	tp.stopAll(context.Background())
	r := tp.collector.Report(time.Now())
	if len(r.Entries) != 1 || r.Entries[0].NumFailures != 1 || len(r.Errors) != 1 {
		t.Fatalf("rows %+v errors %+v, want one failed request", r.Entries, r.Errors)
	}
	if text := r.Errors[0].Text; !strings.HasPrefix(text, "RequestCancelled('request cancelled because the user is stopping") {
		t.Errorf("failure text %q", text)
	}
	if errs := tp.exceptions(); len(errs) > 0 {
		t.Errorf("exceptions %v", errs)
	}
}

// TestRecord checks Record for other protocols, called from a user's task
// with the context the task gets: a failure it returns is recorded once,
// not reported again as an exception.
func TestRecord(t *testing.T) {
	cause := errors.New("connection reset")
	returned := make(chan [2]error, 1)
	class := Class("Raw", func() *funcUser {
		return &funcUser{tasks: func(u *funcUser) []Task {
			return []Task{{Name: "raw", Run: func(ctx context.Context) error {
				ok := Record(ctx, "tcp", "echo", 3*time.Millisecond, 5, nil)
				failed := Record(ctx, "tcp", "echo", time.Millisecond, 0, cause)
				returned <- [2]error{ok, failed}
				return failed
			}}}
		}}
	}).Wait(Constant(time.Hour))
	tp := newTestPool(t, class)
	tp.setTarget(context.Background(), map[string]int64{"Raw": 1})
	var errs [2]error
	select {
	case errs = <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not run")
	}
	tp.stopAll(context.Background())
	if errs[0] != nil {
		t.Errorf("success returned %v", errs[0])
	}
	if !errors.Is(errs[1], cause) || !isRecorded(errs[1]) {
		t.Errorf("failure returned %v", errs[1])
	}
	if excs := tp.exceptions(); len(excs) > 0 {
		t.Errorf("exceptions %q: the recorded failure was reported again", excs)
	}
	if err := Record(context.Background(), "tcp", "lost", time.Millisecond, 0, nil); err != nil {
		t.Errorf("outside a user: %v", err)
	}
	r := tp.collector.Report(time.Now())
	if len(r.Entries) != 1 || r.Entries[0].NumRequests != 2 || r.Entries[0].NumFailures != 1 || r.Entries[0].TotalContentLength != 5 {
		t.Fatalf("rows %+v", r.Entries)
	}
	if len(r.Errors) != 1 || r.Errors[0].Text != "connection reset" {
		t.Errorf("errors %+v", r.Errors)
	}
}

// TestHostPrecedence checks where a user's client points: the master's
// host or --host when given, else the class's own Host.
func TestHostPrecedence(t *testing.T) {
	classSrv, runSrv := testServer(t), testServer(t)
	tests := []struct {
		name, runHost, want string
	}{
		{"class host", "", classSrv.URL},
		{"run host wins", runSrv.URL, runSrv.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bases := make(chan string, 1)
			class := Class("Hosted", func() *funcUser {
				return &funcUser{tasks: func(u *funcUser) []Task {
					return []Task{{Name: "x", Run: func(context.Context) error {
						select {
						case bases <- u.Client.Base():
						default:
						}
						return ErrStopUser
					}}}
				}}
			}).Host(classSrv.URL + "/")
			tp := newTestPool(t, class)
			tp.configure(tt.runHost, 0, tagFilter{})
			tp.setTarget(context.Background(), map[string]int64{"Hosted": 1})
			select {
			case got := <-bases:
				if got != tt.want {
					t.Errorf("base %s, want %s", got, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the user never ran")
			}
		})
	}
}
