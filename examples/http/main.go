// Command http is a golocust worker with two HTTP user classes. Run it as a
// worker of a Locust master that loads locustfile.py beside it:
//
//	locust -f locustfile.py --master &
//	go run ./examples/http --master-host 127.0.0.1 --host http://127.0.0.1:8080
//
// or standalone, without a master:
//
//	go run ./examples/http -H http://127.0.0.1:8080 -u 30 -r 15 -t 30s
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/golocust/golocust/worker"
)

// WebUser browses pages like a desktop visitor.
type WebUser struct {
	worker.HTTPUser
}

// OnStart announces the user once, so a target can count users per class.
func (u *WebUser) OnStart(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/hello/web")
	return err
}

// Tasks returns the pages a WebUser visits: the home page twice as often
// as an item.
func (u *WebUser) Tasks() []worker.Task {
	return []worker.Task{
		{Name: "home", Weight: 2, Run: u.home},
		{Name: "item", Weight: 1, Run: u.item},
	}
}

func (u *WebUser) home(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/")
	return err
}

func (u *WebUser) item(ctx context.Context) error {
	_, err := u.Client.Get(ctx, fmt.Sprintf("/item/%d", rand.IntN(100)), worker.Name("/item/[id]"))
	return err
}

// APIUser polls a JSON endpoint like a mobile app.
type APIUser struct {
	worker.HTTPUser
}

// OnStart announces the user once, so a target can count users per class.
func (u *APIUser) OnStart(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/hello/api")
	return err
}

// Tasks returns the one thing an APIUser does.
func (u *APIUser) Tasks() []worker.Task {
	return []worker.Task{{Name: "status", Run: u.status}}
}

func (u *APIUser) status(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/api/status")
	return err
}

func main() {
	worker.Main(
		worker.Class("WebUser", func() *WebUser { return &WebUser{} }).
			Weight(2).Wait(worker.Between(50*time.Millisecond, 150*time.Millisecond)),
		worker.Class("APIUser", func() *APIUser { return &APIUser{} }).
			Weight(1).Wait(worker.Constant(100*time.Millisecond)),
	)
}
