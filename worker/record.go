package worker

// This file owns what a user's code reaches through its context: the
// user's env (the context itself), Record for protocols other than HTTP,
// and StopTest. The HTTP clients record through request.go.

import (
	"context"
	"time"

	"github.com/golocust/golocust/stats"
)

// userEnv is what the runtime knows about one running user. It is the
// context the user's code gets: the user's own context, which carries the
// env itself as a value. (Being the context saves each user the
// allocation of a context.WithValue.)
type userEnv struct {
	context.Context // the user's own context, which the pool cancels
	id              uint64
	class           *UserClass
	recorder        stats.Recorder // with the request listener (Hooks.Request)
	pool            *pool
}

type envKey struct{}

// Value returns env for envKey and asks the user's own context otherwise.
func (env *userEnv) Value(key any) any {
	if key == (envKey{}) {
		return env
	}
	return env.Context.Value(key)
}

func envFrom(ctx context.Context) *userEnv {
	env, _ := ctx.Value(envKey{}).(*userEnv)
	return env
}

// Record adds one request to the statistics of the user that ctx belongs
// to, for protocols other than HTTP (gRPC, raw TCP, a database driver).
// method is the request type shown in Locust's "Type" column, name the row
// name, elapsed the response time, size the response bytes, and a non-nil
// err marks a failure. Record returns err, marked so that a task may
// return it without the failure being reported a second time as an
// exception. Outside a user's context Record records nothing.
func Record(ctx context.Context, method, name string, elapsed time.Duration, size int64, err error) error {
	if env := envFrom(ctx); env != nil {
		env.recorder.Record(stats.Sample{Method: method, Name: name, Duration: elapsed, Size: size, Err: err, At: time.Now()})
	}
	if err == nil {
		return nil
	}
	return &recordedError{err: err}
}

// StopTest ends the whole test from a user's code, like calling
// environment.runner.quit() in Locust: every user stops the usual way
// (finishing its task within the stop timeout, then OnStop). Standalone,
// the run ends and prints its summary. As a worker, like a Locust worker
// whose runner quits, the worker stops its users, sends its last
// statistics and quits: the master goes on with its other workers and
// stops the test when its last worker has quit. StopTest returns at once; the caller should return from its task
// (for example with [ErrStopUser]). Outside a user's context it does
// nothing.
func StopTest(ctx context.Context) {
	if env := envFrom(ctx); env != nil && env.pool != nil {
		env.pool.requestStopTest(env.class)
	}
}
