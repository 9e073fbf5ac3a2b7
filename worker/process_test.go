package worker

// This file owns the tests of the heartbeat's process figures.

import (
	"runtime"
	"testing"
	"time"
)

// TestCPUPercent checks the arithmetic of the heartbeat's CPU figure on
// made-up times: percent of one core since the previous sample, 0 first,
// never negative, and 0 when no time passed.
func TestCPUPercent(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	var p processSampler
	steps := []struct {
		at   time.Duration // since t0
		cpu  time.Duration // the process's CPU time so far
		want float64
	}{
		{0, 3 * time.Second, 0},                                      // first sample: nothing to compare with
		{time.Second, 3*time.Second + 500*time.Millisecond, 50},      // half a core
		{2 * time.Second, 5*time.Second + 500*time.Millisecond, 200}, // two cores
		{2 * time.Second, 6 * time.Second, 0},                        // no wall time passed
		{3 * time.Second, 5 * time.Second, 0},                        // CPU time going down (a failed read gives 0): not negative use
	}
	for i, s := range steps {
		if got := p.cpuPercent(t0.Add(s.at), s.cpu); got != s.want {
			t.Errorf("step %d: cpuPercent(%v, %v) = %v, want %v", i, s.at, s.cpu, got, s.want)
		}
	}
}

// TestProcessCPUTimeAdvances checks that the platform's CPU time (Unix
// getrusage, Windows GetProcessTimes) grows while the process computes.
func TestProcessCPUTimeAdvances(t *testing.T) {
	switch runtime.GOOS {
	case "js", "wasip1", "plan9":
		t.Skipf("%s cannot tell the process's CPU time", runtime.GOOS)
	}
	before := processCPUTime()
	if before <= 0 {
		t.Fatalf("processCPUTime() = %v at the start of a test; want > 0", before)
	}
	var after time.Duration
	for n := 0; n < 1e9 && after <= before; n++ { // spin until the clock ticks (10 ms or less)
		after = processCPUTime()
	}
	if after <= before {
		t.Fatalf("processCPUTime() stayed at %v while computing", before)
	}
}
