package worker

import (
	"context"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// Tests of the rule the user loop is built on (userloop.go): a user
// waiting between tasks holds no goroutine, and so costs far less than
// the 2 KB stack a goroutine starts with.

// waitingUsers is how many users the tests below start: enough that the
// executors that ran their first tasks (a few KB each, gone once idle)
// and the runtime's noise amount to a few bytes a user.
const waitingUsers = 5000

// maxWaitingUserBytes bounds what one waiting user may add to the heap and
// the goroutine stacks. It is the 2 KB stack a goroutine starts with: a
// waiting user that held one would pass it on its stack alone (and the
// goroutine's ~450 B descriptor comes on top). Measured on 2026-12-02,
// go1.26 linux/amd64, with and without -race: 540-600 B for a bare user,
// 770-860 B with HTTPUser or FastHTTPUser, all of it heap, so the bound
// leaves more than 1 KB a user, 5 MB in all, for the runtime's noise.
// With the users holding their executors instead, they cost 5.7-6 KB.
const maxWaitingUserBytes = 2048

// startWaitingUsers starts waitingUsers users of class (a class of
// idleClasses, reporting to a), waits until each has run its task and the
// executors that ran them have exited, and returns how many goroutines
// more than before the process then runs.
func startWaitingUsers(t *testing.T, tp *testPool, a *arrivals) (goroutines int) {
	t.Helper()
	tp.executorIdle = time.Millisecond
	before := runtime.NumGoroutine()
	tp.setTarget(context.Background(), map[string]int64{"Idle": waitingUsers})
	a.wait(t, time.Minute)
	deadline := time.Now().Add(20 * time.Second)
	for {
		goroutines = runtime.NumGoroutine() - before
		if goroutines < 50 || time.Now().After(deadline) {
			return goroutines
		}
		time.Sleep(10 * time.Millisecond) // executors exit once idle for executorIdle; nothing signals it
	}
}

// TestWaitingUsersHoldNoGoroutine: 5,000 waiting users cost the process a
// handful of goroutines.
func TestWaitingUsersHoldNoGoroutine(t *testing.T) {
	a := newArrivals(waitingUsers)
	tp := newTestPool(t, Class("Idle", func() *idleBenchUser { return &idleBenchUser{arrived: a} }).Wait(Constant(time.Hour)))
	if got := startWaitingUsers(t, tp, a); got >= 50 {
		t.Fatalf("%d waiting users hold %d goroutines, want a handful (under 50)", waitingUsers, got)
	}
}

// TestWaitingUserMemory: a waiting user, bare or with either HTTP client,
// adds less than maxWaitingUserBytes to the heap and the stacks, measured
// after two collections. (BenchmarkIdleUserMemory measures the same in a
// fresh process, with the goroutine descriptors a new process pays for.)
func TestWaitingUserMemory(t *testing.T) {
	for _, kind := range idleClasses() {
		t.Run(kind.name, func(t *testing.T) {
			a := newArrivals(waitingUsers)
			tp := newTestPool(t, kind.make(a))
			before := liveMemory()
			startWaitingUsers(t, tp, a)
			after := liveMemory()
			heap := (after.heap - before.heap) / waitingUsers
			stack := (after.stack - before.stack) / waitingUsers
			t.Logf("%d B a waiting user: %d heap, %d stack", heap+stack, heap, stack)
			if heap+stack > maxWaitingUserBytes {
				t.Errorf("a waiting user (%s) costs %d B (%d heap, %d stack), want at most %d",
					kind.name, heap+stack, heap, stack, maxWaitingUserBytes)
			}
		})
	}
}

// TestTasksPerYield: a user that never waits yields its thread after
// every task once the process has as many goroutines as the budget, and
// after at most 8 when it has few, so that runnable goroutines times
// tasks between yields stays within the budget.
func TestTasksPerYield(t *testing.T) {
	for _, tc := range []struct{ goroutines, want int }{
		{0, 8}, {1, 8}, {50, 8}, {256, 8}, {257, 7}, {300, 6}, {512, 4},
		{683, 2}, {1024, 2}, {1025, 1}, {2048, 1}, {2049, 1}, {450_000, 1},
	} {
		got := tasksPerYield(tc.goroutines)
		if got != tc.want {
			t.Errorf("tasksPerYield(%d) = %d, want %d", tc.goroutines, got, tc.want)
		}
		if tc.goroutines > 0 && got > 1 && got*tc.goroutines > yieldBudget {
			t.Errorf("%d goroutines × %d tasks exceed the budget %d", tc.goroutines, got, yieldBudget)
		}
	}
}

// TestUserRunSize: a userRun fits the allocator's 288-byte size class; at
// 289 bytes it takes 320, 32 MB more for a million users.
func TestUserRunSize(t *testing.T) {
	if size := unsafe.Sizeof(userRun{}); size > 288 {
		t.Errorf("userRun is %d bytes, want at most 288 (order its fields so that small ones share words)", size)
	}
}

// TestYielder: a user that never waits yields after its share of tasks,
// or as soon as a task ends yieldSlice or more after its last yield,
// whichever comes first.
func TestYielder(t *testing.T) {
	start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var y yielder
	if !y.due(0) {
		t.Fatal("the zero yielder did not yield after the first task")
	}
	y.reset(start, 50) // 8 tasks
	for i, tc := range []struct {
		elapsed time.Duration
		want    bool
	}{
		{10 * time.Microsecond, false}, {20 * time.Microsecond, false}, {30 * time.Microsecond, false},
		{40 * time.Microsecond, false}, {50 * time.Microsecond, false}, {60 * time.Microsecond, false},
		{70 * time.Microsecond, false}, {80 * time.Microsecond, true}, // the 8th task
	} {
		if got := y.due(tc.elapsed); got != tc.want {
			t.Errorf("fast task %d at %v: due %v, want %v", i+1, tc.elapsed, got, tc.want)
		}
	}
	y.reset(start, 50)
	if y.due(5 * time.Microsecond) {
		t.Error("yielded after a 5 µs task, the first of 8")
	}
	if !y.due(yieldSlice) {
		t.Errorf("did not yield %v after the last yield", yieldSlice)
	}
	y.reset(start, 3000) // many goroutines: every task
	if !y.due(time.Microsecond) {
		t.Error("with 3,000 goroutines, did not yield after a task")
	}
	if !y.since.Equal(start) {
		t.Errorf("since %v, want %v", y.since, start)
	}
}
