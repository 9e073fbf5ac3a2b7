package main

import (
	"fmt"
	"html"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/examples/webmobile/internal/shop"
	"github.com/golocust/golocust/internal/locusttest"
)

// startWorker runs this example as a worker of m, its users pointed at
// host.
func startWorker(t *testing.T, m *locusttest.Master, host string, args ...string) *locusttest.Process {
	t.Helper()
	bin := locusttest.Build(t, ".")
	return locusttest.Start(t, ".", bin, append([]string{"--master-host", "127.0.0.1", "--master-port", strconv.Itoa(m.Port), "--host", host}, args...)...)
}

// startShop starts the demo shop on 127.0.0.1.
func startShop(t *testing.T) (*shop.Server, *locusttest.Target) {
	s := shop.New()
	return s, locusttest.StartTarget(t, s)
}

// quit ends the master and checks that the worker exits 0. It first
// waits for the worker to register again after the stop (as a Python
// worker does, it waits stop_timeout first): a master only tells the
// workers it knows to quit.
func quit(t *testing.T, m *locusttest.Master, w *locusttest.Process) {
	t.Helper()
	m.Output.WaitFor(t, "reported as ready", 2, 20*time.Second)
	if err := m.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := w.Wait(t, 20*time.Second); code != 0 {
		t.Errorf("worker exit code %d after the master's quit, want 0", code)
	}
}

// stopAndSettle stops the test and waits until the master is stopped and
// has every request the target served, less the redirects the client
// followed inside a recorded request (the login's /account). The masters
// run with --stop-timeout 3, so users finish their requests when the
// test stops (with Locust's default of 0, requests in flight are cut
// short and recorded as RequestCancelled failures).
func stopAndSettle(t *testing.T, m *locusttest.Master, s *shop.Server, target *locusttest.Target) locusttest.Stats {
	t.Helper()
	m.StopTest(t)
	var st locusttest.Stats
	locusttest.Eventually(t, 20*time.Second, func() string {
		st = m.Stats(t)
		served := target.Total() - s.Counts().Logins
		if got := st.Row("Aggregated").NumRequests; st.State != "stopped" || got != served {
			return fmt.Sprintf("master %q with %d requests; the shop served %d (without login redirects)", st.State, got, served)
		}
		return ""
	})
	return st
}

// TestWeightsAndUnknownClass spawns 44 users from a locustfile with a
// class the worker lacks (GhostUser, fixed_count 4): the worker runs
// exactly 30 WebUsers and 10 MobileUsers (weights 3:1 of the other 40),
// logs the unknown class, reports it as 0, and the master keeps running.
func TestWeightsAndUnknownClass(t *testing.T) {
	s, target := startShop(t)
	m := locusttest.StartMaster(t, "testdata/ghost_locustfile.py", "--stop-timeout", "3")
	w := startWorker(t, m, target.URL)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)

	m.Swarm(t, 44, 44, target.URL)
	locusttest.Eventually(t, 20*time.Second, func() string {
		v := s.Counts().Visitors
		if v["web"] != 30 || v["mobile"] != 10 {
			return fmt.Sprintf("users started: web %d mobile %d, want 30 and 10", v["web"], v["mobile"])
		}
		if st := m.Stats(t); st.UserCount != 40 || st.State != "running" {
			return fmt.Sprintf("master: %d users, state %q; want 40 (GhostUser reported as 0), running", st.UserCount, st.State)
		}
		return ""
	})
	w.Output.WaitFor(t, "the master asked for users of a class this worker does not have", 1, 10*time.Second)
	if !strings.Contains(w.Output.String(), "class=GhostUser") {
		t.Errorf("the worker's log does not name GhostUser:\n%s", w.Output)
	}
	// The master goes on: requests keep coming, and no more users start.
	before := m.Stats(t).Row("Aggregated").NumRequests
	locusttest.Eventually(t, 15*time.Second, func() string {
		if got := m.Stats(t).Row("Aggregated").NumRequests; got < before+40 {
			return fmt.Sprintf("master counts %d requests, was %d", got, before)
		}
		return ""
	})
	st := stopAndSettle(t, m, s, target)
	if v := s.Counts().Visitors; v["web"] != 30 || v["mobile"] != 10 || len(v) != 2 {
		t.Errorf("users started in all: %v, want web 30 and mobile 10", v)
	}
	if r := st.Row("/boo"); r.NumRequests != 0 {
		t.Errorf("GhostUser requests reached the master: %+v", r)
	}
	t.Logf("40 users as 30 WebUser + 10 MobileUser, GhostUser 0; master and shop agree on %d requests", st.Row("Aggregated").NumRequests)
	quit(t, m, w)
}

