package worker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"time"
)

// TaskSet is a group of tasks that runs as one task of its parent, like a
// Locust TaskSet. Put it in the Set field of a [Task]: when the parent
// picks that task, the user runs the set's tasks, waiting after each, until
// one of them returns [ErrInterrupt] (control goes back to the parent) or
// the user stops. Sets nest to any depth.
//
// A set's state starts afresh each time the parent picks it: a sequential
// set starts at its first task, and OnStart runs again.
type TaskSet struct {
	// Tasks are the set's tasks; a task may itself hold a set.
	Tasks []Task
	// Sequential runs the tasks in order, over and over, like Locust's
	// SequentialTaskSet, instead of picking them by weight. Weights are
	// ignored in a sequential set.
	Sequential bool
	// Wait is the wait after each of the set's tasks; nil uses the wait of
	// the parent (in the end, the user's).
	Wait WaitTime
	// OnStart, if not nil, runs each time the set is entered, like a
	// TaskSet's on_start. Returning ErrInterrupt leaves the set at once.
	OnStart func(ctx context.Context) error
	// OnStop, if not nil, runs each time the set is left, whether by
	// ErrInterrupt or because the user stops, like a TaskSet's on_stop.
	OnStop func(ctx context.Context) error
}

// ErrInterrupt, returned by a task of a [TaskSet] (or by its OnStart),
// leaves the set and hands control back to the parent, which picks its
// next task at once, like Locust's TaskSet.interrupt(). Returned by a task
// of the user itself, which has no parent, it is reported as an error.
var ErrInterrupt = errors.New("worker: interrupt task set")

// taskNode is a task after tag filtering: either a leaf with a Run
// function or a nested set.
type taskNode struct {
	task Task
	set  *setNode
}

// setNode is a TaskSet (or the user's own task list) after tag filtering.
type setNode struct {
	nodes      []taskNode
	cumulative []int
	sequential bool
	wait       WaitTime
	onStart    func(context.Context) error
	onStop     func(context.Context) error
}

// compileTasks filters tasks by tags, the way Locust's
// filter_tasks_by_tags does: a set's tags apply to all its tasks, and a set
// is kept when at least one of its tasks is. It returns an error for a
// task that is malformed, or when nothing is left.
func compileTasks(tasks []Task, tags tagFilter) (*setNode, error) {
	root, err := compileSet(&TaskSet{Tasks: tasks}, tags, nil, 0)
	if err != nil {
		return nil, err
	}
	if len(root.nodes) == 0 {
		if len(tasks) == 0 {
			return nil, errors.New("no tasks")
		}
		return nil, errors.New("no task matches the tag filter")
	}
	return root, nil
}

const maxTaskSetDepth = 64

func compileSet(ts *TaskSet, tags tagFilter, inherited []string, depth int) (*setNode, error) {
	if depth > maxTaskSetDepth {
		return nil, fmt.Errorf("task sets nested more than %d deep (a set containing itself?)", maxTaskSetDepth)
	}
	n := &setNode{sequential: ts.Sequential, wait: ts.Wait, onStart: ts.OnStart, onStop: ts.OnStop}
	total := 0
	for _, t := range ts.Tasks {
		switch {
		case t.Run == nil && t.Set == nil:
			return nil, fmt.Errorf("task %q has neither a Run function nor a Set", t.Name)
		case t.Run != nil && t.Set != nil:
			return nil, fmt.Errorf("task %q has both a Run function and a Set", t.Name)
		case t.Weight < 0:
			return nil, fmt.Errorf("task %q has negative weight %d", t.Name, t.Weight)
		}
		own := inherited
		if len(t.Tags) > 0 {
			own = append(slices.Clip(inherited), t.Tags...)
		}
		node := taskNode{task: t}
		if t.Set != nil {
			sub, err := compileSet(t.Set, tags, own, depth+1)
			if err != nil {
				return nil, fmt.Errorf("task set %q: %w", t.Name, err)
			}
			if len(sub.nodes) == 0 {
				continue
			}
			node.set = sub
		} else if !tags.match(own) {
			continue
		}
		total += max(t.Weight, 1)
		n.nodes = append(n.nodes, node)
		n.cumulative = append(n.cumulative, total)
	}
	return n, nil
}

// pick returns the next task: at random by weight, or the one after
// index i in a sequential set. It returns the index to pass next time.
func (n *setNode) pick(i int) (taskNode, int) {
	if n.sequential {
		return n.nodes[i%len(n.nodes)], (i + 1) % len(n.nodes)
	}
	if len(n.nodes) == 1 {
		return n.nodes[0], 0
	}
	k := rand.IntN(n.cumulative[len(n.cumulative)-1])
	return n.nodes[sort.SearchInts(n.cumulative, k+1)], 0
}

// outcome is how a run of a set ended.
type outcome int

const (
	stopped     outcome = iota // the user must stop
	interrupted                // the set handed control back to its parent
)

// loop runs one user's tasks: the pool, the user's handle and its waits.
type loop struct {
	p     *pool
	r     *userRun
	pause *time.Timer
}

// runSet runs the tasks of n until the user stops or, for a nested set
// (depth > 0), until a task interrupts it.
func (l *loop) runSet(ctx context.Context, n *setNode, wait WaitTime, depth int) outcome {
	if n.wait != nil {
		wait = perUser(n.wait)
	}
	if depth > 0 {
		if n.onStop != nil {
			defer l.p.runStopHook(ctx, l.r, "TaskSet.on_stop", n.onStop)
		}
		if n.onStart != nil {
			err := l.p.call(ctx, n.onStart)
			if errors.Is(err, ErrInterrupt) {
				return interrupted
			}
			if l.p.handle(ctx, l.r, "TaskSet.on_start", err) {
				return stopped
			}
		}
	}
	next := 0
	for {
		select {
		case <-l.r.stopping:
			return stopped
		default:
		}
		var node taskNode
		node, next = n.pick(next)
		start := time.Now()
		if node.set != nil {
			if l.runSet(ctx, node.set, wait, depth+1) == stopped {
				return stopped
			}
			continue // an interrupted set reschedules its parent at once
		}
		err := l.p.call(ctx, node.task.Run)
		if errors.Is(err, ErrInterrupt) && depth > 0 {
			return interrupted
		}
		if l.p.handle(ctx, l.r, node.task.Name, err) {
			return stopped
		}
		if !l.wait(ctx, wait, time.Since(start)) {
			return stopped
		}
	}
}

// wait sleeps for the wait time after a task that ran for taskTime. It
// returns false when the user must stop.
func (l *loop) wait(ctx context.Context, wait WaitTime, taskTime time.Duration) bool {
	if wait == nil {
		runtime.Gosched() // see below
		return true
	}
	d := wait.Next(taskTime)
	if d <= 0 {
		// A user that never blocks would hold its thread for a whole 10 ms
		// time slice; with thousands of them the worker's own goroutines
		// (heartbeats, the master connection) would wait seconds to run.
		runtime.Gosched()
		return true
	}
	l.pause.Reset(d)
	select {
	case <-l.pause.C:
		return true
	case <-l.r.stopping:
	case <-ctx.Done():
	}
	if !l.pause.Stop() {
		select {
		case <-l.pause.C:
		default:
		}
	}
	return false
}
