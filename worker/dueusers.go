package worker

// This file owns the line of users whose wait is over and who have no
// executor yet: how many executors the pool may have handed a user they
// have not begun to run, and the users that wait beyond that. The
// executors are executors.go's; what they do with a user, userloop.go's.
//
// Why a line: an executor handed a user is a goroutine ready to run, and
// a user in a task holds its executor, stack and all, even while its
// request waits for a place (requestlimit.go). When the worker falls
// behind (another process takes its core, a long collection), users keep
// coming due at their pace, and each one let through made one goroutine
// more: 450,000 users of bench/seed, with a CPU hog on the worker's core
// for 10 s, had 50,000 goroutines ready to run. The goroutines that the
// network wakes, the ones that read the responses, queue behind all of
// them (Go's scheduler polls the network when it has nothing else to
// run, or from sysmon into the tail of the global queue), so requests
// stopped finishing, the target went idle, and due users kept coming,
// each a new executor with a 16 KB stack: 222 to 467 requests a second
// instead of 7,500, 7 to 8 GB of memory, the worker marked missing, long
// after the hog had gone. Bounding the ready executors alone kept the run queue
// short, but the users let through then piled up waiting for requests'
// places (5.7 GB). So users go to an executor only while there is room
// for them on both counts; the others wait here, 8 bytes each, and run
// late, as they would on a slow machine, instead of stalling everyone.
// Users in a task waiting for a response are not counted: a slow target
// still gets all the users it keeps busy.

import (
	"runtime"
	"sync"
	"time"
)

// readyPerCPU bounds, per CPU, the executors handed a user that they
// have not begun to run: as many goroutines ready to run as the request
// limit's behindRunnable counts a worker behind at.
const readyPerCPU = behindRunnable

// dueUsers hands users whose wait is over to executors while there is
// room, and keeps the others in line, first due first. There is room
// while fewer than max executors are ready and the requests waiting for
// the worker (the shared pools' request limits, requestlimit.go) are not
// too many (backlogHolds, as for spawning: spawn.go), since each user
// let through would only wait for a request's place on an executor's
// stack. Users leave the line as executors begin users and end steps,
// and, while the line holds, at a look every lookEvery.
//
// The zero dueUsers lets readyPerCPU executors a CPU (GOMAXPROCS at its
// first use) be ready and never holds for requests.
type dueUsers struct {
	mu      sync.Mutex
	ready   int // executors handed a user that they have not begun to run
	max     int // 0: not yet set
	line    fifo[*userRun]
	holding bool // too many requests wait for the worker
	looking bool // a look is due

	backlog func() int         // requests waiting for the worker; nil: none
	hand    func(r *userRun)   // hands a user out of line to an executor, at a look
	onHold  func(requests int) // the line begins to hold; nil: nothing
}

// admit reports whether r may be handed to an executor now. If not, r
// waits in line.
func (d *dueUsers) admit(r *userRun) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.line.len() == 0 && d.roomLocked() {
		d.ready++
		return true
	}
	d.line.push(r)
	d.lookLaterLocked()
	return false
}

// begun tells that an executor has begun to run the user it was handed.
// It returns the first user in line if there is room now, which the
// caller must hand to an executor, or nil.
func (d *dueUsers) begun() *userRun {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ready--
	return d.nextLocked()
}

// stepped tells that an executor ended a user's step: a request may have
// ended. It returns what begun returns.
func (d *dueUsers) stepped() *userRun {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nextLocked()
}

// nextLocked takes the first user out of line if there is room, counting
// its executor ready; nil if none.
func (d *dueUsers) nextLocked() *userRun {
	if d.line.len() == 0 {
		return nil
	}
	if !d.roomLocked() {
		d.lookLaterLocked() // the hold may have begun here: no admit saw it
		return nil
	}
	d.ready++
	return d.line.pop()
}

// roomLocked reports whether an executor may be handed a user now.
func (d *dueUsers) roomLocked() bool {
	if d.max == 0 {
		d.max = readyPerCPU * runtime.GOMAXPROCS(0)
	}
	if d.ready >= d.max {
		return false
	}
	if d.backlog != nil {
		n := d.backlog()
		was := d.holding
		d.holding = backlogHolds(n, was)
		if d.holding && !was && d.onHold != nil {
			d.onHold(n)
		}
	}
	return !d.holding
}

// lookLaterLocked makes sure the line is looked at again while it holds
// for requests: the requests waiting need not be users' (a user's own
// goroutine may send them), so no step's end may come.
func (d *dueUsers) lookLaterLocked() {
	if d.holding && !d.looking && d.hand != nil {
		d.looking = true
		time.AfterFunc(lookEvery, d.look)
	}
}

// look hands out the users in line there is room for.
func (d *dueUsers) look() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.looking = false
	for r := d.nextLocked(); r != nil; r = d.nextLocked() {
		d.hand(r)
	}
	if d.line.len() > 0 {
		d.lookLaterLocked()
	}
}

// noteLineHold logs that the due users' line holds, at most once per
// holdLogEvery. It is called under the line's lock, so the log line is
// written by a goroutine of its own: a slow log must not hold up every
// executor.
func (p *pool) noteLineHold(requests int) {
	if holds, ok := p.lineHolds.note(p.clock.Now()); ok {
		go p.logger.Warn("users held in line: the worker cannot keep up with its users' requests; they run late",
			"requests_waiting", requests, "holds", holds)
	}
}