// TestLoginRatioAndCookies runs 200 users with the login ratio set on the
// master's command line (0.8; the worker's default is 0.3). No logged-in
// user is ever refused a protected page, the share of logged-in users is
// 0.8 within 4 binomial standard deviations, and the master's table shows
// the grouped names and the catch_response-style decisions.
func TestLoginRatioAndCookies(t *testing.T) {
	const users, ratio = 200, 0.8
	s, target := startShop(t)
	m := locusttest.StartMaster(t, "locustfile.py", "--login-ratio", strconv.FormatFloat(ratio, 'g', -1, 64), "--stop-timeout", "3")
	w := startWorker(t, m, target.URL)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)

	m.Swarm(t, users, 100, target.URL)
	locusttest.Eventually(t, 30*time.Second, func() string {
		v := s.Counts().Visitors
		if v["web"] != 150 || v["mobile"] != 50 {
			return fmt.Sprintf("users started: web %d mobile %d, want 150 and 50", v["web"], v["mobile"])
		}
		return ""
	})
	// Let the users work until every kind of protected request was made
	// many times.
	locusttest.Eventually(t, 30*time.Second, func() string {
		c := s.Counts()
		for _, p := range []string{"GET /account", "POST /cart", "POST /checkout", "GET /api/profile"} {
			if c.Requests[p] < 20 {
				return fmt.Sprintf("only %d requests to %s so far", c.Requests[p], p)
			}
		}
		if c.AuthFailAnonymous < 5 || c.EmptySearches < 5 || c.SoldOut < 5 {
			return fmt.Sprintf("waiting for anonymous refusals, empty searches and sold-out items: %+v", c)
		}
		return ""
	})
	st := stopAndSettle(t, m, s, target)
	c := s.Counts()

	// Cookies: every logged-in user kept its session for every request.
	if c.AuthFailLoggedIn != 0 || c.NoVisitor != 0 {
		t.Errorf("logged-in users refused %d times, requests without a visit cookie %d; want 0 and 0", c.AuthFailLoggedIn, c.NoVisitor)
	}
	if c.AuthOK == 0 || c.AuthFailAnonymous == 0 {
		t.Errorf("protected pages: %d served with a session, %d refused to anonymous users; want both > 0", c.AuthOK, c.AuthFailAnonymous)
	}
	// The login share is Binomial(200, 0.8): mean 160, sigma 5.66; at the
	// worker's default of 0.3 it would be 60.
	mean, sigma := users*ratio, math.Sqrt(users*ratio*(1-ratio))
	if d := math.Abs(float64(c.Logins) - mean); d > 4*sigma {
		t.Errorf("%d of %d users logged in; with the master's --login-ratio %g want %.0f ± %.1f (4σ)", c.Logins, users, ratio, mean, 4*sigma)
	}

	// The master's table: grouped names, no per-id rows.
	var names []string
	for _, r := range st.Stats {
		names = append(names, r.Name)
	}
	for _, want := range []string{"/session/new", "/login", "/", "/item/[id]", "/search", "/account", "/cart", "/checkout", "/api/feed", "/api/items/[id]", "/api/profile"} {
		if !slices.Contains(names, want) {
			t.Errorf("master's table lacks %s: %v", want, names)
		}
	}
	for _, n := range names {
		if strings.HasPrefix(n, "/item/") && n != "/item/[id]" || strings.HasPrefix(n, "/search?") || strings.HasPrefix(n, "/api/items/") && n != "/api/items/[id]" {
			t.Errorf("ungrouped row %q in the master's table", n)
		}
	}
	// Checks: a 200 with no results failed, exactly as often as the shop
	// sent one; a 404 for a sold-out item and a 401 for an anonymous user
	// succeeded; nothing else failed.
	if got := st.Row("/search").NumFailures; got != c.EmptySearches {
		t.Errorf("/search failures %d, the shop answered %d empty searches", got, c.EmptySearches)
	}
	if got := st.Row("/api/items/[id]").NumFailures; got != 0 || c.SoldOut == 0 {
		t.Errorf("/api/items/[id]: %d failures for %d sold-out 404s, want 0 failures", got, c.SoldOut)
	}
	if got := st.Row("Aggregated").NumFailures; got != c.EmptySearches {
		t.Errorf("master counts %d failures; want only the %d empty searches", got, c.EmptySearches)
	}
	if len(st.Errors) != 1 {
		t.Fatalf("master's failures table %+v, want one row", st.Errors)
	}
	// The web API shows the repr of the error text, as for a Python worker.
	e := st.Errors[0]
	const wantText = `"CatchResponseError('search found nothing')"`
	if e.Method != "GET" || e.Name != "/search" || html.UnescapeString(e.Error) != wantText || e.Occurrences != c.EmptySearches {
		t.Errorf("failure row %+v, want GET /search %s × %d", e, wantText, c.EmptySearches)
	}
	t.Logf("%d/%d users logged in (want %.0f±%.1f); protected: %d served, %d refused to anonymous users, 0 to logged-in ones; %d empty searches failed, %d sold-out 404s passed",
		c.Logins, users, mean, 4*sigma, c.AuthOK, c.AuthFailAnonymous, c.EmptySearches, c.SoldOut)
	quit(t, m, w)
}

