package worker_test

// This file holds the examples of users, tasks, task sets, wait times
// and options that go doc shows.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/golocust/golocust/worker"
)

// Shopper is a user: a struct whose fields are the user's own state.
type Shopper struct {
	worker.HTTPUser // this user's own client and cookie jar
	visits          int
}

// OnStart logs the user in; the session cookie stays in the user's jar.
func (s *Shopper) OnStart(ctx context.Context) error {
	_, err := s.Client.PostForm(ctx, "/login", url.Values{"user": {"demo"}})
	return err
}

// Tasks returns one sequential task set: the same three steps in order,
// over and over, until the user has seen three items.
func (s *Shopper) Tasks() []worker.Task {
	return []worker.Task{{Name: "shop", Set: &worker.TaskSet{
		Sequential: true,
		Tasks: []worker.Task{
			{Name: "home", Run: s.home},
			{Name: "item", Run: s.item},
			{Name: "account", Run: s.account},
		},
	}}}
}

func (s *Shopper) home(ctx context.Context) error {
	_, err := s.Client.Get(ctx, "/")
	return err
}

func (s *Shopper) item(ctx context.Context) error {
	// Dynamic URLs are grouped under one row name.
	_, err := s.Client.Get(ctx, fmt.Sprintf("/item/%d", rand.IntN(1000)), worker.Name("/item/[id]"))
	return err
}

func (s *Shopper) account(ctx context.Context) error {
	s.visits++
	_, err := s.Client.Get(ctx, "/account", worker.Check(func(r *worker.Response) error {
		if !r.Contains("Your orders") {
			return errors.New("account page without orders") // a 200 can fail
		}
		return nil
	}))
	if err != nil || s.visits == 3 {
		return worker.ErrStopUser // this user is done; OnStop would run now
	}
	return nil
}

// shopServer is the system under test of the examples.
func shopServer() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "demo", Path: "/"})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "home") })
	mux.HandleFunc("GET /item/{id}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "item") })
	mux.HandleFunc("GET /account", func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie("session"); err != nil {
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "Your orders: none")
	})
	return httptest.NewServer(mux)
}

// ExampleClass declares a user class and runs it standalone for a moment.
// In a program, main would be one line: worker.Main(class), which runs
// standalone or as a worker of a Locust master depending on its flags.
func ExampleClass() {
	srv := shopServer()
	defer srv.Close()

	class := worker.Class("Shopper", func() *Shopper { return &Shopper{} }).
		Wait(worker.Between(time.Millisecond, 5*time.Millisecond))

	run := &worker.Standalone{
		Host: srv.URL, Users: 2, SpawnRate: 0, RunTime: time.Second,
		Classes: []*worker.UserClass{class},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard,
	}
	res, err := run.Run(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range res.Stats.Entries() {
		fmt.Printf("%s %s: %d requests, %d failures\n", e.Method, e.Name, e.NumRequests, e.NumFailures)
	}
	// Output:
	// GET /: 6 requests, 0 failures
	// GET /account: 6 requests, 0 failures
	// GET /item/[id]: 6 requests, 0 failures
	// POST /login: 2 requests, 0 failures
}

// ExampleHTTPClient_Request shows the request options in a task: a row
// name for dynamic URLs, a check that decides success, a timeout.
func ExampleHTTPClient_Request() {
	srv := shopServer()
	defer srv.Close()

	task := func(ctx context.Context, c *worker.HTTPClient) error {
		// A 404 is a success here: the item may be gone.
		resp, err := c.Request(ctx, http.MethodGet, "/item/7", nil,
			worker.Name("/item/[id]"),
			worker.Timeout(2*time.Second),
			worker.Check(func(r *worker.Response) error {
				if r.StatusCode == http.StatusNotFound {
					return nil
				}
				return r.StatusError() // otherwise the usual rule: >= 400 fails
			}))
		if err != nil {
			// err is a *worker.RequestError, already in the statistics.
			var re *worker.RequestError
			if errors.As(err, &re) {
				fmt.Println(re.LocustText())
			}
			return err
		}
		fmt.Println(resp.StatusCode, resp.Text())
		return nil
	}

	class := worker.Class("Once", func() *onceUser { return &onceUser{run: task} })
	run := &worker.Standalone{
		Host: srv.URL, RunTime: 300 * time.Millisecond, Classes: []*worker.UserClass{class},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard,
	}
	if _, err := run.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// 200 item
}

// onceUser runs one task once, then stops.
type onceUser struct {
	worker.HTTPUser
	run func(ctx context.Context, c *worker.HTTPClient) error
}

func (u *onceUser) Tasks() []worker.Task {
	return []worker.Task{{Name: "once", Run: func(ctx context.Context) error {
		u.run(ctx, u.Client)
		return worker.ErrStopUser
	}}}
}

// ExampleRecord records requests of a protocol other than HTTP, here a
// line over TCP, so they show in Locust's tables like HTTP requests.
func ExampleRecord() {
	echo := func(ctx context.Context, addr string) error {
		start := time.Now()
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return worker.Record(ctx, "tcp", "connect", time.Since(start), 0, err)
		}
		defer conn.Close()
		buf := make([]byte, 64)
		_, err = conn.Write([]byte("ping\n"))
		n := 0
		if err == nil {
			n, err = conn.Read(buf)
		}
		// A task may return Record's error: it is not reported twice.
		return worker.Record(ctx, "tcp", "echo", time.Since(start), int64(n), err)
	}
	_ = echo
}

// ExampleTaskSet nests a task set that the user leaves with ErrInterrupt,
// like Locust's TaskSet.interrupt().
func ExampleTaskSet() {
	browse := func(context.Context) error { return nil }
	readReview := func(context.Context) error { return nil }
	leave := func(context.Context) error { return worker.ErrInterrupt }

	_ = []worker.Task{
		{Name: "browse", Weight: 3, Run: browse},
		{Name: "reviews", Weight: 1, Tags: []string{"reviews"}, Set: &worker.TaskSet{
			Wait: worker.Constant(500 * time.Millisecond),
			Tasks: []worker.Task{
				{Name: "read", Weight: 5, Run: readReview},
				{Name: "leave", Weight: 1, Run: leave}, // back to browsing
			},
		}},
	}
}

// ExampleConstantPacing starts a task every two seconds per user, however
// long the task takes (up to two seconds).
func ExampleConstantPacing() {
	class := worker.Class("Poller", func() *Shopper { return &Shopper{} }).
		Wait(worker.ConstantPacing(2 * time.Second))
	fmt.Println(class.Name())
	// Output: Poller
}

// ExampleFloatOption declares a custom option: a flag standalone, and the
// value of the master's --login-ratio (declared in its locustfile with
// @events.init_command_line_parser) when running as a worker.
func ExampleFloatOption() {
	loginRatio := worker.FloatOption("login-ratio", 0.3, "share of users that log in")
	class := worker.Class("Shopper", func() *Shopper { return &Shopper{} }).Options(loginRatio)
	_ = class
	fmt.Println(loginRatio.Name(), loginRatio.Value())
	// Output: login-ratio 0.3
}

// ExampleStopTest ends the whole test from a user's code.
func ExampleStopTest() {
	task := func(ctx context.Context) error {
		if time.Now().Hour() == 3 { // whatever condition ends the test
			worker.StopTest(ctx)
			return worker.ErrStopUser
		}
		return nil
	}
	_ = task
}
