//go:build unix

package worker

// This file owns reading the process's CPU time on Unix systems.

import (
	"syscall"
	"time"
)

// processCPUTime returns the user and system CPU time the process has
// used so far, or 0 when the system does not say.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
