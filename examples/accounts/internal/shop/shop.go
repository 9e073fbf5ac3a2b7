// Package shop is the demo shop examples/accounts logs in to: known test
// accounts, a login that refuses an account already logged in (as a shop
// that allows one session per customer does), a logout, and an orders
// page that needs the session. It counts what happens, so a test can check
// that no account was used by two users at once.
package shop

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
)

// Counts is what the shop has seen.
type Counts struct {
	// Logins counts successful logins.
	Logins int64 `json:"logins"`
	// Conflicts counts logins refused because the account was logged in
	// already: two users held the same account at once.
	Conflicts int64 `json:"conflicts"`
	// BadPasswords counts logins with an unknown account or a wrong
	// password.
	BadPasswords int64 `json:"bad_passwords"`
	// Orders counts orders pages served to a logged-in customer.
	Orders int64 `json:"orders"`
	// NotLoggedIn counts orders pages refused for want of a session.
	NotLoggedIn int64 `json:"not_logged_in"`
	// Active is the number of accounts logged in now.
	Active int `json:"active"`
	// Accounts is the number of distinct accounts that ever logged in.
	Accounts int `json:"accounts"`
}

// Shop is the demo shop's handler. Its zero value is not usable; see New.
type Shop struct {
	passwords map[string]string // by username

	mu       sync.Mutex
	counts   Counts
	sessions map[string]string // session id -> username
	active   map[string]string // username -> session id
	ever     map[string]bool
}

// New returns a shop that knows the given accounts (username -> password).
func New(accounts map[string]string) *Shop {
	return &Shop{passwords: accounts, sessions: map[string]string{}, active: map[string]string{}, ever: map[string]bool{}}
}

// Accounts returns n accounts named user00001, user00002, ... with
// passwords pass00001, ...: the ones accounts.csv holds.
func Accounts(n int) map[string]string {
	out := make(map[string]string, n)
	for i := 1; i <= n; i++ {
		out[fmt.Sprintf("user%05d", i)] = fmt.Sprintf("pass%05d", i)
	}
	return out
}

// Counts returns what the shop has seen so far.
func (s *Shop) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.counts
	c.Active, c.Accounts = len(s.active), len(s.ever)
	return c
}

// ServeHTTP serves POST /login (form username, password: 200 and a
// session cookie; 401 for a bad password; 409 when the account is logged
// in already), POST /logout, GET /orders (needs the session), GET / and
// GET /demo/stats (the counts as JSON).
func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/login":
		s.login(w, r)
	case "/logout":
		s.logout(w, r)
	case "/orders":
		s.orders(w, r)
	case "/demo/stats":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Counts())
	case "/":
		fmt.Fprintln(w, "Welcome to the demo shop")
	default:
		http.NotFound(w, r)
	}
}

func (s *Shop) login(w http.ResponseWriter, r *http.Request) {
	user, pass := r.PostFormValue("username"), r.PostFormValue("password")
	s.mu.Lock()
	defer s.mu.Unlock()
	if want, ok := s.passwords[user]; !ok || want != pass {
		s.counts.BadPasswords++
		http.Error(w, "wrong username or password", http.StatusUnauthorized)
		return
	}
	if _, busy := s.active[user]; busy {
		s.counts.Conflicts++
		http.Error(w, "account "+user+" is logged in already", http.StatusConflict)
		return
	}
	id := newID()
	s.sessions[id] = user
	s.active[user] = id
	s.ever[user] = true
	s.counts.Logins++
	http.SetCookie(w, &http.Cookie{Name: "session", Value: id, Path: "/"})
	fmt.Fprintln(w, "welcome", user)
}

func (s *Shop) logout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if user, ok := s.session(r); ok {
		delete(s.active, user)
		c, _ := r.Cookie("session")
		delete(s.sessions, c.Value)
	}
	fmt.Fprintln(w, "bye")
}

func (s *Shop) orders(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	user, ok := s.session(r)
	if !ok {
		s.counts.NotLoggedIn++
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	s.counts.Orders++
	fmt.Fprintln(w, "no orders yet for", user)
}

// session returns the user of r's session cookie; s.mu is held.
func (s *Shop) session(r *http.Request) (string, bool) {
	c, err := r.Cookie("session")
	if err != nil {
		return "", false
	}
	user, ok := s.sessions[c.Value]
	return user, ok
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
