package worker

// This file tests the heartbeat's CPU figure: the process's CPU time
// over the wall time, as a share of the worker's cores.

import (
	"testing"
	"time"
)

// TestHeartbeatCPUShare feeds made-up CPU times (what getrusage would
// say) and times to the sampler, and checks the heartbeat's figure for
// workers of 1, 2 and 4 cores: 100 means all of them busy.
func TestHeartbeatCPUShare(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	steps := []struct {
		wall, cpu time.Duration // since t0: wall clock, and the process's CPU time
		want      [3]float64    // with GOMAXPROCS 1, 2, 4
	}{
		{0, 10 * time.Second, [3]float64{0, 0, 0}},                                          // first sample
		{time.Second, 12 * time.Second, [3]float64{200, 100, 50}},                           // two cores busy for 1 s
		{2 * time.Second, 12*time.Second + 500*time.Millisecond, [3]float64{50, 25, 12.5}},  // half a core
		{4 * time.Second, 20*time.Second + 500*time.Millisecond, [3]float64{400, 200, 100}}, // four cores for 2 s
		{5 * time.Second, 20*time.Second + 500*time.Millisecond, [3]float64{0, 0, 0}},       // idle
	}
	for i, procs := range []int{1, 2, 4} {
		var p processSampler
		for _, s := range steps {
			got := shareOfCores(p.cpuPercent(t0.Add(s.wall), s.cpu), procs)
			if got != s.want[i] {
				t.Errorf("GOMAXPROCS %d, at %v with %v CPU: %v %%, want %v %%", procs, s.wall, s.cpu, got, s.want[i])
			}
		}
	}
	if got := shareOfCores(150, 0); got != 150 {
		t.Errorf("shareOfCores(150, 0) = %v, want 150 (procs below 1 count as 1)", got)
	}
}
