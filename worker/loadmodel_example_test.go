package worker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/worker"
)

// Pinger gets "/" once per task.
type Pinger struct{ worker.HTTPUser }

// Tasks returns the one request.
func (p *Pinger) Tasks() []worker.Task {
	return []worker.Task{{Name: "ping", Run: func(ctx context.Context) error {
		_, err := p.Client.Get(ctx, "/")
		return err
	}}}
}

// ExampleStandalone_iterations runs exactly 25 task iterations over 5
// users as fast as they go, capped at 500 a second, then ends the test:
// a smoke test of a fixed size (--iterations 25 --max-rps 500).
func ExampleStandalone_iterations() {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	defer srv.Close()

	run := &worker.Standalone{
		Host: srv.URL, Users: 5, Iterations: 25, MaxRPS: 500,
		Classes: []*worker.UserClass{worker.Class("Pinger", func() *Pinger { return &Pinger{} })},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)), Output: io.Discard,
	}
	res, err := run.Run(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("target served %d, report counts %d\n", served.Load(), res.Stats.Total().NumRequests)
	// Output: target served 25, report counts 25
}

// ExampleShapeFunc is a LoadTestShape in Go: 100 users of every class
// for a minute, then 20 users of the Browser class only for a minute,
// then the end of the test. Standalone asks it once a second.
func ExampleShapeFunc() {
	browser := worker.Class("Browser", func() *Pinger { return &Pinger{} })
	buyer := worker.Class("Buyer", func() *Pinger { return &Pinger{} })
	shape := worker.ShapeFunc(func(elapsed time.Duration) (worker.ShapeTick, bool) {
		switch {
		case elapsed < time.Minute:
			return worker.ShapeTick{Users: 100, SpawnRate: 10}, true
		case elapsed < 2*time.Minute:
			return worker.ShapeTick{Users: 20, SpawnRate: 10, Classes: []*worker.UserClass{browser}}, true
		}
		return worker.ShapeTick{}, false
	})
	run := &worker.Standalone{Host: "http://127.0.0.1:8080", Shape: shape, Classes: []*worker.UserClass{browser, buyer}}
	_ = run // run.Run(ctx) runs the test
}

// ExampleParseStages ramps to 50 users in 30 s, holds them for a minute
// and ramps down, as --stages 30s:50,1m:50,30s:0 does.
func ExampleParseStages() {
	stages, err := worker.ParseStages("30s:50,1m:50,30s:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, at := range []time.Duration{0, 15 * time.Second, 60 * time.Second, 105 * time.Second} {
		tick, _ := stages.Tick(at)
		fmt.Printf("at %v: toward %d users at %g/s\n", at, tick.Users, tick.SpawnRate)
	}
	_, more := stages.Tick(2 * time.Minute)
	fmt.Println("after 2m:", more)
	// Output:
	// at 0s: toward 50 users at 1.6666666666666667/s
	// at 15s: toward 50 users at 1.6666666666666667/s
	// at 1m0s: toward 50 users at 0/s
	// at 1m45s: toward 0 users at 1.6666666666666667/s
	// after 2m: false
}
