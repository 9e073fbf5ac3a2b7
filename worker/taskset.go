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

// compileTasks filters tasks by tags, the way Locust's
// filter_tasks_by_tags does: a set's tags apply to all its tasks, and a set
// is kept when at least one of its tasks is. It returns an error for a
// task that is malformed, or when nothing is left.
func compileTasks(tasks []Task, tags tagFilter) (*setNode, error) {
	root := &setNode{}
	if err := compile(root, tasks, &tags); err != nil {
		return nil, err
	}
	return root, nil
}

// compile is compileTasks into a given root, with the filter passed by
// reference.
//
// Every user compiles its own tasks (they are its own methods) before its
// first wait, on the 2 KB stack it starts with, so setNode.compile keeps
// its frame small and leaves the error messages to compileError.
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

// outcome is how a run of a set ended.
type outcome int

const (
	stopped     outcome = iota // the user must stop
	interrupted                // the set handed control back to its parent
)

// runSet runs the tasks of n until the user stops or, for a nested set
// (depth > 0), until a task interrupts it. A user waiting in a nested set
// has runSet's frame on its stack, so the hooks are in runHookedSet.
func (r *userRun) runSet(n *setNode, wait WaitTime, depth int) outcome {
	if o := n.opts; o != nil {
		if o.wait != nil {
			wait = perUser(o.wait)
		}
		if depth > 0 && (o.onStart != nil || o.onStop != nil) {
			return r.runHookedSet(n, wait, depth)
		}
	}
	return r.runTasks(n, wait, depth)
}

// runHookedSet is runSet for a nested set with an OnStart or OnStop hook.
func (r *userRun) runHookedSet(n *setNode, wait WaitTime, depth int) outcome {
	if n.opts.onStop != nil {
		defer r.runStopHook("TaskSet.on_stop", n.opts.onStop)
	}
	if n.opts.onStart != nil {
		err := r.pool.call(r, n.opts.onStart)
		if errors.Is(err, ErrInterrupt) {
			return interrupted
		}
		if r.handle("TaskSet.on_start", err) {
			return stopped
		}
	}
	return r.runTasks(n, wait, depth)
}

// runTasks is the loop of runSet: pick a task, run it, wait.
func (r *userRun) runTasks(n *setNode, wait WaitTime, depth int) outcome {
	for next := 0; !r.stopping.Load(); {
		var node *taskNode
		node, next = n.pick(next)
		if node.set != nil {
			if r.runSet(node.set, wait, depth+1) == stopped {
				return stopped
			}
			continue // an interrupted set reschedules its parent at once
		}
		pause, out, ok := r.runTask(node, wait, depth)
		if !ok {
			return out
		}
		if pause > 0 {
			// A waiting user waits on one channel, here in runTasks: a
			// select, or one more frame, would cost each waiting user
			// stack, memory and garbage collector time (see run). A stop
			// fires the timer at once (see userRun.stop), and the user's
			// context is only ever cancelled after a stop.
			r.pause.Reset(pause)
			if r.stopping.Load() {
				break
			}
			<-r.pause.C
		}
	}
	return stopped
}

// runTask runs a task and returns the pause that follows it: the wait
// time, or zero when there is none. It returns ok false, with the
// outcome, when the set must end.
func (r *userRun) runTask(node *taskNode, wait WaitTime, depth int) (pause time.Duration, out outcome, ok bool) {
	var start time.Time
	if wait != nil { // a class without wait time needs no clock
		start = time.Now()
	}
	err := r.pool.call(r, node.task.Run)
	if errors.Is(err, ErrInterrupt) && depth > 0 {
		return 0, interrupted, false
	}
	if r.handle(node.task.Name, err) {
		return 0, stopped, false
	}
	if wait != nil {
		pause = wait.Next(time.Since(start))
	}
	if pause <= 0 {
		// A user that never blocks would hold its thread for a whole 10 ms
		// time slice; with thousands of them the worker's own goroutines
		// (heartbeats, the master connection) would wait seconds to run.
		runtime.Gosched()
		return 0, 0, true
	}
	return pause, 0, true
}
