//go:build windows

package worker

// This file owns reading the process's CPU time on Windows.

import (
	"syscall"
	"time"
)

// processCPUTime returns the user and kernel CPU time the process has
// used so far, or 0 when Windows does not say.
func processCPUTime() time.Duration {
	var creation, exit, kernel, user syscall.Filetime
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return 0
	}
	if err := syscall.GetProcessTimes(h, &creation, &exit, &kernel, &user); err != nil {
		return 0
	}
	return filetimeDuration(kernel) + filetimeDuration(user)
}

// filetimeDuration reads a FILETIME that holds a duration (in units of
// 100 ns), not a point in time: Filetime.Nanoseconds would subtract the
// 1601 epoch from it.
func filetimeDuration(ft syscall.Filetime) time.Duration {
	return time.Duration((int64(ft.HighDateTime)<<32 | int64(ft.LowDateTime)) * 100)
}
