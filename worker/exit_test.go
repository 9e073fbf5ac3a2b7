package worker

// This file tests the command's exit codes for the report and endpoint
// options whose values are found bad only when the run starts (--html,
// --csv, --prometheus: one line, exit 2), and for reports that cannot be
// written at the end (exit 1).

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golocust/golocust/report"
)

// requireChartLibrary skips a test of --html in a build without the
// chart library, which refuses --html.
func requireChartLibrary(t *testing.T) {
	t.Helper()
	if err := report.Available(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI builds with the chart library (.ci/run runs go generate ./report/): %v", err)
		}
		t.Skipf("%v", err)
	}
}

// checkUsageExit checks that the command exited with ExitUsage, one error
// line naming want, no ERROR log line, and no summary (the run did not
// start).
func checkUsageExit(t *testing.T, args []string, code int, stdout, stderr, want string) {
	t.Helper()
	var errLines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "golocust: error: ") {
			errLines = append(errLines, l)
		}
	}
	if code != ExitUsage || len(errLines) != 1 || !strings.Contains(errLines[0], want) || strings.Contains(stderr, "level=ERROR") {
		t.Errorf("%v: exit code %d, error lines %q; want %d and one line with %q\nstderr:\n%s", args, code, errLines, ExitUsage, want, stderr)
	}
	if strings.Contains(stdout, "Test finished") {
		t.Errorf("%v: the test ran:\n%s", args, stdout)
	}
}

// TestExitBadReportAndEndpointValues: an --html or --csv file that cannot
// be created and a --prometheus address that cannot be listened on are bad
// options, standalone and as a worker: one line and exit 2, as --pprof's.
func TestExitBadReportAndEndpointValues(t *testing.T) {
	requireChartLibrary(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() })
	dir := t.TempDir()
	// A worker dials its master lazily: no master need be there.
	worker := []string{"--worker", "--master-host", "127.0.0.1", "--master-port", "1"}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--html", dir}, "--html: open " + dir + ": is a directory"},
		{[]string{"--html", filepath.Join(dir, "missing", "r.html")}, "--html: open " + filepath.Join(dir, "missing", "r.html") + ": no such file or directory"},
		{[]string{"--csv", filepath.Join(dir, "missing", "run")}, "--csv: "},
		{[]string{"--prometheus", "nonsense"}, "--prometheus nonsense: "},
		{[]string{"--prometheus", "127.0.0.1:99999"}, "--prometheus 127.0.0.1:99999: "},
		{[]string{"--prometheus", busy.Addr().String()}, "--prometheus " + busy.Addr().String() + ": "},
		{append(worker, "--prometheus", "nonsense"), "--prometheus nonsense: "},
		{append(worker, "--prometheus", "127.0.0.1:99999"), "--prometheus 127.0.0.1:99999: "},
		{append(worker, "--prometheus", busy.Addr().String()), "--prometheus " + busy.Addr().String() + ": "},
		{[]string{"--pprof", "nonsense"}, "--pprof nonsense: "}, // the rule they follow
	}
	for _, c := range cases {
		args := append([]string{"-u", "1", "-t", "2s"}, c.args...)
		code, stdout, stderr := run(t, args, Class("Fixed", func() fixedUser { return fixedUser{} }))
		checkUsageExit(t, args, code, stdout, stderr, c.want)
	}
}

// TestExitKeepsOldHTMLOnBadStart: a run refused at its start (here for
// --csv, checked after --html) leaves the report of an earlier run whole.
func TestExitKeepsOldHTMLOnBadStart(t *testing.T) {
	requireChartLibrary(t)
	dir := t.TempDir()
	old := filepath.Join(dir, "old.html")
	if err := os.WriteFile(old, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-u", "1", "-t", "1s", "--html", old, "--csv", filepath.Join(dir, "missing", "x")}
	code, stdout, stderr := run(t, args, Class("Fixed", func() fixedUser { return fixedUser{} }))
	checkUsageExit(t, args, code, stdout, stderr, "--csv: ")
	if b, err := os.ReadFile(old); err != nil || string(b) != "old\n" {
		t.Errorf("old.html holds %q (%v), want the old report %q", b, err, "old\n")
	}
	checkNoTempFiles(t, dir, "old.html")
}

// checkNoTempFiles checks that dir holds only the names given.
func checkNoTempFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

// TestExitHTMLWriteFailure: a report that cannot be written at the end
// (/dev/full: no space left) exits 1, even with --exit-code-on-error 0
// and failed requests, as a --json that cannot be written does.
func TestExitHTMLWriteFailure(t *testing.T) {
	requireChartLibrary(t)
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	args := []string{"-u", "1", "-t", "300ms", "--only-summary", "--exit-code-on-error", "0", "--html", "/dev/full"}
	code, stdout, stderr := run(t, args, Class("Fixed", func() fixedUser { return fixedUser{} }))
	if code != ExitFailure || !strings.Contains(stderr, "writing the --html report") || !strings.Contains(stderr, "no space left on device") {
		t.Errorf("exit code %d, want %d and the error logged\nstderr:\n%s", code, ExitFailure, stderr)
	}
	if !strings.Contains(stdout, "Test finished") {
		t.Errorf("no summary:\n%s", stdout)
	}
	// The same run with a report it can write exits 0.
	args[len(args)-1] = filepath.Join(t.TempDir(), "r.html")
	if code, _, stderr := run(t, args, Class("Fixed", func() fixedUser { return fixedUser{} })); code != ExitOK {
		t.Errorf("with a writable report: exit code %d, want %d\nstderr:\n%s", code, ExitOK, stderr)
	}
}

// TestExitHTMLReplacesOldReport: the report replaces an older one whole,
// with its permissions, through a symbolic link if path is one, and
// leaves no temporary file.
func TestExitHTMLReplacesOldReport(t *testing.T) {
	requireChartLibrary(t)
	dir, elsewhere := t.TempDir(), t.TempDir()
	target := filepath.Join(elsewhere, "report.html")
	if err := os.WriteFile(target, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.html")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	args := []string{"-u", "1", "-t", "300ms", "--only-summary", "--exit-code-on-error", "0", "--html", link}
	if code, _, stderr := run(t, args, Class("Fixed", func() fixedUser { return fixedUser{} })); code != ExitOK {
		t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, ExitOK, stderr)
	}
	b, err := os.ReadFile(target)
	if err != nil || !strings.HasPrefix(string(b), "<!DOCTYPE html>") || !strings.Contains(string(b), "</html>") {
		t.Errorf("the report holds %d bytes beginning %.40q (%v), want a whole page", len(b), b, err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link is no longer a link: %v, %v", info, err)
	}
	if info, err := os.Stat(target); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the report's permissions: %v (%v), want the old file's -rw-------", info.Mode(), err)
	}
	checkNoTempFiles(t, elsewhere, "report.html")
	checkNoTempFiles(t, dir, "link.html")
}
