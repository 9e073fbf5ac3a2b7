package worker

// This file owns a user's tasks: TaskSet, compiling a user's task list
// (tag filter, checks), picking the next task, and asking for the wait
// after it. Running them is userloop.go's; the wait times are in wait.go.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
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
// function or a nested set. Every user has its own, so it keeps only what
// running the task needs.
type taskNode struct {
	task leafTask
	set  *setNode
}

// leafTask is what running a task needs of it: its name, for reports, and
// its Run function.
type leafTask struct {
	Name string
	Run  func(ctx context.Context) error
}

// setNode is a TaskSet (or the user's own task list) after tag filtering.
type setNode struct {
	nodes      []taskNode
	cumulative []int       // the running sums of the weights; nil for one task
	opts       *setOptions // nil for the user's own task list
}

// setOptions are the settings of a nested TaskSet, as they were when the
// user compiled its tasks.
type setOptions struct {
	sequential bool
	wait       WaitTime
	onStart    func(context.Context) error
	onStop     func(context.Context) error
}

// compile fills root with the tasks that tags select, the way Locust's
// filter_tasks_by_tags does: a set's tags apply to all its tasks, and a set
// is kept when at least one of its tasks is. It returns an error for a
// task that is malformed, or when nothing is left.
//
// Every user compiles its own tasks (they are its own methods) before its
// first task; setNode.compile leaves the error messages to compileError.
func compile(root *setNode, tasks []Task, tags *tagFilter) error {
	if err := root.compile(tasks, tags, nil, 0); err != nil {
		return err
	}
	if len(root.nodes) == 0 {
		if len(tasks) == 0 {
			return errors.New("no tasks")
		}
		return errors.New("no task matches the tag filter")
	}
	return nil
}

const maxTaskSetDepth = 64

// compile adds the tasks of a set that tags select to n. inherited are
// the tags of the tasks holding the set.
func (n *setNode) compile(tasks []Task, tags *tagFilter, inherited []string, depth int) error {
	if depth > maxTaskSetDepth {
		return compileError(nil, nil)
	}
	n.nodes = make([]taskNode, 0, len(tasks))
	if len(tasks) > 1 { // pick needs no weights to pick from one task
		n.cumulative = make([]int, 0, len(tasks))
	}
	total := 0
	for i := range tasks {
		t := &tasks[i]
		if (t.Run == nil) == (t.Set == nil) || t.Weight < 0 {
			return compileError(t, nil)
		}
		own := inherited
		if len(t.Tags) > 0 {
			own = append(slices.Clip(inherited), t.Tags...)
		}
		var sub *setNode
		if set := t.Set; set != nil {
			sub = &setNode{opts: &setOptions{sequential: set.Sequential, wait: set.Wait, onStart: set.OnStart, onStop: set.OnStop}}
			if err := sub.compile(set.Tasks, tags, own, depth+1); err != nil {
				return compileError(t, err)
			}
			if len(sub.nodes) == 0 {
				continue
			}
		} else if !tags.match(own) {
			continue
		}
		if total > math.MaxInt32-max(t.Weight, 1) {
			return fmt.Errorf("task %q: the weights of a set add up to more than %d", t.Name, math.MaxInt32)
		}
		total += max(t.Weight, 1)
		n.nodes = n.nodes[:len(n.nodes)+1] // within the capacity made above
		node := &n.nodes[len(n.nodes)-1]
		node.task, node.set = leafTask{Name: t.Name, Run: t.Run}, sub
		if n.cumulative != nil {
			n.cumulative = append(n.cumulative, total)
		}
	}
	return nil
}

// compileError returns setNode.compile's error about task t: what is
// wrong with it, or, with err, that its set failed to compile. With
// neither it is the error of sets nested too deep.
func compileError(t *Task, err error) error {
	switch {
	case t == nil:
		return fmt.Errorf("task sets nested more than %d deep (a set containing itself?)", maxTaskSetDepth)
	case err != nil:
		return fmt.Errorf("task set %q: %w", t.Name, err)
	case t.Run == nil && t.Set == nil:
		return fmt.Errorf("task %q has neither a Run function nor a Set", t.Name)
	case t.Run != nil && t.Set != nil:
		return fmt.Errorf("task %q has both a Run function and a Set", t.Name)
	default:
		return fmt.Errorf("task %q has negative weight %d", t.Name, t.Weight)
	}
}

// pick returns the next task: at random by weight, or the one after
// index i in a sequential set. It returns the index to pass next time.
func (n *setNode) pick(i int) (*taskNode, int) {
	if n.opts != nil && n.opts.sequential {
		return &n.nodes[i%len(n.nodes)], (i + 1) % len(n.nodes)
	}
	if len(n.nodes) == 1 {
		return &n.nodes[0], 0
	}
	k := rand.IntN(n.cumulative[len(n.cumulative)-1])
	return &n.nodes[sort.SearchInts(n.cumulative, k+1)], 0
}

// waitAfterPanic is the pause after a wait time that panicked, in place of
// the wait it did not return.
const waitAfterPanic = time.Second

// nextWait returns wait's pause after a task that ran for taskTime. A wait
// time is user code: a panic in it is reported like a task's, and the user
// pauses waitAfterPanic, so that a wait time that always panics costs an
// exception a second, never a spinning core.
func (r *userRun) nextWait(wait WaitTime, taskTime time.Duration) (pause time.Duration) {
	defer func() {
		if v := recover(); v != nil {
			r.pool.report(r.class, "wait_time", recovered(v))
			pause = waitAfterPanic
		}
	}()
	return wait.Next(taskTime)
}
