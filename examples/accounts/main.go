// Command accounts is the workflow this project was built for: a share of
// the users log in to a shop with known test accounts, each with its own,
// and keep the session cookie. The Locust master hands the accounts out:
// its locustfile reads accounts.csv and, when a test starts, sends each
// worker a disjoint slice in the custom message "accounts"; this worker
// takes its slice into a worker.Feeder (Receive is the message handler),
// and each user takes an account from it in OnStart and gives it back in
// OnStop, so that no account is logged in twice at once.
//
//	locust -f examples/accounts/locustfile.py --master --host http://127.0.0.1:8080
//	go run ./examples/accounts --master-host 127.0.0.1
//
// Standalone there is no master to hand accounts out: -accounts-csv reads
// them from the file instead.
//
//	go run ./examples/accounts -H http://127.0.0.1:8080 -u 50 -t 1m --accounts-csv examples/accounts/accounts.csv
//
// The demo shop is examples/accounts/internal/shop; `go run
// ./examples/accounts/shop` serves it on 127.0.0.1:8080.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/golocust/golocust/worker"
)

// errNoAccount fails a user that found no free account.
var errNoAccount = errors.New("no free test account")

// Customer logs in with an account of its own, then looks at its orders.
type Customer struct {
	worker.HTTPUser
	accounts *worker.Feeder
	account  worker.Row
}

// OnStart takes an account and logs in with it; without one the user
// stops, its failure recorded on the row "account".
func (c *Customer) OnStart(ctx context.Context) error {
	account, ok := c.accounts.Take()
	if !ok {
		worker.Record(ctx, "account", "take", 0, 0, errNoAccount)
		return worker.ErrStopUser
	}
	c.account = account
	_, err := c.Client.PostForm(ctx, "/login", url.Values{
		"username": {account["username"]}, "password": {account["password"]},
	})
	return err
}

// OnStop logs out and gives the account back.
func (c *Customer) OnStop(ctx context.Context) error {
	if c.account == nil {
		return nil
	}
	defer c.accounts.Return(c.account)
	_, err := c.Client.Post(context.WithoutCancel(ctx), "/logout", "", nil)
	return err
}

// Tasks are the customer's pages, weighted like the locustfile's.
func (c *Customer) Tasks() []worker.Task {
	return []worker.Task{
		{Name: "orders", Weight: 3, Run: func(ctx context.Context) error { _, err := c.Client.Get(ctx, "/orders"); return err }},
		{Name: "home", Run: func(ctx context.Context) error { _, err := c.Client.Get(ctx, "/"); return err }},
	}
}

func main() {
	accounts := worker.NewFeeder(worker.Unique)
	csvPath := worker.StringOption("accounts-csv", "", "standalone: read the test accounts from this CSV file (username,password) instead of the master's message")
	hooks := &worker.Hooks{
		Messages: map[string]func(context.Context, worker.Message){"accounts": accounts.Receive},
		TestStart: func(ctx context.Context) error {
			if path := csvPath.Value(); path != "" {
				return fill(accounts, path)
			}
			return nil
		},
	}
	worker.Main(
		worker.Class("Customer", func() *Customer { return &Customer{accounts: accounts} }).
			Wait(worker.Between(200*time.Millisecond, 600*time.Millisecond)).
			Options(csvPath).
			Hooks(hooks),
	)
}

// fill replaces the accounts with the rows of the CSV file at path.
func fill(accounts *worker.Feeder, path string) error {
	rows, err := worker.ReadCSVRows(path)
	if err != nil {
		return fmt.Errorf("--accounts-csv: %w", err)
	}
	accounts.Fill(rows)
	return nil
}
