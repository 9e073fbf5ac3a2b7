package worker

// This file owns the --html report of a standalone run (standalone.go):
// the history it keeps for the charts, at each CSV interval, and the file
// written at the end; the page itself is the report package's. The file is
// checked when the run starts, without touching a file already there, and
// written at the end to a temporary file beside it, then renamed over it:
// a run that fails, or fails to write, leaves the old report whole. A file
// that cannot be replaced (a directory the user cannot write, a mount
// point) is written in place.

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/golocust/golocust/report"
)

// htmlReport is a run's --html file and the history of its charts.
type htmlReport struct {
	path string // as given, for messages
	// target is the file written: path with its symbolic links
	// followed, so that a link stays a link.
	target string
	// inPlace: target is no regular file (a device, a pipe) and is
	// written as it is, not replaced.
	inPlace bool
	// tempDir is where the temporary file is made: the target's
	// directory when empty (another one in tests, where a rename
	// fails as it does over a mount point).
	tempDir string
	history *report.History
}

// newHTMLReport checks that this build can write the report and that path
// can be written at the end, so that a run does not find out then. It
// neither creates nor changes path. Its errors are bad options.
func newHTMLReport(path string, start time.Time) (*htmlReport, error) {
	if err := report.Available(); err != nil {
		return nil, &optionError{fmt.Errorf("--html: %w", err)}
	}
	h := &htmlReport{path: path, target: path, history: report.NewHistory(start, report.DefaultMaxHistoryRows)}
	if t, err := filepath.EvalSymlinks(path); err == nil {
		h.target = t
	}
	info, err := os.Stat(h.target)
	switch {
	case err == nil && info.IsDir():
		return nil, &optionError{fmt.Errorf("--html: %w", &fs.PathError{Op: "open", Path: path, Err: errors.New("is a directory")})}
	case err == nil && !info.Mode().IsRegular():
		h.inPlace = true // opening a pipe to check it would wait for its reader
		return h, nil
	case err == nil:
		return h, h.checkExisting()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, &optionError{fmt.Errorf("--html: %w", err)}
	}
	f, err := h.createTemp()
	if err != nil {
		return nil, &optionError{err}
	}
	f.Close()
	os.Remove(f.Name())
	return h, nil
}

// checkExisting checks that the file already at the target can be
// written, without changing it. When no file can be made beside it (a
// directory the user cannot write, such as a container's mount point of
// a single file), the report is written in place.
func (h *htmlReport) checkExisting() error {
	f, err := os.OpenFile(h.target, os.O_WRONLY, 0)
	if err != nil {
		return &optionError{fmt.Errorf("--html: %w", err)}
	}
	f.Close()
	if f, err := h.createTemp(); err == nil {
		f.Close()
		os.Remove(f.Name())
	} else {
		h.inPlace = true
	}
	return nil
}

// createTemp creates a new file in the target's directory, with the
// permissions os.Create gives (0666 less the umask).
func (h *htmlReport) createTemp() (*os.File, error) {
	dir, base := filepath.Split(h.target)
	if h.tempDir != "" {
		dir = h.tempDir
	}
	var err error
	for range 100 { // another file may have taken the name: draw again
		name := filepath.Join(dir, fmt.Sprintf(".%s.%08x.tmp", base, rand.Uint32()))
		var f *os.File
		if f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666); err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) { // name the file asked for, not the temporary one
		err = &fs.PathError{Op: pe.Op, Path: h.path, Err: pe.Err}
	}
	return nil, fmt.Errorf("--html: %w", err)
}

// write writes the report with fn: to a temporary file renamed over the
// target once complete (with the old file's permissions, if any), or in
// place for a device, a pipe, or a file that cannot be replaced (its
// directory cannot be written, or it is a mount point: rename fails).
func (h *htmlReport) write(fn func(io.Writer) error) error {
	if !h.inPlace {
		placed, err := h.replace(fn)
		if err == nil || placed || !h.isFile() {
			return err
		}
	}
	f, err := os.OpenFile(h.target, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("--html: %w", err)
	}
	if err := errors.Join(fn(f), f.Close()); err != nil {
		return fmt.Errorf("--html %s: %w", h.path, err)
	}
	return nil
}

// replace writes the report to a temporary file and renames it over the
// target. placed is false when the report was written whole but could
// not be put in place (no temporary file, or the rename failed), so that
// writing in place is worth a try; a failed write leaves the target as
// it was.
func (h *htmlReport) replace(fn func(io.Writer) error) (placed bool, err error) {
	f, err := h.createTemp()
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	err = fn(f)
	if old, statErr := os.Stat(h.target); err == nil && statErr == nil {
		err = f.Chmod(old.Mode().Perm())
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return true, fmt.Errorf("--html %s: %w", h.path, err)
	}
	if err = os.Rename(f.Name(), h.target); err != nil {
		return false, fmt.Errorf("--html %s: %w", h.path, err)
	}
	return true, nil
}

// isFile reports whether a regular file is at the target.
func (h *htmlReport) isFile() bool {
	info, err := os.Stat(h.target)
	return err == nil && info.Mode().IsRegular()
}

// recordInterval writes the CSV files and takes the history's row at the
// end of a CSV interval; r.totals has just been merged.
func (r *standaloneRun) recordInterval(now time.Time) {
	users := int(sum(r.pool.counts()))
	if r.csv != nil {
		if err := r.csv.write(r.totals, r.arrivals, r.exceptions.list(), users, now); err != nil {
			r.logger.Warn("writing the CSV files", "err", err)
		}
	}
	if r.html != nil {
		r.html.history.Add(r.totals, users, now)
	}
}

// writeHTML takes the history's last row (no users are left, as in the
// CSV's last line) and writes the report of res; it logs and returns
// the error of a report that could not be written.
func (r *standaloneRun) writeHTML(res *Result, start, end time.Time) error {
	if r.html == nil {
		return nil
	}
	r.html.history.Add(r.totals, 0, end)
	facts := report.Facts{Start: start, Duration: res.Duration, Host: r.Host, Users: res.Users}
	err := r.html.write(func(w io.Writer) error {
		return report.WriteHTML(w, facts, res.Stats, r.html.history.Rows(), res.Exceptions)
	})
	if err != nil {
		r.logger.Error("writing the --html report", "file", r.html.path, "err", err)
		return err
	}
	r.logger.Info("wrote the --html report", "file", r.html.path)
	return nil
}
