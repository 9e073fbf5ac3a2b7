package worker

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/stats"
)

// hookedUser counts its starts and stops, sends a message on its first
// task and records one request per task.
type hookedUser struct {
	events *hookEvents
	sent   bool
}

type hookEvents struct {
	mu    sync.Mutex
	order []string
	live  atomic.Int64
	tasks atomic.Int64
}

func (e *hookEvents) note(s string) { e.mu.Lock(); e.order = append(e.order, s); e.mu.Unlock() }

func (u *hookedUser) OnStart(context.Context) error { u.events.live.Add(1); return nil }
func (u *hookedUser) OnStop(context.Context) error {
	if u.events.live.Add(-1) == 0 {
		u.events.note("last user stopped")
	}
	return nil
}
func (u *hookedUser) Tasks() []Task {
	return []Task{{Name: "op", Run: func(ctx context.Context) error {
		u.events.tasks.Add(1)
		if !u.sent {
			u.sent = true
			if err := SendMessage(ctx, "hello", map[string]any{"n": 1, "who": "user"}); err != nil {
				return err
			}
		}
		return Record(ctx, "custom", "op", time.Millisecond, 1, nil)
	}}}
}

// TestHooksStandalone: TestStart runs once before any user, TestStop once
// after the last user stopped, the request listener sees every recorded
// request, and a user's SendMessage reaches the run's own handler, its
// data decoded into a struct.
func TestHooksStandalone(t *testing.T) {
	events := &hookEvents{}
	var starts, stops atomic.Int64
	var seen atomic.Int64
	type hello struct {
		N   int    `codec:"n"`
		Who string `codec:"who"`
	}
	var got []hello
	var gotMu sync.Mutex
	hooks := &Hooks{
		TestStart: func(ctx context.Context) error {
			starts.Add(1)
			if events.live.Load() != 0 {
				t.Error("TestStart ran after a user started")
			}
			events.note("test start")
			return nil
		},
		TestStop: func(ctx context.Context) error {
			stops.Add(1)
			events.note("test stop")
			return nil
		},
		Request: func(s stats.Sample) { seen.Add(1) },
		Messages: map[string]func(context.Context, Message){"hello": func(ctx context.Context, m Message) {
			var h hello
			if err := m.Decode(&h); err != nil {
				t.Error(err)
			}
			gotMu.Lock()
			got = append(got, h)
			gotMu.Unlock()
		}},
	}
	class := Class("Hooked", func() *hookedUser { return &hookedUser{events: events} }).Wait(Constant(20 * time.Millisecond)).Hooks(hooks)
	other := Class("Other", func() *hookedUser { return &hookedUser{events: events} }).Wait(Constant(20 * time.Millisecond)).Hooks(hooks)
	s := &Standalone{Users: 4, RunTime: 500 * time.Millisecond, Classes: []*UserClass{class, other}, OnlySummary: true, Output: io.Discard, Logger: discardLogger()}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if starts.Load() != 1 || stops.Load() != 1 {
		t.Errorf("TestStart ran %d times, TestStop %d; want once each (the hooks are on two classes)", starts.Load(), stops.Load())
	}
	events.mu.Lock()
	order := events.order
	events.mu.Unlock()
	if len(order) != 3 || order[0] != "test start" || order[1] != "last user stopped" || order[2] != "test stop" {
		t.Errorf("order %v, want test start, last user stopped, test stop", order)
	}
	if total := res.Stats.Total().NumRequests; seen.Load() != total || total == 0 {
		t.Errorf("the listener saw %d requests, the statistics have %d", seen.Load(), total)
	}
	gotMu.Lock()
	defer gotMu.Unlock()
	if len(got) != 4 || got[0] != (hello{1, "user"}) {
		t.Errorf("handler got %v, want 4 × {1 user}", got)
	}
}

// TestSendMessageOutsideATest: a context without a runner is an error.
func TestSendMessageOutsideATest(t *testing.T) {
	if err := SendMessage(context.Background(), "x", nil); err != ErrNoMaster {
		t.Errorf("err %v, want ErrNoMaster", err)
	}
}
