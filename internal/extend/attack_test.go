package extend

// Attacks on the hooks with a real Locust 2.12.1 master: a Go worker run
// in this process, whose TestStart takes longer than one step of the
// master's ramp.

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
	"github.com/golocust/golocust/worker"
)

// slowStartUser is the locustfile's Hooked class in Go.
type slowStartUser struct{ worker.HTTPUser }

func (u *slowStartUser) Tasks() []worker.Task {
	return []worker.Task{{Name: "hooked", Run: func(ctx context.Context) error {
		_, err := u.Client.Get(ctx, "/hooked")
		return err
	}}}
}

// TestAttackSlowTestStartUnderARampBug ramps 6 users at 2 a second: the
// 2.12.1 master sends a spawn message a second. The worker's TestStart
// takes 1.5 s (a login, a data fetch) and reports to the master whether
// its context was cancelled meanwhile; it must not be, since the test has
// not stopped. The master must still end with all 6 users on this worker
// and the worker not missing (heartbeats go on during TestStart).
// startHookedWorker runs a Go worker of m with one class, Hooked, whose
// users make a request every 50 ms, with hooks; it is stopped when the
// test ends. It returns once the master has the worker.
func startHookedWorker(t *testing.T, m *locusttest.Master, hooks *worker.Hooks) {
	t.Helper()
	w := &worker.Worker{
		MasterPort: m.Port,
		Classes:    []*worker.UserClass{worker.Class("Hooked", func() *slowStartUser { return &slowStartUser{} }).Wait(worker.Constant(50 * time.Millisecond)).Hooks(hooks)},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("the worker did not return")
		}
	})
	m.Output.WaitFor(t, "reported as ready", 1, 20*time.Second)
}

func TestAttackSlowTestStartUnderARampBug(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "testdata/hooks.py")
	hooks := &worker.Hooks{TestStart: func(ctx context.Context) error {
		slow := time.NewTimer(1500 * time.Millisecond) // what the hook does, not a wait of the test
		defer slow.Stop()
		var state any
		select {
		case <-slow.C:
		case <-ctx.Done():
			state = "cancelled: " + ctx.Err().Error()
		}
		return worker.SendMessage(ctx, "test_start", state)
	}}
	startHookedWorker(t, m, hooks)
	m.Swarm(t, 6, 2, target.URL)
	m.Output.WaitFor(t, "GO_MESSAGE test_start", 1, 20*time.Second)
	if got := messages(m.Output.String()); len(got) == 0 || got[0] != "test_start None" {
		t.Errorf("the master got %q: TestStart's context was cancelled by the ramp's next step", got)
	}
	locusttest.Eventually(t, 20*time.Second, func() string {
		if s := m.Stats(t); s.UserCount != 6 || s.State != "running" {
			return "master: " + s.State
		}
		return ""
	})
	if n := m.Output.Count("missing"); n != 0 {
		t.Errorf("the master marked the worker missing %d times", n)
	}
}

// TestAttackPayloadsTheMasterSurvives: every payload SendMessage accepts
// reaches a 2.12.1 master's listener without killing its receive loop
// (keys that are not strings, bytes, invalid UTF-8, extreme numbers, 250
// levels of nesting, 8 MiB); those it refuses (ext values, Locust's
// decode-hook keys, funcs) are errors. Afterwards the master still
// counts the worker's users and takes its messages.
func TestAttackPayloadsTheMasterSurvives(t *testing.T) {
	target := locusttest.StartTarget(t, nil)
	m := locusttest.StartMaster(t, "testdata/hooks.py")
	deep := any("bottom")
	for range 250 {
		deep = []any{deep}
	}
	big := make([]byte, 8<<20)
	for i := range big {
		big[i] = 'x'
	}
	accepted := []any{
		map[any]any{nil: 1, true: 2, int64(-1): 3, 1.5: 4, "s": 5, int64(1): "a", float64(1): "b"},
		[]byte{0xff, 0x00},
		"\xff\xfe invalid",
		uint64(math.MaxUint64),
		[]any{math.NaN(), math.Inf(1), math.Inf(-1), math.SmallestNonzeroFloat64},
		map[float64]string{math.NaN(): "nan"},
		struct {
			A int    `json:"a"`
			B []byte `codec:"b"`
		}{1, []byte("x")},
		deep,
		string(big),
	}
	refused := []any{
		time.Now(),
		map[string]any{"__datetime__": true, "as_str": "x"},
		map[string]any{"__ObjectId__": "x"},
		func() {},
		make(chan int),
		map[[2]int]string{{1, 2}: "x"},
	}
	errs := make(chan []error, 1)
	hooks := &worker.Hooks{TestStart: func(ctx context.Context) error {
		var got []error
		for _, p := range accepted {
			got = append(got, worker.SendMessage(ctx, "hello", p))
		}
		for _, p := range refused {
			got = append(got, worker.SendMessage(ctx, "hello", p))
		}
		errs <- got
		return worker.SendMessage(ctx, "test_stop", "sentinel")
	}}
	startHookedWorker(t, m, hooks)
	m.Swarm(t, 2, 10, target.URL)
	var got []error
	select {
	case got = <-errs:
	case <-time.After(20 * time.Second):
		t.Fatal("TestStart did not run")
	}
	for i, err := range got {
		if want := i >= len(accepted); (err != nil) != want {
			t.Errorf("payload %d: err %v, want refused=%v", i, err, want)
		}
	}
	m.Output.WaitFor(t, "GO_MESSAGE test_stop", 1, 20*time.Second)
	if n := m.Output.Count("GO_MESSAGE hello"); n != len(accepted) {
		t.Errorf("the master's listener got %d messages, want %d", n, len(accepted))
	}
	locusttest.Eventually(t, 20*time.Second, func() string {
		if s := m.Stats(t); s.UserCount != 2 || s.Row("Aggregated").NumRequests == 0 {
			return "the master does not count the worker's users and requests"
		}
		return ""
	})
	for _, bad := range []string{"Traceback", "Unrecognized message", "RPCError"} {
		if n := m.Output.Count(bad); n != 0 {
			t.Errorf("the master's output has %d lines with %q", n, bad)
		}
	}
}
