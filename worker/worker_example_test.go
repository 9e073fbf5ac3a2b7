package worker_test

// This file holds the example of Worker, the advanced way in for a
// master; command_example_test.go has Main's and RunCommand's.

import (
	"context"
	"time"

	"github.com/golocust/golocust/worker"
)

// pinger is a user for the Worker example.
type pinger struct{ worker.HTTPUser }

func (u *pinger) Tasks() []worker.Task {
	return []worker.Task{{Name: "ping", Run: func(ctx context.Context) error {
		_, err := u.Client.Get(ctx, "/ping")
		return err
	}}}
}

// ExampleWorker_reliability sets the worker's policy for a lost master:
// users keep running for two minutes without a master (a master that is
// back within that time and still runs the test finds them running), then
// stop while the worker keeps waiting for a master; a spawn asking for
// more than 20,000 users is refused.
func ExampleWorker_reliability() {
	w := &worker.Worker{
		MasterHost:      "127.0.0.1",
		MasterPort:      5557,
		Classes:         []*worker.UserClass{worker.Class("Pinger", func() *pinger { return &pinger{} })},
		NoMasterTimeout: 2 * time.Minute,
		MaxUsers:        20_000,
	}
	// Run returns nil when the master says quit; cancelling ctx (SIGINT,
	// SIGTERM in worker.Main) sends the last statistics and a quit first.
	_ = w.Run
}
