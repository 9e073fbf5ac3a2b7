// Command webmobile is the scenario Locust was made for: a shop visited by
// browsers and a mobile app, a share of the visitors logged in. It ships
// its own demo shop, so it runs end to end with nothing else:
//
//	go run ./examples/webmobile --demo-server -u 100 -r 20 -t 30s --login-ratio 0.5
//
// As a worker of a Locust master that loads locustfile.py beside it (the
// master's --login-ratio reaches the Go users):
//
//	locust -f examples/webmobile/locustfile.py --master --login-ratio 0.5 &
//	go run ./examples/webmobile --demo-server --master-host 127.0.0.1
//
// --demo-server starts the shop on 127.0.0.1 and points users at it
// (--demo-server=127.0.0.1:8080 picks the address); -H/--host points them
// at a shop running elsewhere.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golocust/golocust/examples/webmobile/internal/shop"
	"github.com/golocust/golocust/worker"
)

// loginRatio is the share of users that log in when they start. The
// master's locustfile declares the same option.
var loginRatio = worker.FloatOption("login-ratio", 0.3, "share of users that log in when they start (0 to 1)")

// session is what both kinds of users share: a visit, and a login for a
// share of them. Its cookies live in the user's own client.
type session struct {
	worker.HTTPUser
	loggedIn bool
}

// start opens a visit and logs in with probability loginRatio.
func (s *session) start(ctx context.Context, client string) error {
	if _, err := s.Client.Get(ctx, "/session/new?client="+client, worker.Name("/session/new")); err != nil {
		return err
	}
	if rand.Float64() >= loginRatio.Value() {
		return nil
	}
	// The login answers with a redirect to /account, which the client
	// follows with the new session cookie; the row is still /login.
	if _, err := s.Client.PostForm(ctx, "/login", url.Values{"user": {"demo"}}); err != nil {
		return err
	}
	s.loggedIn = true
	return nil
}

// authCheck is the rule for pages behind the login: a logged-in user must
// get them; an anonymous one is expected to be refused (a 401 is the right
// answer, so it counts as a success).
func (s *session) authCheck(r *worker.Response) error {
	if !s.loggedIn && r.StatusCode == http.StatusUnauthorized {
		return nil
	}
	return r.StatusError()
}

// WebUser browses the shop in a browser.
type WebUser struct {
	session
}

// OnStart opens the visit and maybe logs in.
func (u *WebUser) OnStart(ctx context.Context) error { return u.start(ctx, "web") }

// Tasks returns a browser's mix: mostly pages and items, some searches,
// now and then the account page, and for logged-in users a checkout.
func (u *WebUser) Tasks() []worker.Task {
	return []worker.Task{
		{Name: "home", Weight: 10, Tags: []string{"browse"}, Run: u.home},
		{Name: "item", Weight: 6, Tags: []string{"browse"}, Run: u.item},
		{Name: "search", Weight: 3, Tags: []string{"browse"}, Run: u.search},
		{Name: "account", Weight: 1, Tags: []string{"account"}, Run: u.account},
		{Name: "checkout", Weight: 1, Tags: []string{"account"}, Set: &worker.TaskSet{
			Sequential: true,
			OnStart: func(context.Context) error {
				if !u.loggedIn {
					return worker.ErrInterrupt // anonymous users do not buy
				}
				return nil
			},
			Tasks: []worker.Task{
				{Name: "add to cart", Run: u.addToCart},
				{Name: "view cart", Run: u.viewCart},
				{Name: "pay", Run: u.pay},
			},
		}},
	}
}

func (u *WebUser) home(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/")
	return err
}

func (u *WebUser) item(ctx context.Context) error {
	_, err := u.Client.Get(ctx, fmt.Sprintf("/item/%d", rand.IntN(500)), worker.Name("/item/[id]"))
	return err
}

var searchTerms = []string{"shoes", "hat", "coat", "zzyzx"}

