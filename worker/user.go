package worker

// This file owns what a user is: the User interface and the methods it
// may have, Task, and the errors that stop a user. How users run is in
// pool.go and userloop.go; task sets in taskset.go; wait times in
// wait.go.

import (
	"context"
	"errors"
	"time"
)

// User is one simulated user. The runtime makes a new value for every user
// it starts (see [Class]), so fields hold per-user state.
//
// Besides Tasks, a user may have any of these methods, called when
// present:
//
//	OnStart(ctx context.Context) error
//	OnStop(ctx context.Context) error
//	WaitTime(taskTime time.Duration) time.Duration
//
// OnStart runs once before the first task, like Locust's on_start;
// returning [ErrStopUser] stops the user, another error is reported as an
// exception and the user goes on. OnStop runs once when the user stops,
// like on_stop, whether it stopped gracefully or was cancelled (with a
// context of its own, so that it can still make requests). WaitTime
// returns the wait after a task that ran for taskTime, like a wait_time
// method: it overrides the class's wait time (but not the Wait of a
// [TaskSet]) and may keep state in the user's fields.
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

// starter is a user with an OnStart method; see User.
type starter interface {
	OnStart(ctx context.Context) error
}

// stopper is a user with an OnStop method; see User.
type stopper interface {
	OnStop(ctx context.Context) error
}

// waiter is a user with a WaitTime method; see User.
type waiter interface {
	WaitTime(taskTime time.Duration) time.Duration
}

// ErrStopUser, returned by a task, a task set hook or OnStart, stops that
// user (Locust's StopUser). Its OnStop still runs. The other users go on;
// see [StopTest] to end the whole test.
var ErrStopUser = errors.New("worker: stop user")
