// Command quickstart runs a short standalone load test against a demo HTTP
// server it starts itself on 127.0.0.1: two user classes, a live table
// every two seconds, then a summary. Flags after the defaults override them:
//
//	go run ./examples/quickstart            # 20 users, 10/s, 10 s
//	go run ./examples/quickstart -u 50 -t 20s
package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/golocust/golocust/worker"
)

// Visitor reads the shop's pages.
type Visitor struct {
	worker.HTTPUser
}

// Tasks returns a visitor's mix: mostly the home page, sometimes an item.
func (v *Visitor) Tasks() []worker.Task {
	return []worker.Task{
		{Name: "home", Weight: 3, Run: func(ctx context.Context) error {
			_, err := v.Client.Get(ctx, "/")
			return err
		}},
		{Name: "item", Weight: 1, Run: func(ctx context.Context) error {
			_, err := v.Client.Get(ctx, fmt.Sprintf("/item/%d", rand.IntN(50)), worker.Name("/item/[id]"))
			return err
		}},
	}
}

// Buyer adds items to a cart, a slower page.
type Buyer struct {
	worker.HTTPUser
}

// Tasks returns what a buyer does.
func (b *Buyer) Tasks() []worker.Task {
	return []worker.Task{{Name: "cart", Run: func(ctx context.Context) error {
		_, err := b.Client.Post(ctx, "/cart", "application/json", []byte(`{"item":1}`))
		return err
	}}}
}

// demoServer serves the pages the users visit, with a little latency.
func demoServer() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<h1>demo shop</h1>")
	})
	mux.HandleFunc("GET /item/{id}", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
		fmt.Fprintf(w, `{"item":%q}`, r.PathValue("id"))
	})
	mux.HandleFunc("POST /cart", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(10+rand.IntN(20)) * time.Millisecond)
		fmt.Fprint(w, `{"ok":true}`)
	})
	return mux
}

func main() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(l, demoServer())

	classes := []*worker.UserClass{
		worker.Class("Visitor", func() *Visitor { return &Visitor{} }).
			Weight(3).Wait(worker.Between(100*time.Millisecond, 500*time.Millisecond)),
		worker.Class("Buyer", func() *Buyer { return &Buyer{} }).
			Weight(1).Wait(worker.Constant(time.Second)),
	}
	// The command line comes after these defaults and overrides them.
	// -s lets users finish their request when the run ends.
	defaults := []string{"-H", "http://" + l.Addr().String(), "-u", "20", "-r", "10", "-t", "10s", "-s", "5s"}
	ctx, stop := worker.SignalContext(context.Background(), os.Stderr) // a second signal exits at once
	code := worker.RunCommand(ctx, append(defaults, os.Args[1:]...), os.Stdout, os.Stderr, classes...)
	stop()
	os.Exit(code)
}
