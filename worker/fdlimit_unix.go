//go:build unix

package worker

// This file owns reading and raising the open-file limit on Unix systems.

import "syscall"

func platformFileLimit() (uint64, bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, false
	}
	return uint64(rl.Cur), true
}

func platformRaiseFileLimit() (before, after uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, err
	}
	before = uint64(rl.Cur)
	if rl.Cur >= rl.Max {
		return before, before, nil
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return before, before, err
	}
	return before, uint64(rl.Cur), nil
}
