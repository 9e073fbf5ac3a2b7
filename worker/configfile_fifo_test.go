//go:build linux || darwin

package worker

// This file tests that a named pipe as a configuration file is refused
// before it is opened: opening one blocks until a writer comes, so a
// FIFO called locust.conf would hang the program. A regression hangs
// this test until go test's timeout.

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestConfigFIFORefused: a FIFO as ./locust.conf (a default file), as
// --config and as LOCUST_CONFIG is one error line and exit 2, at once.
func TestConfigFIFORefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "locust.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFO:", err)
	}
	code, stderr, users := runLimited(t, nil, nil, []string{fifo})
	checkOneErrorLine(t, code, stderr, users, fifo+" is a named pipe, not a regular file")
	code, stderr, users = runLimited(t, []string{"--config", fifo}, nil, nil)
	checkOneErrorLine(t, code, stderr, users, "--config: "+fifo+" is a named pipe")
	code, stderr, users = runLimited(t, nil, map[string]string{"LOCUST_CONFIG": fifo}, nil)
	checkOneErrorLine(t, code, stderr, users, "LOCUST_CONFIG: "+fifo+" is a named pipe")
}
