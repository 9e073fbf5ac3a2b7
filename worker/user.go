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
package worker

import (
	"context"
	"errors"
)

// User is one simulated user. The runtime makes a new value for every user
// it starts (see [Class]), so fields hold per-user state.
type User interface {
	// Tasks returns the tasks the user picks from. It is called once, when
	// the user starts, after OnStart.
	Tasks() []Task
}

// Task is one thing a user does, picked at random in proportion to Weight.
type Task struct {
	// Name identifies the task in logs and exception reports.
	Name string
	// Weight is the task's relative share of picks; zero counts as one.
	Weight int
	// Tags select the task with include and exclude tag lists.
	Tags []string
	// Run does the work. It must return soon after ctx is cancelled.
	Run func(ctx context.Context) error
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

// ErrStopUser, returned by a task or OnStart, stops that user (Locust's
// StopUser). Its OnStop still runs.
var ErrStopUser = errors.New("worker: stop user")
