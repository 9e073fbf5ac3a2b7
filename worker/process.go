package worker

import (
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
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
// resident set size in bytes.
func (p *processSampler) sample(now time.Time) (cpuPercent float64, rss int64) {
	cpu := processCPUTime()
	if !p.lastWall.IsZero() {
		if wall := now.Sub(p.lastWall); wall > 0 {
			cpuPercent = 100 * float64(cpu-p.lastCPU) / float64(wall)
		}
	}
	p.lastWall, p.lastCPU = now, cpu
	return max(cpuPercent, 0), residentBytes()
}

func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
