//go:build linux

package main

// This file owns the simulated users of the seed scenario, written only
// against golocust's public API, as a newcomer would: web and mobile users
// (3:1), a share of them logged in by OnStart, each paced to one task per
// pacing period. run.go starts this program in its worker role.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	_ "net/http/pprof"
	"os"
	"time"

	"github.com/golocust/golocust/worker"
)

// loginRatio is the share of users that log in, from the master's
// --login-ratio (the locustfile declares it).
var loginRatio = worker.FloatOption("login-ratio", 0.3, "share of users that log in")

// shopper is what web and mobile users share: a login in OnStart for a
// share of them, the session cookie kept by the client's jar.
type shopper struct {
	loggedIn bool
}

// login posts the form with a test account; the shop sets a cookie.
func (s *shopper) login(ctx context.Context, c worker.Client) error {
	if rand.Float64() >= loginRatio.Value() {
		return nil
	}
	_, err := c.Post(ctx, "/login", "application/x-www-form-urlencoded",
		fmt.Appendf(nil, "user=user%d&password=secret", rand.IntN(5000)))
	s.loggedIn = err == nil
	return err
}

// private asks for a page only logged-in users may see: 200 for them, 401
// for the others, and anything else is a failure.
func (s *shopper) private(ctx context.Context, c worker.Client, path string) error {
	_, err := c.Get(ctx, path, worker.Check(func(r *worker.Response) error {
		switch {
		case s.loggedIn && r.StatusCode == 200, !s.loggedIn && r.StatusCode == 401:
			return nil
		}
		return fmt.Errorf("logged in %v: status %d", s.loggedIn, r.StatusCode)
	}))
	return err
}

// WebUser browses the shop from a browser.
type WebUser struct {
	worker.HTTPUser
	shopper
}

// OnStart logs a share of the users in.
func (u *WebUser) OnStart(ctx context.Context) error { return u.login(ctx, u.Client) }

// Tasks returns the web mix.
func (u *WebUser) Tasks() []worker.Task { return webTasks(u.Client, &u.shopper) }

// webTasks is the web mix on either client.
func webTasks(c worker.Client, s *shopper) []worker.Task {
	return []worker.Task{
		{Name: "home", Weight: 3, Run: func(ctx context.Context) error { _, err := c.Get(ctx, "/"); return err }},
		{Name: "item", Weight: 2, Run: func(ctx context.Context) error {
			_, err := c.Get(ctx, fmt.Sprintf("/item/%d", rand.IntN(1000)), worker.Name("/item/[id]"))
			return err
		}},
		{Name: "account", Weight: 1, Run: func(ctx context.Context) error { return s.private(ctx, c, "/account") }},
	}
}

// MobileUser uses the shop's API from the app.
type MobileUser struct {
	worker.HTTPUser
	shopper
}

// OnStart logs a share of the users in.
func (u *MobileUser) OnStart(ctx context.Context) error { return u.login(ctx, u.Client) }

// Tasks returns the app's mix.
func (u *MobileUser) Tasks() []worker.Task { return mobileTasks(u.Client, &u.shopper) }

// mobileTasks is the app's mix on either client.
func mobileTasks(c worker.Client, s *shopper) []worker.Task {
	return []worker.Task{
		{Name: "items", Weight: 2, Run: func(ctx context.Context) error { _, err := c.Get(ctx, "/api/items"); return err }},
		{Name: "profile", Weight: 1, Run: func(ctx context.Context) error { return s.private(ctx, c, "/api/profile") }},
	}
}

// FastWebUser and FastMobileUser are the same users on the fast client.
type FastWebUser struct {
	worker.FastHTTPUser
	shopper
}

// OnStart logs a share of the users in.
func (u *FastWebUser) OnStart(ctx context.Context) error { return u.login(ctx, u.Client) }

// Tasks returns the web mix.
func (u *FastWebUser) Tasks() []worker.Task { return webTasks(u.Client, &u.shopper) }

// FastMobileUser is MobileUser on the fast client.
type FastMobileUser struct {
	worker.FastHTTPUser
	shopper
}

// OnStart logs a share of the users in.
func (u *FastMobileUser) OnStart(ctx context.Context) error { return u.login(ctx, u.Client) }

// Tasks returns the app's mix.
func (u *FastMobileUser) Tasks() []worker.Task { return mobileTasks(u.Client, &u.shopper) }

// runWorker is the worker role: the user classes under the class names
// the locustfile declares, on the client SEED_CLIENT names ("std" or
// "fast"), paced by SEED_PACING.
func runWorker(args []string) int {
	pacing, err := time.ParseDuration(envOr("SEED_PACING", "60s"))
	if err != nil || pacing <= 0 {
		fmt.Fprintln(os.Stderr, "seed: SEED_PACING: want a positive duration like 60s")
		return 2
	}
	wait := worker.ConstantPacing(pacing)
	var web, mobile *worker.UserClass
	switch client := envOr("SEED_CLIENT", "std"); client {
	case "std":
		web = worker.Class("WebUser", func() *WebUser { return &WebUser{} })
		mobile = worker.Class("MobileUser", func() *MobileUser { return &MobileUser{} })
	case "fast":
		web = worker.Class("WebUser", func() *FastWebUser { return &FastWebUser{} })
		mobile = worker.Class("MobileUser", func() *FastMobileUser { return &FastMobileUser{} })
	default:
		fmt.Fprintf(os.Stderr, "seed: SEED_CLIENT %q: want std or fast\n", client)
		return 2
	}
	classes := []*worker.UserClass{
		web.Weight(3).Wait(wait).Options(loginRatio),
		mobile.Weight(1).Wait(wait).Options(loginRatio),
	}
	if addr := os.Getenv("SEED_PPROF"); addr != "" {
		go http.ListenAndServe(addr, nil) // net/http/pprof's handlers, for profiling runs
	}
	ctx, stop := worker.SignalContext(context.Background(), os.Stderr)
	defer stop()
	return worker.RunCommand(ctx, args, os.Stdout, os.Stderr, classes...)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
