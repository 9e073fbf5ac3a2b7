// Package shop is the demo web shop that examples/webmobile loads: pages
// for browsers, a JSON API for the mobile app, a login that sets a session
// cookie, and pages that need it. It counts what happens, so a test (or a
// curious user, at /demo/stats) can check the load test's claims against
// what the server saw.
package shop

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Counts is what the server has seen.
type Counts struct {
	// Visitors counts new visitors by client ("web", "mobile"): every
	// simulated user opens one visit when it starts.
	Visitors map[string]int64 `json:"visitors"`
	// Logins counts successful logins.
	Logins int64 `json:"logins"`
	// AuthOK counts requests to protected pages with a valid session.
	AuthOK int64 `json:"auth_ok"`
	// AuthFailLoggedIn counts protected requests refused to a visitor who
	// had logged in: a client that lost its session cookie.
	AuthFailLoggedIn int64 `json:"auth_fail_logged_in"`
	// AuthFailAnonymous counts protected requests refused to visitors who
	// never logged in.
	AuthFailAnonymous int64 `json:"auth_fail_anonymous"`
	// NoVisitor counts requests without a visitor cookie where one is
	// needed (after /session/new).
	NoVisitor int64 `json:"no_visitor"`
	// EmptySearches counts searches answered 200 with no results.
	EmptySearches int64 `json:"empty_searches"`
	// SoldOut counts API item requests answered 404.
	SoldOut int64 `json:"sold_out"`
	// Requests counts all requests by path pattern.
	Requests map[string]int64 `json:"requests"`
}

// Server is the demo shop. The zero value is not usable; call New.
type Server struct {
	mux *http.ServeMux

	mu       sync.Mutex
	counts   Counts
	visitors map[string]*visitor // by visitor cookie
	sessions map[string]string   // session token → visitor id
}

type visitor struct {
	client   string
	loggedIn bool
}

// New returns a shop with no visitors yet.
func New() *Server {
	s := &Server{
		mux:      http.NewServeMux(),
		visitors: map[string]*visitor{},
		sessions: map[string]string{},
		counts:   Counts{Visitors: map[string]int64{}, Requests: map[string]int64{}},
	}
	s.handle("GET /session/new", s.newVisit)
	s.handle("POST /login", s.login)
	s.handle("GET /{$}", s.page("<h1>Demo shop</h1>"))
	s.handle("GET /item/{id}", s.item)
	s.handle("GET /search", s.search)
	s.handle("GET /api/feed", s.json(`{"items":[1,2,3]}`))
	s.handle("GET /api/items/{id}", s.apiItem)
	s.handle("GET /account", s.protected(s.page("<h1>Your orders</h1>")))
	s.handle("GET /cart", s.protected(s.page("<h1>Your cart</h1>")))
	s.handle("POST /cart", s.protected(s.json(`{"added":true}`)))
	s.handle("POST /checkout", s.protected(s.json(`{"order":"confirmed"}`)))
	s.handle("GET /api/profile", s.protected(s.json(`{"name":"demo","orders":[]}`)))
	s.mux.HandleFunc("GET /demo/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Counts())
	})
	return s
}

// ServeHTTP serves the shop.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Counts returns a copy of the counters.
func (s *Server) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts
	c.Visitors = make(map[string]int64, len(s.counts.Visitors))
	for k, v := range s.counts.Visitors {
		c.Visitors[k] = v
	}
	c.Requests = make(map[string]int64, len(s.counts.Requests))
	for k, v := range s.counts.Requests {
		c.Requests[k] = v
	}
	return c
}

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.counts.Requests[pattern]++
		s.mu.Unlock()
		h(w, r)
	})
}

func (s *Server) page(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, body)
	}
}

func (s *Server) json(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}
}

func token() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newVisit starts a visit: a visitor cookie that identifies the simulated
// user, so the server can tell logged-in users' requests apart.
func (s *Server) newVisit(w http.ResponseWriter, r *http.Request) {
	client := r.URL.Query().Get("client")
	if client == "" {
		client = "unknown"
	}
	id := token()
	s.mu.Lock()
	s.visitors[id] = &visitor{client: client}
	s.counts.Visitors[client]++
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "visitor", Value: id, Path: "/", HttpOnly: true})
	fmt.Fprint(w, `{"welcome":true}`)
}

// visitorOf returns the request's visitor, counting requests without one.
func (s *Server) visitorOf(r *http.Request) *visitor {
	c, err := r.Cookie("visitor")
	if err == nil {
		if v, ok := s.visitors[c.Value]; ok {
			return v
		}
	}
	s.counts.NoVisitor++
	return nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("user") == "" {
		http.Error(w, "user required", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	v := s.visitorOf(r)
	if v == nil {
		s.mu.Unlock()
		http.Error(w, "no visit: GET /session/new first", http.StatusBadRequest)
		return
	}
	tok := token()
	vc, _ := r.Cookie("visitor")
	s.sessions[tok] = vc.Value
	v.loggedIn = true
	s.counts.Logins++
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "session", Value: tok, Path: "/", HttpOnly: true})
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// protected lets only requests with a valid session cookie through.
func (s *Server) protected(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		v := s.visitorOf(r)
		ok := false
		if c, err := r.Cookie("session"); err == nil {
			vc, _ := r.Cookie("visitor")
			ok = vc != nil && s.sessions[c.Value] == vc.Value
		}
		switch {
		case ok:
			s.counts.AuthOK++
		case v != nil && v.loggedIn:
			s.counts.AuthFailLoggedIn++
		case v != nil:
			s.counts.AuthFailAnonymous++
		}
		s.mu.Unlock()
		if !ok {
			http.Error(w, "please log in", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func (s *Server) item(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "<h1>Item %s</h1>", r.PathValue("id"))
}

// search finds nothing for queries that start with "zz".
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if strings.HasPrefix(q, "zz") {
		s.mu.Lock()
		s.counts.EmptySearches++
		s.mu.Unlock()
		fmt.Fprint(w, "<p>No results</p>")
		return
	}
	fmt.Fprintf(w, "<ul><li>%s result</li></ul>", q)
}

// apiItem answers 404 for every tenth item: sold out.
func (s *Server) apiItem(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	if id%10 == 0 {
		s.mu.Lock()
		s.counts.SoldOut++
		s.mu.Unlock()
		http.Error(w, `{"error":"sold out"}`, http.StatusNotFound)
		return
	}
	fmt.Fprintf(w, `{"id":%d,"price":%d}`, id, 100+id)
}
