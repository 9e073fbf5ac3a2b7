package worker_test

// This file holds the examples of Feeder: users with their own accounts
// from a CSV file, the three orders, and a worker's accounts sent by the
// master.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"

	"github.com/golocust/golocust/worker"
)

// AccountUser logs in with an account of its own, taken from a feeder in
// OnStart and given back in OnStop.
type AccountUser struct {
	worker.HTTPUser
	accounts *worker.Feeder
	account  worker.Row
}

// OnStart takes an account and logs in; a user left without one stops.
func (u *AccountUser) OnStart(ctx context.Context) error {
	account, ok := u.accounts.Take()
	if !ok {
		return worker.ErrStopUser
	}
	u.account = account
	_, err := u.Client.PostForm(ctx, "/login", url.Values{
		"username": {account["username"]},
		"password": {account["password"]},
	})
	return err
}

// OnStop logs out and gives the account back for the next user.
func (u *AccountUser) OnStop(ctx context.Context) error {
	defer func() { u.accounts.Return(u.account); u.account = nil }()
	if u.account == nil {
		return nil
	}
	_, err := u.Client.PostForm(ctx, "/logout", url.Values{"username": {u.account["username"]}})
	return err
}

// Tasks returns the one task: a look at the account page, after which
// the user is done.
func (u *AccountUser) Tasks() []worker.Task {
	return []worker.Task{{Name: "account", Run: func(ctx context.Context) error {
		if _, err := u.Client.Get(ctx, "/account"); err != nil {
			return err
		}
		return worker.ErrStopUser
	}}}
}

// accountShop is a target that refuses a login with an account already
// logged in, and counts those refusals.
type accountShop struct {
	mu        sync.Mutex
	in        map[string]bool
	logins    int
	conflicts int
}

func (s *accountShop) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		name := r.FormValue("username")
		if s.in[name] {
			s.conflicts++
			http.Error(w, "account in use", http.StatusConflict)
			return
		}
		s.in[name] = true
		s.logins++
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.in, r.FormValue("username"))
	})
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {})
	return mux
}

// ExampleReadCSVFeeder runs three users standalone, each logged in with
// its own account of testdata/feeder/accounts.csv (columns username,
// password and note) for one look at its account page: the shop sees no
// account logged in twice, and the accounts are all free again after the
// run.
func ExampleReadCSVFeeder() {
	accounts, err := worker.ReadCSVFeeder("testdata/feeder/accounts.csv", worker.Unique)
	if err != nil {
		fmt.Println(err)
		return
	}
	shop := &accountShop{in: map[string]bool{}}
	srv := httptest.NewServer(shop.handler())
	defer srv.Close()

	class := worker.Class("AccountUser", func() *AccountUser { return &AccountUser{accounts: accounts} })
	run := &worker.Standalone{
		Host: srv.URL, Users: 3, Iterations: 3,
		Classes: []*worker.UserClass{class},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard,
	}
	if _, err := run.Run(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d logins, %d conflicts, %d of %d accounts free\n", shop.logins, shop.conflicts, accounts.Free(), accounts.Len())
	// Output: 3 logins, 0 conflicts, 4 of 4 accounts free
}

// ExampleFeeder shows the three orders: Unique hands a row to one holder
// at a time, Cyclic goes round, Random picks (here with a fixed seed).
func ExampleFeeder() {
	rows := []worker.Row{{"username": "u1"}, {"username": "u2"}}

	unique := worker.NewFeeder(worker.Unique, rows...)
	a, _ := unique.Take()
	b, _ := unique.Take()
	_, ok := unique.Take()
	fmt.Println("unique:", a["username"], b["username"], "then a third?", ok)
	unique.Return(a)
	c, _ := unique.Take()
	fmt.Println("after u1 came back:", c["username"])

	cyclic := worker.NewFeeder(worker.Cyclic, rows...)
	for range 3 {
		r, _ := cyclic.Take()
		fmt.Print(r["username"], " ")
	}
	fmt.Println("(cyclic)")
	// Output:
	// unique: u1 u2 then a third? false
	// after u1 came back: u1
	// u1 u2 u1 (cyclic)
}

// ExampleFeeder_Receive is a worker's accounts, sent by the master when
// the test starts. The master's locustfile, for each worker its own slice
// of the accounts:
//
//	from locust import events
//	from locust.runners import MasterRunner
//	import csv
//
//	@events.test_start.add_listener
//	def send_accounts(environment, **kwargs):
//	    runner = environment.runner
//	    if not isinstance(runner, MasterRunner):
//	        return
//	    with open("accounts.csv") as f:
//	        accounts = list(csv.DictReader(f))
//	    workers = [w.id for w in runner.clients.all]
//	    for i, worker_id in enumerate(workers):
//	        runner.send_message("accounts", accounts[i::len(workers)], worker_id)
//
// The worker's users take their accounts from the feeder as AccountUser
// does; the message is handled before the first user starts.
func ExampleFeeder_Receive() {
	accounts := worker.NewFeeder(worker.Unique)
	hooks := &worker.Hooks{Messages: map[string]func(context.Context, worker.Message){
		"accounts": accounts.Receive,
	}}
	class := worker.Class("AccountUser", func() *AccountUser { return &AccountUser{accounts: accounts} }).Hooks(hooks)
	_ = class // worker.Main(class)

	// What the session hands the handler for the master's message:
	accounts.Receive(context.Background(), worker.Message{Type: "accounts", Data: []any{
		map[string]any{"username": "u1", "password": "p1"},
		map[string]any{"username": "u2", "password": "p2", "id": int64(2)},
	}})
	fmt.Println(accounts.Len(), "accounts, error:", accounts.Err())
	r, _ := accounts.Take()
	fmt.Println(r["username"], r["password"])

	accounts.Receive(context.Background(), worker.Message{Type: "accounts", Data: "not a list"})
	fmt.Println(accounts.Len(), "accounts, error:", accounts.Err())
	// Output:
	// 2 accounts, error: <nil>
	// u1 p1
	// 2 accounts, error: worker: feeder: message "accounts": string data, want a list of maps
}