// search fails when a search finds nothing, although the page is a 200.
func (u *WebUser) search(ctx context.Context) error {
	q := searchTerms[rand.IntN(len(searchTerms))]
	_, err := u.Client.Get(ctx, "/search?q="+q, worker.Name("/search"), worker.Check(func(r *worker.Response) error {
		if err := r.StatusError(); err != nil {
			return err
		}
		if r.Contains("No results") {
			return errors.New("search found nothing")
		}
		return nil
	}))
	return err
}

func (u *WebUser) account(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/account", worker.Check(u.authCheck))
	return err
}

func (u *WebUser) addToCart(ctx context.Context) error {
	_, err := u.Client.Post(ctx, "/cart", "application/json", []byte(fmt.Sprintf(`{"item":%d}`, rand.IntN(500))))
	return err
}

func (u *WebUser) viewCart(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/cart")
	return err
}

// pay checks out and leaves the checkout for browsing again.
func (u *WebUser) pay(ctx context.Context) error {
	if _, err := u.Client.Post(ctx, "/checkout", "application/json", []byte(`{}`)); err != nil {
		return err
	}
	return worker.ErrInterrupt
}

// MobileUser is the mobile app: it polls a feed at a steady pace.
type MobileUser struct {
	session
}

// OnStart opens the visit and maybe logs in.
func (u *MobileUser) OnStart(ctx context.Context) error { return u.start(ctx, "mobile") }

// Tasks returns the app's mix: the feed, items, sometimes the profile.
func (u *MobileUser) Tasks() []worker.Task {
	return []worker.Task{
		{Name: "feed", Weight: 8, Tags: []string{"browse"}, Run: u.feed},
		{Name: "item", Weight: 4, Tags: []string{"browse"}, Run: u.item},
		{Name: "profile", Weight: 1, Tags: []string{"account"}, Run: u.profile},
	}
}

func (u *MobileUser) feed(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/api/feed")
	return err
}

// item accepts a 404: a sold-out item is a normal answer of the API.
func (u *MobileUser) item(ctx context.Context) error {
	_, err := u.Client.Get(ctx, fmt.Sprintf("/api/items/%d", rand.IntN(200)), worker.Name("/api/items/[id]"),
		worker.Check(func(r *worker.Response) error {
			if r.StatusCode == http.StatusNotFound {
				return nil
			}
			return r.StatusError()
		}))
	return err
}

func (u *MobileUser) profile(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/api/profile", worker.Check(u.authCheck))
	return err
}

// classes returns the user classes, named and weighted as in locustfile.py.
func classes() []*worker.UserClass {
	return []*worker.UserClass{
		worker.Class("WebUser", func() *WebUser { return &WebUser{} }).
			Weight(3).Wait(worker.Between(500*time.Millisecond, 2*time.Second)).Options(loginRatio),
		worker.Class("MobileUser", func() *MobileUser { return &MobileUser{} }).
			Weight(1).Wait(worker.ConstantPacing(time.Second)).Options(loginRatio),
	}
}

// demoServerArg takes --demo-server[=ADDR] out of args. It returns the
// address to listen on ("" when the flag is absent) and the other args.
func demoServerArg(args []string) (addr string, rest []string) {
	for _, a := range args {
		switch {
		case a == "--demo-server" || a == "-demo-server":
			addr = "127.0.0.1:0"
		case strings.HasPrefix(a, "--demo-server=") || strings.HasPrefix(a, "-demo-server="):
			addr = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	return addr, rest
}

func main() {
	addr, args := demoServerArg(os.Args[1:])
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatalf("demo server: %v", err)
		}
		go http.Serve(l, shop.New())
		url := "http://" + l.Addr().String()
		fmt.Fprintf(os.Stderr, "demo shop listening on %s (counters at %s/demo/stats)\n", url, url)
		args = append([]string{"--host", url}, args...)
	}
	ctx, stop := worker.SignalContext(context.Background(), os.Stderr) // a second signal exits at once
	code := worker.RunCommand(ctx, args, os.Stdout, os.Stderr, classes()...)
	stop()
	os.Exit(code)
}