// TestTags runs with --tags account on the master: only the tasks tagged
// account run (the account page, the profile, and the checkout task set,
// tagged as a whole), besides the OnStart requests.
func TestTags(t *testing.T) {
	s, target := startShop(t)
	m := locusttest.StartMaster(t, "locustfile.py", "--tags", "account", "--login-ratio", "0.5", "--stop-timeout", "3")
	w := startWorker(t, m, target.URL)
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)

	m.Swarm(t, 40, 40, target.URL)
	locusttest.Eventually(t, 30*time.Second, func() string {
		c := s.Counts()
		for _, p := range []string{"GET /account", "POST /cart", "GET /cart", "POST /checkout", "GET /api/profile"} {
			if c.Requests[p] < 5 {
				return fmt.Sprintf("only %d requests to %s so far", c.Requests[p], p)
			}
		}
		return ""
	})
	st := stopAndSettle(t, m, s, target)
	allowed := []string{"/session/new", "/login", "/account", "/cart", "/checkout", "/api/profile", "Aggregated"}
	for _, r := range st.Stats {
		if !slices.Contains(allowed, r.Name) {
			t.Errorf("an untagged task ran: row %s %s with %d requests", r.Method, r.Name, r.NumRequests)
		}
	}
	for _, name := range allowed {
		if st.Row(name).NumRequests == 0 {
			t.Errorf("no requests for %s", name)
		}
	}
	if c := s.Counts(); c.Requests["GET /{$}"] != 0 || c.Requests["GET /api/feed"] != 0 {
		t.Errorf("the shop served browse pages: %v", c.Requests)
	}
	t.Logf("with --tags account the master's rows are %v", func() []string {
		var n []string
		for _, r := range st.Stats {
			n = append(n, fmt.Sprintf("%s %s=%d", r.Method, r.Name, r.NumRequests))
		}
		return n
	}())
	quit(t, m, w)
}

// TestDemoServerArg checks how --demo-server is taken out of the args.
func TestDemoServerArg(t *testing.T) {
	tests := []struct {
		args     []string
		wantAddr string
		wantRest []string
	}{
		{[]string{"-u", "5"}, "", []string{"-u", "5"}},
		{[]string{"--demo-server", "-u", "5"}, "127.0.0.1:0", []string{"-u", "5"}},
		{[]string{"-u", "5", "--demo-server=127.0.0.1:8080"}, "127.0.0.1:8080", []string{"-u", "5"}},
	}
	for _, tt := range tests {
		addr, rest := demoServerArg(tt.args)
		if addr != tt.wantAddr || !slices.Equal(rest, tt.wantRest) {
			t.Errorf("demoServerArg(%q) = %q, %q; want %q, %q", tt.args, addr, rest, tt.wantAddr, tt.wantRest)
		}
	}
}

// TestShopRefusesWithoutSession checks the demo shop's rule directly.
func TestShopRefusesWithoutSession(t *testing.T) {
	s, target := startShop(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	get := func(path string) int {
		resp, err := c.Get(target.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("/session/new?client=web"); code != 200 {
		t.Fatalf("new visit: %d", code)
	}
	if code := get("/account"); code != http.StatusUnauthorized {
		t.Errorf("/account before login: %d, want 401", code)
	}
	resp, err := c.PostForm(target.URL+"/login", url.Values{"user": {"demo"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/account" {
		t.Errorf("login ended at %s with %d, want /account 200", resp.Request.URL.Path, resp.StatusCode)
	}
	if code := get("/api/profile"); code != 200 {
		t.Errorf("/api/profile after login: %d", code)
	}
	c.Jar, _ = cookiejar.New(nil) // a client that lost its cookies
	if code := get("/account"); code != http.StatusUnauthorized {
		t.Errorf("/account without cookies: %d", code)
	}
	got := s.Counts()
	if got.Logins != 1 || got.AuthOK != 2 || got.AuthFailAnonymous != 1 || got.NoVisitor != 1 || got.AuthFailLoggedIn != 0 {
		t.Errorf("counts %+v", got)
	}
}
