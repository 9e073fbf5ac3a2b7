package worker

// This file owns the heartbeat's figures about the worker process: its
// recent CPU use and its resident memory. How the operating system is
// asked for the CPU time is in process_unix.go, process_windows.go and
// process_other.go.

import (
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"
)

// processSampler measures the process's recent CPU use and its resident
// memory, for heartbeats.
type processSampler struct {
	lastWall time.Time
	lastCPU  time.Duration
}

// sample returns the CPU used since the previous call as a percentage of
// one core (200 means two cores busy, like psutil's cpu_percent) and the
// resident set size in bytes. Where the platform cannot tell the process's
// CPU time (processCPUTime returns 0) the percentage is 0.
func (p *processSampler) sample(now time.Time) (cpuPercent float64, rss int64) {
	return p.cpuPercent(now, processCPUTime()), residentBytes()
}

// cpuPercent records that the process had used cpu by now and returns its
// use since the previous call as a percentage of one core: 0 on the first
// call, and never negative.
func (p *processSampler) cpuPercent(now time.Time, cpu time.Duration) float64 {
	var percent float64
	if !p.lastWall.IsZero() {
		if wall := now.Sub(p.lastWall); wall > 0 {
			percent = 100 * float64(cpu-p.lastCPU) / float64(wall)
		}
	}
	p.lastWall, p.lastCPU = now, cpu
	return max(percent, 0)
}

// residentBytes reads the resident set size from /proc where it exists and
// falls back to the memory the Go runtime holds from the OS.
func residentBytes() int64 {
	if data, err := os.ReadFile("/proc/self/statm"); err == nil {
		if fields := strings.Fields(string(data)); len(fields) > 1 {
			if pages, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		return int64(s[0].Value.Uint64())
	}
	return 0
}
