//go:build unix

package locusttest

// This file owns process groups on Unix: a child started by Start leads a
// group of its own, so that killing it also kills what it started (Locust
// forks its workers).

import (
	"os/exec"
	"syscall"
)

// newProcessGroup makes cmd start a process group of its own.
func newProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup kills cmd's process and everything in its group.
func killProcessGroup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
