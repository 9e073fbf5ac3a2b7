//go:build linux || darwin

package worker

// This file tests that a named pipe as a configuration file is refused
// before it is opened: opening one blocks until a writer comes, so a
// FIFO called locust.conf would hang the program. A regression is freed
// within 5 s by a writer and fails the test.

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestConfigFIFORefused: a FIFO as ./locust.conf (a default file), as
// --config and as LOCUST_CONFIG is one error line and exit 2, at once.
func TestConfigFIFORefused(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "locust.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFO:", err)
	}
	// A regression would block on opening the pipe: a writer that opens
	// it after the checks frees such an open, and the checks then fail.
	done := make(chan struct{})
	defer close(done)
	go unblockFIFO(fifo, done)
	code, stderr, users := runLimited(t, nil, nil, []string{fifo})
	checkOneErrorLine(t, code, stderr, users, fifo+" is a named pipe, not a regular file")
	code, stderr, users = runLimited(t, []string{"--config", fifo}, nil, nil)
	checkOneErrorLine(t, code, stderr, users, "--config: "+fifo+" is a named pipe")
	code, stderr, users = runLimited(t, nil, map[string]string{"LOCUST_CONFIG": fifo}, nil)
	checkOneErrorLine(t, code, stderr, users, "LOCUST_CONFIG: "+fifo+" is a named pipe")
}

// unblockFIFO opens fifo for writing, and closes it at once, every 5 s
// until done, so that a reader blocked in opening it returns (and reads
// end of file).
func unblockFIFO(fifo string, done <-chan struct{}) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
	}
}
