// Package worker runs simulated users written in Go, either as a worker of a
// Python Locust master or standalone.
//
// A user is an ordinary Go struct. Its tasks are methods that take a context
// and return an error; the runtime picks one task by weight, runs it, waits
// the class's wait time, and repeats until the user is stopped:
//
//	type WebUser struct {
//		worker.HTTPUser // this user's own client and cookie jar
//	}
//
//	func (u *WebUser) Tasks() []worker.Task {
//		return []worker.Task{{Name: "home", Weight: 3, Run: u.home}}
//	}
//
//	func (u *WebUser) home(ctx context.Context) error {
//		_, err := u.Client.Get(ctx, "/")
//		return err
//	}
//
// Everything a Locust user has is here, in Go's terms:
//
//   - user classes ([Class]) with a name, weight, fixed count, host and wait
//     time; a constructor per class, so each user has its own struct;
//   - OnStart and OnStop hooks ([Starter], [Stopper]); OnStop runs however
//     the user ends;
//   - weighted tasks ([Task]), nested and sequential task sets ([TaskSet])
//     that hand control back with [ErrInterrupt], [ErrStopUser] to stop one
//     user and [StopTest] to end the test;
//   - wait times: [Between], [Constant], [ConstantPacing],
//     [ConstantThroughput], any [WaitTimeFunc], or a [Waiter] method;
//   - tags on tasks, selected by the master's --tags/--exclude-tags or the
//     same flags standalone;
//   - custom options ([FloatOption] and friends) read from the master's
//     command line or from flags;
//   - an HTTP client per user ([HTTPUser], [HTTPClient]) with its own
//     cookies, row names ([Name]), catch_response-style checks ([Check])
//     and timeouts; [Record] for any other protocol.
//
// Stopping follows Locust: a user in its wait stops at once; a user in a
// task may finish it within the stop timeout, after which its context is
// cancelled. A request cut short that way is recorded as a failure
// (RequestCancelled), never dropped.
package worker

import (
	"context"
	"errors"
	"time"
)

// User is one simulated user. The runtime makes a new value for every user
// it starts (see [Class]), so fields hold per-user state.
type User interface {
	// Tasks returns the tasks the user picks from. It is called once, when
	// the user starts, after OnStart.
	Tasks() []Task
}

// Task is one thing a user does, picked at random in proportion to Weight.
// A task either does its work in Run or, with Set, runs a nested
// [TaskSet] until the set hands control back.
type Task struct {
	// Name identifies the task in logs and exception reports.
	Name string
	// Weight is the task's relative share of picks; zero counts as one.
	Weight int
	// Tags select the task with include and exclude tag lists, like
	// Locust's @tag. The tags of a task holding a Set apply to every task
	// in the set; a set stays selected while any of its tasks is.
	Tags []string
	// Run does the work. It must return soon after ctx is cancelled. An
	// error that is not a recorded request failure, [ErrStopUser] or
	// [ErrInterrupt] is reported as an exception and the user goes on.
	Run func(ctx context.Context) error
	// Set, instead of Run, makes the task a nested task set.
	Set *TaskSet
}

// Starter is implemented by users that do something once before their
// first task, like Locust's on_start.
type Starter interface {
	OnStart(ctx context.Context) error
}

// Stopper is implemented by users that do something once when they stop,
// like Locust's on_stop. OnStop runs whether the user stopped gracefully
// or was cancelled.
type Stopper interface {
	OnStop(ctx context.Context) error
}

// Waiter is implemented by users that compute their own wait after each
// task, like a wait_time method on a Locust user. It overrides the class's
// wait time (but not the Wait of a [TaskSet]) and may keep state in the
// user's fields.
type Waiter interface {
	// WaitTime returns the wait after a task that ran for taskTime.
	WaitTime(taskTime time.Duration) time.Duration
}

// ErrStopUser, returned by a task, a task set hook or OnStart, stops that
// user (Locust's StopUser). Its OnStop still runs. The other users go on;
// see [StopTest] to end the whole test.
var ErrStopUser = errors.New("worker: stop user")
