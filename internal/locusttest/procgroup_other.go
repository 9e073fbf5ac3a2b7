//go:build !unix

package locusttest

// This file owns stopping a child on systems without Unix process groups:
// only the child itself is killed.

import "os/exec"

// newProcessGroup does nothing: there are no process groups here.
func newProcessGroup(*exec.Cmd) {}

// killProcessGroup kills cmd's process.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.Process.Kill()
}
