package worker

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// TestDueUsersLine: users are handed out while fewer than max executors
// are ready, wait in line beyond that, first due first, and go to an
// executor one by one as the ready ones begin.
func TestDueUsersLine(t *testing.T) {
	users := make([]*userRun, 6)
	for i := range users {
		users[i] = &userRun{userEnv: userEnv{id: uint64(i)}}
	}
	d := dueUsers{max: 2}
	steps := []struct {
		op        string // "admit N" or "begun"
		user      int    // admit's user
		admitted  bool   // admit's result
		handedOut int    // begun's result: a user's index, -1 none
		waiting   int
	}{
		{op: "admit", user: 0, admitted: true},
		{op: "admit", user: 1, admitted: true},
		{op: "admit", user: 2, waiting: 1}, // two ready: in line
		{op: "admit", user: 3, waiting: 2},
		{op: "begun", handedOut: 2, waiting: 1}, // first in line first
		{op: "admit", user: 4, waiting: 2},      // still two ready
		{op: "begun", handedOut: 3, waiting: 1},
		{op: "begun", handedOut: 4, waiting: 0},
		{op: "begun", handedOut: -1}, // one ready left
		{op: "admit", user: 5, admitted: true},
		{op: "begun", handedOut: -1},
		{op: "begun", handedOut: -1}, // none ready
	}
	for i, s := range steps {
		switch s.op {
		case "admit":
			if got := d.admit(users[s.user]); got != s.admitted {
				t.Fatalf("step %d: admit(user %d) = %v, want %v", i, s.user, got, s.admitted)
			}
		case "begun":
			got, want := d.begun(), (*userRun)(nil)
			if s.handedOut >= 0 {
				want = users[s.handedOut]
			}
			if got != want {
				t.Fatalf("step %d: begun handed out %v, want user %d", i, got, s.handedOut)
			}
		}
		if got := d.line.len(); got != s.waiting {
			t.Fatalf("step %d: %d waiting, want %d", i, got, s.waiting)
		}
	}
	if d.ready != 0 {
		t.Errorf("%d executors ready at the end, want 0", d.ready)
	}
}

// TestDueUsersDefaultMax: the zero line lets readyPerCPU executors a CPU
// be ready.
func TestDueUsersDefaultMax(t *testing.T) {
	var d dueUsers
	admitted := 0
	for range 100_000 {
		if d.admit(&userRun{}) {
			admitted++
		}
	}
	if want := readyPerCPU * runtime.GOMAXPROCS(0); admitted != want {
		t.Errorf("admitted %d of 100,000 at once; want readyPerCPU × GOMAXPROCS = %d", admitted, want)
	}
}

// TestPoolThroughAShortLine: with one executor at a time allowed to be
// ready, 2,000 users waiting a millisecond or less between tasks all
// start, run ten tasks each on average, and stop (OnStart and OnStop
// once each): the line loses and duplicates no user, and its executors
// do not deadlock while users stop.
func TestPoolThroughAShortLine(t *testing.T) {
	const users = 2000
	var started, stopped, tasks atomic.Int64
	enough := make(chan struct{})
	class := Class("Liner", func() *funcUser {
		return &funcUser{
			onStart: func(context.Context) error { started.Add(1); return nil },
			onStop:  func(context.Context) error { stopped.Add(1); return nil },
			tasks: func(*funcUser) []Task {
				return []Task{{Name: "t", Run: func(context.Context) error {
					if tasks.Add(1) == 10*users {
						close(enough)
					}
					return nil
				}}}
			},
		}
	}).Wait(Between(0, time.Millisecond))
	tp := newTestPool(t, class)
	tp.due.max = 1
	tp.setTarget(context.Background(), map[string]int64{"Liner": users})
	waitFor(t, enough, "ten tasks a user")
	tp.stopAllWithin(context.Background(), 0)
	waitPool(t, tp.pool)
	if started.Load() != users || stopped.Load() != users {
		t.Errorf("OnStart ran %d times, OnStop %d; want %d each", started.Load(), stopped.Load(), users)
	}
	tp.due.mu.Lock()
	waiting, ready := tp.due.line.len(), tp.due.ready
	tp.due.mu.Unlock()
	if waiting != 0 || ready != 0 {
		t.Errorf("after the stop: %d users in line, %d executors ready; want 0, 0", waiting, ready)
	}
}

// TestDueUsersHoldForRequests: the line holds from more than
// maxSpawnBacklog requests waiting for the worker until fewer than half
// as many wait, whatever room executors have.
func TestDueUsersHoldForRequests(t *testing.T) {
	var waitingRequests int
	var holdsNoted []int
	d := dueUsers{max: 100, backlog: func() int { return waitingRequests },
		onHold: func(requests int) { holdsNoted = append(holdsNoted, requests) }}
	a, b, c := &userRun{}, &userRun{}, &userRun{}
	steps := []struct {
		requests int
		op       string // admit, begun or stepped
		user     *userRun
		want     any // admit: bool; begun, stepped: *userRun
	}{
		{requests: maxSpawnBacklog, op: "admit", user: a, want: true},
		{requests: maxSpawnBacklog + 1, op: "admit", user: b, want: false},
		{requests: maxSpawnBacklog + 1, op: "begun", want: (*userRun)(nil)},
		{requests: maxSpawnBacklog/2 + 1, op: "stepped", want: (*userRun)(nil)}, // still holding
		{requests: maxSpawnBacklog/2 + 1, op: "admit", user: c, want: false},
		{requests: maxSpawnBacklog / 2, op: "stepped", want: b},
		{requests: maxSpawnBacklog / 2, op: "stepped", want: c},
		{requests: maxSpawnBacklog, op: "stepped", want: (*userRun)(nil)}, // line empty
	}
	for i, s := range steps {
		waitingRequests = s.requests
		var got any
		switch s.op {
		case "admit":
			got = d.admit(s.user)
		case "begun":
			got = d.begun()
		case "stepped":
			got = d.stepped()
		}
		if got != s.want {
			t.Fatalf("step %d: %s with %d requests waiting = %v, want %v", i, s.op, s.requests, got, s.want)
		}
	}
	if len(holdsNoted) != 1 || holdsNoted[0] != maxSpawnBacklog+1 {
		t.Errorf("holds noted with requests waiting: %v, want one, at %d", holdsNoted, maxSpawnBacklog+1)
	}
}

// TestDueUsersLookWhileHolding: a line held for requests that no step's
// end will release (sent by a user's own goroutine) is handed out at a
// look once they are worked off.
func TestDueUsersLookWhileHolding(t *testing.T) {
	var waitingRequests atomic.Int64
	waitingRequests.Store(maxSpawnBacklog + 1)
	handed := make(chan *userRun, 1)
	d := dueUsers{
		max:     10,
		backlog: func() int { return int(waitingRequests.Load()) },
		hand:    func(r *userRun) { handed <- r },
	}
	r := &userRun{}
	if d.admit(r) {
		t.Fatal("admitted while too many requests wait")
	}
	waitingRequests.Store(0)
	select {
	case got := <-handed:
		if got != r {
			t.Fatalf("handed out %p, want %p", got, r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held user was not handed out 10 s after the requests were worked off")
	}
}
