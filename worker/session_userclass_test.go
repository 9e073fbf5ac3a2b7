package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
)

// twoTaskUser counts which of its two tasks run, and the host it got.
type twoTaskUser struct {
	HTTPUser
	one, two *atomic.Int64
	hosts    chan string
}

func (u *twoTaskUser) OnStart(context.Context) error {
	select {
	case u.hosts <- u.Client.Base():
	default:
	}
	return nil
}

func (u *twoTaskUser) Tasks() []Task {
	return []Task{
		{Name: "one", Run: func(context.Context) error { u.one.Add(1); return nil }},
		{Name: "two", Run: func(context.Context) error { u.two.Add(1); return nil }},
	}
}

// TestSessionUpdateUserClass: a newer master's update_user_class sets the
// host and the tasks (by name) of the class's users started after it;
// unknown attributes are ignored.
func TestSessionUpdateUserClass(t *testing.T) {
	var one, two atomic.Int64
	hosts := make(chan string, 16)
	class := Class("A", func() *twoTaskUser { return &twoTaskUser{one: &one, two: &two, hosts: hosts} }).
		Wait(Constant(5 * time.Millisecond)).Host("http://127.0.0.1:1")
	m, _ := startSession(t, class)
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	m.send(protocol.UpdateUserClassMessage{UserClassName: "A", Attributes: map[string]any{
		"host": "http://127.0.0.1:2", "tasks": []any{"two"}, "weight": int64(3), "wait_time": "constant(1)",
	}})
	m.send(protocol.UpdateUserClassMessage{UserClassName: "Nope", Attributes: map[string]any{"host": "http://x"}})
	m.send(protocol.SpawnMessage{Timestamp: time.Unix(1, 0), UserClassesCount: map[string]int64{"A": 2}, ParsedOptions: map[string]any{}})
	m.expect("spawning_complete")
	for range 2 {
		select {
		case h := <-hosts:
			if h != "http://127.0.0.1:2" {
				t.Errorf("user's host %q, want the update's", h)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("users did not start")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for two.Load() < 20 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if one.Load() != 0 || two.Load() < 20 {
		t.Errorf("task one ran %d times, two %d: want only two", one.Load(), two.Load())
	}
}

func TestSelectTasks(t *testing.T) {
	tasks := []Task{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	for _, tc := range []struct {
		names []string
		want  int
	}{{nil, 3}, {[]string{}, 0}, {[]string{"c", "a"}, 2}, {[]string{"zz"}, 0}} {
		if got := selectTasks(tasks, tc.names); len(got) != tc.want {
			t.Errorf("selectTasks(%v) = %d tasks, want %d", tc.names, len(got), tc.want)
		}
	}
}
