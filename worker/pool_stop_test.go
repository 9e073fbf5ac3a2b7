package worker

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/stats"
)

// blockingClass's users run one task that waits for release or for the
// user's cancellation, and count which came first.
type blockingProbe struct {
	started             chan struct{}
	release             chan struct{}
	finished, cancelled atomic.Int64
}

func newBlockingProbe() *blockingProbe {
	return &blockingProbe{started: make(chan struct{}, 64), release: make(chan struct{})}
}

func (b *blockingProbe) pool(t *testing.T, stopTimeout time.Duration) *pool {
	t.Helper()
	class := Class("U", func() *funcUser {
		return &funcUser{tasks: func(*funcUser) []Task {
			return []Task{{Name: "block", Run: func(ctx context.Context) error {
				select {
				case b.started <- struct{}{}:
				default:
				}
				select {
				case <-b.release:
					b.finished.Add(1)
				case <-ctx.Done():
					b.cancelled.Add(1)
				}
				return nil
			}}}
		}}
	})
	classes, err := validateClasses([]*UserClass{class})
	if err != nil {
		t.Fatal(err)
	}
	p := newPool(classes, stats.NewCollector(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	p.configure("", stopTimeout, tagFilter{})
	return p
}

func (b *blockingProbe) waitStarted(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-b.started:
		case <-time.After(5 * time.Second):
			t.Fatalf("fewer than %d users started their task", n)
		}
	}
}

// rampDown starts 4 users, then asks for 2 in a spawn that the next spawn
// supersedes (its context is cancelled) while the 2 surplus users are
// still in their task.
func (b *blockingProbe) rampDown(t *testing.T, p *pool) {
	t.Helper()
	p.setTarget(context.Background(), map[string]int64{"U": 4})
	b.waitStarted(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.setTarget(ctx, map[string]int64{"U": 2}); close(done) }()
	for p.counts()["U"] != 2 {
		time.Sleep(time.Millisecond) // setTarget takes them out of the running users first
	}
	cancel()
	<-done
}

// TestRampDownKeepsGracefulStop: Python's worker kills the spawning
// greenlet on a new spawn, but users already stopping keep their graceful
// stop; they must not be cancelled before stop_timeout.
func TestRampDownKeepsGracefulStop(t *testing.T) {
	b := newBlockingProbe()
	p := b.pool(t, time.Minute)
	b.rampDown(t, p)
	close(b.release) // the surplus users' tasks may finish now
	p.stopAllWithin(context.Background(), time.Minute)
	if c := b.cancelled.Load(); c != 0 {
		t.Errorf("%d users cancelled although stop_timeout let their task finish", c)
	}
	waitPool(t, p)
}

// TestStopAllWaitsForLeavingUsers: a stop (or the master's quit) that
// comes while surplus users of a ramp-down are still finishing applies its
// own timeout to them too and waits for them, so their last requests are
// recorded before the final report.
func TestStopAllWaitsForLeavingUsers(t *testing.T) {
	b := newBlockingProbe()
	p := b.pool(t, time.Minute)
	b.rampDown(t, p)
	p.stopAllWithin(context.Background(), 50*time.Millisecond)
	if c := b.cancelled.Load(); c != 4 {
		t.Errorf("after stopAllWithin returned, %d of 4 users were cancelled and done", c)
	}
	waitPool(t, p)
}

// waitPool waits for every user p started to end, and fails the test if
// some are still running 10 s later.
func waitPool(tb testing.TB, p *pool) {
	tb.Helper()
	if !p.waitWithin(10 * time.Second) {
		tb.Fatal("users still running 10 s after they were stopped")
	}
}

// TestStandaloneLeavesStuckUsersBehind: a task that ignores its cancelled
// context must not keep a standalone test from ending.
func TestStandaloneLeavesStuckUsersBehind(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	class := Class("Stuck", func() *funcUser {
		return &funcUser{tasks: func(*funcUser) []Task {
			return []Task{{Name: "ignore ctx", Run: func(context.Context) error { <-stuck; return nil }}}
		}}
	})
	s := &Standalone{Users: 2, RunTime: 200 * time.Millisecond, Classes: []*UserClass{class},
		Output: io.Discard, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan error, 1)
	go func() { _, err := s.Run(context.Background()); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3*stopGrace + 5*time.Second):
		t.Fatal("Run is still waiting for users whose task ignores cancellation")
	}
}
