package worker

// Hostile review of the idle executors' FIFO ring (executors.go): ring
// indexes at wraparound and growth, the order and idleSince invariants,
// one message per queued executor, the timer's restart, the ring's size,
// and how the pool's size follows the users it hands out a tick.

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// reviewCheckRing checks x's ring against want, the executors expected
// idle in order: same order from head on, idleSince never decreasing and
// never beyond the tick, every slot outside the n executors nil (a stale
// pointer would keep a retired executor and its channel alive), and no
// message waiting on a queued executor's channel (a second send would
// block the retiring tick under the lock). The caller holds no lock.
func reviewCheckRing(t *testing.T, x *idleExecutors, want []*executor, step int) {
	t.Helper()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.queue.n != len(want) {
		t.Fatalf("step %d: n = %d, want %d", step, x.queue.n, len(want))
	}
	if x.queue.n > len(x.queue.buf) || (len(x.queue.buf) > 0 && (x.queue.head < 0 || x.queue.head >= len(x.queue.buf))) {
		t.Fatalf("step %d: head %d, n %d, ring of %d", step, x.queue.head, x.queue.n, len(x.queue.buf))
	}
	var prev uint64
	for i := range x.queue.n {
		e := x.queue.buf[(x.queue.head+i)%len(x.queue.buf)]
		if e != want[i] {
			t.Fatalf("step %d: position %d holds %p, want %p", step, i, e, want[i])
		}
		if e.idleSince < prev || e.idleSince > x.tick {
			t.Fatalf("step %d: position %d idle since tick %d, after %d, at tick %d", step, i, e.idleSince, prev, x.tick)
		}
		prev = e.idleSince
		if len(e.next) != 0 {
			t.Fatalf("step %d: queued executor at %d has a message waiting", step, i)
		}
	}
	for i := x.queue.n; i < len(x.queue.buf); i++ {
		if e := x.queue.buf[(x.queue.head+i)%len(x.queue.buf)]; e != nil {
			t.Fatalf("step %d: free slot %d of %d still points at an executor", step, (x.queue.head+i)%len(x.queue.buf), len(x.queue.buf))
		}
	}
}

// TestExecutorsReviewRingGrowsAtWraparound: the ring grows while full
// with its head in the middle (n == len, head != 0), and again with the
// queue split across the ring's end; retirements then cross the ring's
// end. Guard.
func TestExecutorsReviewRingGrowsAtWraparound(t *testing.T) {
	var x idleExecutors
	t.Cleanup(func() { x.timer.Stop() })
	tick := func() { tickByHand(&x) }
	var want []*executor
	step := 0
	put := func(k int) {
		for range k {
			e := newExecutor()
			x.put(e, time.Hour)
			want = append(want, e)
		}
		step++
		reviewCheckRing(t, &x, want, step)
	}
	take := func(k int) {
		for range k {
			if got := x.take(); got != want[0] {
				t.Fatalf("step %d: took %p, want %p", step, got, want[0])
			}
			want = want[1:]
		}
		step++
		reviewCheckRing(t, &x, want, step)
	}
	put(64) // full ring of 64
	take(10)
	put(10) // full again, head 10, wrapped
	x.mu.Lock()
	if x.queue.n != len(x.queue.buf) || x.queue.head != 10 {
		t.Fatalf("setup: n %d, ring %d, head %d; want a full ring of 64 with head 10", x.queue.n, len(x.queue.buf), x.queue.head)
	}
	x.mu.Unlock()
	put(1) // grows from a full ring with head 10
	take(60)
	put(124) // wraps around the ring of 128, fills it (head 60), grows again
	tick()   // 1
	put(5)   // idle since tick 1
	tick()   // 2: everything idle since tick 0 exits
	for len(want) > 0 && want[0].idleSince == 0 {
		if !retired(want[0]) {
			t.Fatalf("executor idle since tick 0 not retired at tick 2")
		}
		want = want[1:]
	}
	reviewCheckRing(t, &x, want, 100)
	if len(want) != 5 {
		t.Fatalf("%d left after tick 2, want the 5 idle since tick 1", len(want))
	}
	tick() // 3
	for _, e := range want {
		if !retired(e) {
			t.Fatal("executor idle since tick 1 not retired at tick 3")
		}
	}
	reviewCheckRing(t, &x, nil, 101)
}

