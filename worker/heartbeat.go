package worker

// This file owns the worker's heartbeats to its master, the CPU figure
// they carry (a share of the worker's cores) and the measure of how late
// they come. The session starts them (session.go) and logs the worst gap
// at the end of each test (session_jobs.go) and when it ends.

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/golocust/golocust/protocol"
)

// lateHeartbeat is the gap between two heartbeats that the gap meter
// counts as late: a master marks a worker missing after about 4.5 s
// without one, and a gap over 2 s means the worker's own scheduling, not
// the network, held a heartbeat back.
const lateHeartbeat = 2 * time.Second

// gapMeter measures the gaps between consecutive heartbeats handed to the
// transport (which takes them even when large bodies fill its queue, see
// protocol's controlReserve, but writes them in turn, and not at all
// while the master does not read). It is safe for concurrent use: the
// heartbeat goroutine observes, the session loop takes the figures at the
// end of a test.
type gapMeter struct {
	mu    sync.Mutex
	last  time.Time
	worst time.Duration
	late  int // gaps of lateHeartbeat or more
	beats int
}

// observe records a heartbeat sent at now.
func (g *gapMeter) observe(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.last.IsZero() {
		gap := now.Sub(g.last)
		g.worst = max(g.worst, gap)
		if gap >= lateHeartbeat {
			g.late++
		}
	}
	g.last = now
	g.beats++
}

// heartbeatGaps is what a gapMeter measured over one test.
type heartbeatGaps struct {
	Worst time.Duration // the longest gap between two heartbeats
	Late  int           // gaps of lateHeartbeat or more
	Beats int           // heartbeats sent
}

// take returns what the meter measured since the last take and starts
// measuring afresh; the next gap is measured from the last heartbeat.
func (g *gapMeter) take() heartbeatGaps {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := heartbeatGaps{Worst: g.worst, Late: g.late, Beats: g.beats}
	g.worst, g.late, g.beats = 0, 0, 0
	return out
}

// heartbeats sends a heartbeat every second until ctx is done. They have
// their own goroutine so that nothing the session loop waits for holds
// them up (docs/protocol.md, §7 item 10).
func (s *session) heartbeats(ctx context.Context) {
	var sampler processSampler
	sampler.sample(time.Now())
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.heartbeat(time.Now(), &sampler) // not the tick's time: a late tick is a late heartbeat
		}
	}
}

// heartbeat sends one heartbeat at now, with the worker's state and the
// process's figures, and records its time in s.gaps.
func (s *session) heartbeat(now time.Time, sampler *processSampler) {
	oneCore, rss := sampler.sample(now)
	cpu := shareOfCores(oneCore, runtime.GOMAXPROCS(0))
	err := s.send(protocol.HeartbeatMessage{State: s.currentState(), CPUUsage: cpu, MemoryUsage: rss})
	switch {
	case err == nil:
		s.gaps.observe(now)
	case errors.Is(err, protocol.ErrQueueFull):
		s.warnLimited(now, "heartbeat-queue-full", "a heartbeat could not be queued: the master reads too slowly and the send queue is full")
	}
}

// shareOfCores turns the process's CPU use in percent of one core
// (processSampler's figure: 200 is two cores busy) into the heartbeat's
// current_cpu_usage: percent of procs cores, so that 100 means every core
// the worker has is busy. A Python worker, held to one core by its GIL,
// reports psutil's percent of one core, which means the same; Locust's
// master warns above 90.
//
// procs is GOMAXPROCS, not NumCPU. NumCPU counts the CPUs the process
// may run on (its affinity); GOMAXPROCS is by default at most that and,
// on Linux since Go 1.25 (for a program whose go.mod says go 1.25 or
// later), also follows the container's CPU limit (cgroup quota): a
// worker limited to 2 CPUs on a 64-core node is busy at 100, not at 3.
// It is also what the scheduler runs Go code on: a user who sets
// GOMAXPROCS=1 gives the worker one core. It is read at each heartbeat,
// as the runtime changes it when the limit changes. The figure is not
// capped: threads in system calls or cgo can take a little more than
// procs cores, and then it exceeds 100. A procs below 1 counts as 1.
func shareOfCores(oneCore float64, procs int) float64 {
	return oneCore / float64(max(procs, 1))
}

// logHeartbeatGaps logs how regular the heartbeats were since the last
// call: at the end of every test.
func (s *session) logHeartbeatGaps() {
	g := s.gaps.take()
	level := "heartbeats during the test"
	args := []any{"worst_gap", g.Worst.Round(time.Millisecond), "late", g.Late, "sent", g.Beats}
	if g.Late > 0 {
		s.logger.Warn(level+": some were late; the master may have marked this worker missing", args...)
		return
	}
	s.logger.Info(level, args...)
}
