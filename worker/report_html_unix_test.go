//go:build unix

package worker

// This file tests writing the --html report in place where it cannot be
// replaced, on the platforms that tell file systems apart by device.

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHTMLReportWrittenInPlace: a report that cannot be renamed over its
// target (a mount point; here a temporary file on another file system)
// is written in place, whole, and leaves no temporary file.
func TestHTMLReportWrittenInPlace(t *testing.T) {
	requireChartLibrary(t)
	dir, other := t.TempDir(), "/dev/shm"
	if a, b := deviceOf(t, dir), deviceOf(t, other); a == 0 || a == b {
		t.Skipf("%s and %s are one file system here", dir, other)
	}
	other, err := os.MkdirTemp(other, "golocust-html-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(other) })
	target := filepath.Join(dir, "report.html")
	if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := newHTMLReport(target, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h.tempDir = other
	if err := h.write(func(w io.Writer) error { _, err := io.WriteString(w, "new report\n"); return err }); err != nil {
		t.Fatalf("write: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new report\n" {
		t.Errorf("the target holds %q, want the new report", b)
	}
	if entries, _ := os.ReadDir(other); len(entries) != 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// deviceOf returns the device number of path's file system (0: unknown).
func deviceOf(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev)
	}
	return 0
}