// TestExecutorsReviewRingModel: random puts, takes, hand-backs and ticks
// against a plain slice model. Every executor retired gets exactly one nil,
// every executor taken none, and the ring matches the model after every
// operation. Guard.
func TestExecutorsReviewRingModel(t *testing.T) {
	grewSplit := 0
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var x idleExecutors
		var model []*executor // idle, in order
		var busy []*executor  // taken, running a user
		tick := func() {
			x.mu.Lock()
			x.retireLocked()
			now := x.tick
			x.mu.Unlock()
			for len(model) > 0 && model[0].idleSince+2 <= now {
				e := model[0]
				model = model[1:]
				select {
				case r := <-e.next:
					if r != nil {
						t.Fatalf("seed %d: retired executor handed a user", seed)
					}
				default:
					t.Fatalf("seed %d: executor idle since %d not retired at tick %d", seed, e.idleSince, now)
				}
				if len(e.next) != 0 {
					t.Fatalf("seed %d: retired executor got a second message", seed)
				}
			}
		}
		for step := range 4000 {
			switch op := rng.IntN(100); {
			case op < 35: // a burst of new executors
				for range 1 + rng.IntN(40) {
					e := newExecutor()
					x.mu.Lock()
					if x.queue.n == len(x.queue.buf) && x.queue.head != 0 {
						grewSplit++ // the put grows a full ring whose head is not at 0
					}
					x.mu.Unlock()
					x.put(e, time.Hour)
					model = append(model, e)
				}
			case op < 65: // submits
				for range 1 + rng.IntN(40) {
					got := x.take()
					if len(model) == 0 {
						if got != nil {
							t.Fatalf("seed %d step %d: take from empty gave %p", seed, step, got)
						}
						break
					}
					if got != model[0] {
						t.Fatalf("seed %d step %d: took %p, want the oldest %p", seed, step, got, model[0])
					}
					model = model[1:]
					busy = append(busy, got)
				}
			case op < 95: // users end their step: executors go idle again
				k := rng.IntN(len(busy) + 1)
				for range k {
					i := rng.IntN(len(busy))
					e := busy[i]
					busy[i] = busy[len(busy)-1]
					busy = busy[:len(busy)-1]
					if len(e.next) != 0 {
						t.Fatalf("seed %d step %d: a taken executor got a message", seed, step)
					}
					x.put(e, time.Hour)
					model = append(model, e)
				}
			default:
				tick()
			}
			reviewCheckRing(t, &x, model, step)
		}
		x.timer.Stop()
	}
	if grewSplit == 0 {
		t.Error("no growth of a full ring with its head past 0: the model missed the case")
	}
	t.Logf("%d growths of a full ring with its head past 0", grewSplit)
}

