//go:build linux

package main

// This file owns the target role: a small shop that counts every request
// it serves, so that the benchmark compares the master's counts with the
// truth. run.go starts it pinned to its own core.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
)

// shop serves the seed scenario's pages and counts them.
type shop struct {
	served  atomic.Int64 // requests answered
	logins  atomic.Int64
	conns   atomic.Int64 // connections open now
	maxConn atomic.Int64 // most connections open at once
	dialed  atomic.Int64 // connections accepted in all
	nextID  atomic.Int64
}

func (s *shop) handler() http.Handler {
	mux := http.NewServeMux()
	page := func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("<html>shop</html>")) }
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /item/{id}", page)
	mux.HandleFunc("GET /api/items", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`[{"id":1}]`)) })
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, _ *http.Request) {
		s.logins.Add(1)
		http.SetCookie(w, &http.Cookie{Name: "session", Value: strconv.FormatInt(s.nextID.Add(1), 10), Path: "/"})
		w.Write([]byte("welcome"))
	})
	private := func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("session"); err != nil {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("your account"))
	}
	mux.HandleFunc("GET /account", private)
	mux.HandleFunc("GET /api/profile", private)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		s.served.Add(1)
	})
}

// connState follows the connections, for the report.
func (s *shop) connState(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		s.dialed.Add(1)
		n := s.conns.Add(1)
		for m := s.maxConn.Load(); n > m && !s.maxConn.CompareAndSwap(m, n); m = s.maxConn.Load() {
		}
	case http.StateHijacked, http.StateClosed:
		s.conns.Add(-1)
	}
}

// targetCounts is what the control port answers.
type targetCounts struct {
	Served   int64 `json:"served"`
	Logins   int64 `json:"logins"`
	Conns    int64 `json:"conns"`
	MaxConns int64 `json:"max_conns"`
	Dialed   int64 `json:"dialed"`
}

// runTarget is the target role: the shop on one port, its counts as JSON
// on another. It prints "seed target http://ADDR control http://ADDR".
func runTarget() int {
	var s shop
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed target:", err)
		return 1
	}
	control, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed target:", err)
		return 1
	}
	go http.Serve(control, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(targetCounts{
			Served: s.served.Load(), Logins: s.logins.Load(),
			Conns: s.conns.Load(), MaxConns: s.maxConn.Load(), Dialed: s.dialed.Load(),
		})
	}))
	fmt.Printf("seed target http://%s control http://%s\n", l.Addr(), control.Addr())
	srv := &http.Server{Handler: s.handler(), ConnState: s.connState}
	if err := srv.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, "seed target:", err)
		return 1
	}
	return 0
}
