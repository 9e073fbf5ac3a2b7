// Command testworker is the worker the reliability tests drive: golocust's
// worker.Main with user classes made to be counted, to panic and to burn
// CPU. Each class's requests go to paths the test's target counts:
//
//   - Steady: GET /steady, waits 20-60 ms between tasks.
//   - Panicky: GET /panicky; every 10th run of a user GETs /boom and then
//     panics, so the target counts the panics.
//   - Busy: burns about 0.2 ms of CPU per task and records it, no wait.
//   - Stuck: GET /stuck, then sleeps 30 s ignoring its context, like
//     badly written user code.
//   - Quitter: GET /quitter, waits 20 ms; after its 10th request a user
//     calls worker.StopTest.
//   - Hooked: GET /hooked per task, waiting 20-60 ms; each user sends the
//     master a "hello" message on its first task. Its hooks send "test_start"
//     and "test_stop" messages, and at the stop a "seen" message with the
//     requests the request listener saw in the test.
//   - Shaped: GET /shaped/start from OnStart and /shaped/stop from OnStop,
//     so the target counts the users running; GET /shaped per task,
//     waiting 20-60 ms.
//
// It serves runtime.NumGoroutine() on http://127.0.0.1:<port>/goroutines
// and prints "testworker debug <url>" to stderr.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/stats"
	"github.com/golocust/golocust/worker"
)

// Steady makes one counted request per task.
type Steady struct{ worker.HTTPUser }

// Tasks returns the one request.
func (u *Steady) Tasks() []worker.Task {
	return []worker.Task{{Name: "steady", Run: func(ctx context.Context) error {
		_, err := u.Client.Get(ctx, "/steady")
		return err
	}}}
}

// Panicky panics on every 10th task run, after announcing it to the target.
type Panicky struct {
	worker.HTTPUser
	runs int
}

// Tasks returns the task that sometimes panics.
func (u *Panicky) Tasks() []worker.Task {
	return []worker.Task{{Name: "sometimes", Run: func(ctx context.Context) error {
		u.runs++
		if u.runs%10 == 0 {
			if _, err := u.Client.Get(ctx, "/boom"); err != nil {
				return err
			}
			explode(u.runs)
		}
		_, err := u.Client.Get(ctx, "/panicky")
		return err
	}}}
}

// explode is the panicking function the stack trace names.
func explode(run int) { panic(fmt.Sprintf("testworker: planned panic on run %d", run)) }

// Busy keeps a core busy.
type Busy struct{}

// Tasks returns the CPU burner.
func (*Busy) Tasks() []worker.Task {
	return []worker.Task{{Name: "burn", Run: func(ctx context.Context) error {
		start := time.Now()
		x := 0
		for time.Since(start) < 200*time.Microsecond && ctx.Err() == nil {
			for i := range 1000 {
				x += i * i
			}
		}
		return worker.Record(ctx, "cpu", "burn", time.Since(start), int64(x&1), nil)
	}}}
}

// Stuck ignores its context once it has made its request.
type Stuck struct{ worker.HTTPUser }

// Tasks returns the task that does not stop when asked.
func (u *Stuck) Tasks() []worker.Task {
	return []worker.Task{{Name: "stuck", Run: func(ctx context.Context) error {
		if _, err := u.Client.Get(ctx, "/stuck"); err != nil {
			return err
		}
		time.Sleep(30 * time.Second)
		return nil
	}}}
}

// Quitter ends the test from user code after its 10th request.
type Quitter struct {
	worker.HTTPUser
	runs int
}

// Tasks returns the request that, the 10th time, stops the test.
func (u *Quitter) Tasks() []worker.Task {
	return []worker.Task{{Name: "quitter", Run: func(ctx context.Context) error {
		if _, err := u.Client.Get(ctx, "/quitter"); err != nil {
			return err
		}
		if u.runs++; u.runs == 10 {
			worker.StopTest(ctx)
			return worker.ErrStopUser
		}
		return nil
	}}}
}

