// Command sleeper is a test worker whose only task sleeps 2 s, back to
// back, recording how each sleep ended and each OnStop.
package main

import (
	"context"
	"errors"
	"time"

	"github.com/golocust/golocust/worker"
)

// Sleeper sleeps.
type Sleeper struct{}

// Tasks returns the one sleep.
func (s *Sleeper) Tasks() []worker.Task {
	return []worker.Task{{Name: "sleep", Run: func(ctx context.Context) error {
		start := time.Now()
		select {
		case <-time.After(2 * time.Second):
			return worker.Record(ctx, "task", "sleep", time.Since(start), 0, nil)
		case <-ctx.Done():
			return worker.Record(ctx, "task", "sleep", time.Since(start), 0, errors.New("cancelled by the stop timeout"))
		}
	}}}
}

// OnStop records that it ran.
func (s *Sleeper) OnStop(ctx context.Context) error {
	return worker.Record(ctx, "hook", "on_stop", 0, 0, nil)
}

func main() {
	worker.Main(worker.Class("Sleeper", func() *Sleeper { return &Sleeper{} }))
}