// TestExecutorsReviewInvariantUnderRacingTicks: with the real timer at
// 20 µs, goroutines put and take while the ticks retire; a checker walks
// the ring under the lock: idleSince never decreases along it and never
// exceeds the tick, free slots are nil. Then every executor exits and the
// timer stops, and a later put starts it again. Guard (run with -race).
func TestExecutorsReviewInvariantUnderRacingTicks(t *testing.T) {
	const period = 20 * time.Microsecond
	var x idleExecutors
	var live sync.WaitGroup
	var handed, ran atomic.Int64
	run := func(e *executor, r *userRun) {
		defer live.Done()
		for r != nil {
			ran.Add(1)
			x.put(e, period)
			r = <-e.next
		}
	}
	submit := func() {
		handed.Add(1)
		if e := x.take(); e != nil {
			e.next <- &userRun{}
			return
		}
		live.Add(1)
		go run(newExecutor(), &userRun{})
	}
	stop := make(chan struct{})
	var checks sync.WaitGroup
	checks.Add(1)
	go func() {
		defer checks.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			x.mu.Lock()
			var prev uint64
			bad := ""
			for i := range x.queue.n {
				e := x.queue.buf[(x.queue.head+i)%len(x.queue.buf)]
				if e.idleSince < prev {
					bad = "idleSince decreases along the queue"
				}
				if e.idleSince > x.tick {
					bad = "idleSince beyond the tick"
				}
				prev = e.idleSince
			}
			for i := x.queue.n; i < len(x.queue.buf); i++ {
				if x.queue.buf[(x.queue.head+i)%len(x.queue.buf)] != nil {
					bad = "free slot not nil"
				}
			}
			if x.queue.n > 0 && !x.ticking {
				bad = "executors idle, timer not ticking"
			}
			x.mu.Unlock()
			if bad != "" {
				t.Error(bad)
				return
			}
			time.Sleep(10 * time.Microsecond)
		}
	}()
	var subs sync.WaitGroup
	for s := range 4 {
		subs.Add(1)
		go func() {
			defer subs.Done()
			for i := range 20000 {
				submit()
				if (i+s)%97 == 0 {
					time.Sleep(time.Duration(1+i%5) * period) // let the queue drain to empty now and then
				}
			}
		}()
	}
	subs.Wait()
	done := make(chan struct{})
	go func() { live.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("executors still alive 5 s after the last submit")
	}
	close(stop)
	checks.Wait()
	if handed.Load() != ran.Load() {
		t.Fatalf("%d users handed, %d ran", handed.Load(), ran.Load())
	}
	// The timer stopped with the queue empty; the next put starts it again.
	deadline := time.Now().Add(time.Second)
	for {
		x.mu.Lock()
		n, ticking := x.queue.n, x.ticking
		x.mu.Unlock()
		if n == 0 && !ticking {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle, ticking %v, after every executor exited", n, ticking)
		}
		time.Sleep(time.Millisecond)
	}
	e := newExecutor()
	x.put(e, period)
	select {
	case r := <-e.next:
		if r != nil {
			t.Fatal("handed a user, want exit")
		}
	case <-time.After(time.Second):
		t.Fatal("a put after the timer stopped was never retired: the timer did not restart")
	}
}

// TestExecutorsReviewRingAfterBurst: 100,000 executors idle at once, then
// all retired. No slot keeps an executor (guard); the ring itself is never
// given back (logged: 131,072 slots, 1 MB, for the pool's life; the LIFO
// slice kept its capacity too).
func TestExecutorsReviewRingAfterBurst(t *testing.T) {
	const burst = 100000
	var x idleExecutors
	t.Cleanup(func() { x.timer.Stop() })
	for range burst {
		x.put(newExecutor(), time.Hour)
	}
	x.mu.Lock()
	x.retireLocked()
	x.retireLocked()
	n, size := x.queue.n, len(x.queue.buf)
	x.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d executors left after two ticks", n)
	}
	reviewCheckRing(t, &x, nil, 0)
	if size > 2*burst {
		t.Errorf("ring of %d slots for a burst of %d", size, burst)
	}
	t.Logf("after the burst retired: ring of %d slots (%d KB of nil pointers) kept", size, size*8/1024)
}

// TestExecutorsReviewPoolFollowsHandOffs: after a burst of 100 executors,
// the pool keeps about as many as it hands users a tick, one user at a
// time (never more than one running): all 100 while it hands out 100 a
// tick, and at most 2×10 once it hands out 10 a tick (an executor exits
// one to two ticks after its last user). A stack (most recently idle
// first) would keep one or two in both cases; this is the queue's price
// for having a burst's executors ready (executors.go's header).
func TestExecutorsReviewPoolFollowsHandOffs(t *testing.T) {
	const burst, ticks = 100, 6
	for _, tc := range []struct {
		perTick         int
		atLeast, atMost int
	}{
		{perTick: 100, atLeast: 100, atMost: 100},
		{perTick: 10, atLeast: 10, atMost: 20},
		{perTick: 1, atLeast: 1, atMost: 2},
	} {
		var x idleExecutors
		t.Cleanup(func() { x.timer.Stop() })
		for range burst {
			x.put(newExecutor(), time.Hour)
		}
		started := 0
		for range ticks {
			for range tc.perTick { // one user at a time
				e := x.take()
				if e == nil {
					e = newExecutor() // submit would start one
					started++
				}
				x.put(e, time.Hour) // its step done, it waits again
			}
			tickByHand(&x)
		}
		x.mu.Lock()
		idle := x.queue.n
		x.mu.Unlock()
		if idle < tc.atLeast || idle > tc.atMost || started != 0 {
			t.Errorf("%d users a tick for %d ticks after a burst of %d: %d executors idle, %d started; want %d to %d, 0 started",
				tc.perTick, ticks, burst, idle, started, tc.atLeast, tc.atMost)
		}
	}
}