// Shaped tells the target when it starts and stops.
type Shaped struct{ worker.HTTPUser }

// OnStart counts the user in.
func (u *Shaped) OnStart(ctx context.Context) error {
	_, err := u.Client.Get(ctx, "/shaped/start")
	return err
}

// OnStop counts the user out; its context is cancelled already when it
// was stopped hard, so it asks on one of its own.
func (u *Shaped) OnStop(ctx context.Context) error {
	_, err := u.Client.Get(context.WithoutCancel(ctx), "/shaped/stop")
	return err
}

// Tasks returns the counted request.
func (u *Shaped) Tasks() []worker.Task {
	return []worker.Task{{Name: "shaped", Run: func(ctx context.Context) error {
		_, err := u.Client.Get(ctx, "/shaped")
		return err
	}}}
}

// Hooked says hello to the master once per user.
type Hooked struct {
	worker.HTTPUser
	said bool
}

// Tasks returns the counted request, and the hello on the first run.
func (u *Hooked) Tasks() []worker.Task {
	return []worker.Task{{Name: "hooked", Run: func(ctx context.Context) error {
		if !u.said {
			u.said = true
			if err := worker.SendMessage(ctx, "hello", map[string]any{"from": "go"}); err != nil {
				return err
			}
		}
		_, err := u.Client.Get(ctx, "/hooked")
		return err
	}}}
}

// testHooks tells the master about each test's start and stop, and how
// many requests the listener saw in it.
func testHooks() *worker.Hooks {
	var seen atomic.Int64
	return &worker.Hooks{
		TestStart: func(ctx context.Context) error {
			seen.Store(0)
			return worker.SendMessage(ctx, "test_start", nil)
		},
		TestStop: func(ctx context.Context) error {
			if err := worker.SendMessage(ctx, "seen", seen.Load()); err != nil {
				return err
			}
			return worker.SendMessage(ctx, "test_stop", nil)
		},
		Request: func(stats.Sample) { seen.Add(1) },
	}
}

func main() {
	if err := serveDebug(); err != nil {
		fmt.Fprintln(os.Stderr, "testworker: debug server:", err)
		os.Exit(1)
	}
	worker.Main(
		worker.Class("Steady", func() *Steady { return &Steady{} }).
			Wait(worker.Between(20*time.Millisecond, 60*time.Millisecond)),
		worker.Class("Panicky", func() *Panicky { return &Panicky{} }).
			Wait(worker.Constant(10*time.Millisecond)),
		worker.Class("Busy", func() *Busy { return &Busy{} }),
		worker.Class("Stuck", func() *Stuck { return &Stuck{} }),
		worker.Class("Quitter", func() *Quitter { return &Quitter{} }).
			Wait(worker.Constant(20*time.Millisecond)),
		worker.Class("Hooked", func() *Hooked { return &Hooked{} }).
			Wait(worker.Between(20*time.Millisecond, 60*time.Millisecond)).Hooks(testHooks()),
		worker.Class("Shaped", func() *Shaped { return &Shaped{} }).
			Wait(worker.Between(20*time.Millisecond, 60*time.Millisecond)),
	)
}

// ownGoroutines counts the goroutines but those of HTTP connections
// (net/http's two per kept-alive client connection, and this server's
// own), which come and go with the connections' idle timeouts.
func ownGoroutines() int {
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		return runtime.NumGoroutine()
	}
	n := 0
	for _, g := range strings.Split(b.String(), "\n\n") {
		if strings.TrimSpace(g) == "" || strings.Contains(g, "net/http.(*persistConn)") || strings.Contains(g, "net/http.(*conn).serve") {
			continue
		}
		n++
	}
	return n
}

func serveDebug() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/goroutines", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strconv.Itoa(ownGoroutines()))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "testworker: debug server:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "testworker debug http://%s\n", l.Addr())
	return nil
}
