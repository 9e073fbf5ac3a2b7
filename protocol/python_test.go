package protocol

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const python = "/usr/bin/python3"

// TestPythonDecodesReencodedCaptures checks that what a Go worker encodes
// decodes, with Locust's own rules (msgpack.loads(raw=False,
// strict_map_key=False)), to the same structure as the Python worker's
// captured message: every worker-to-master capture is decoded, re-encoded
// and handed to testdata/pycompare.py with its original (the golden
// encodings of TestEncodeGolden are checked too). When Locust is
// importable the script also merges every stats report through the master's
// own listener and compares the resulting tables. The pure-Go counterpart
// that always runs is TestDecodeCaptures.
func TestPythonDecodesReencodedCaptures(t *testing.T) {
	if _, err := os.Stat(python); err != nil {
		t.Skipf("%s not available: %v", python, err)
	}
	if err := exec.Command(python, "-c", "import msgpack").Run(); err != nil {
		t.Skipf("python msgpack module not available: %v", err)
	}
	dir := t.TempDir()
	var manifest strings.Builder
	n := 0
	for _, c := range loadCaptures(t) {
		if c.dir != "w2m" {
			continue
		}
		env, err := Decode(c.body)
		if err != nil {
			t.Fatalf("%s: Decode: %v", c.path, err)
		}
		re, err := Encode(env.NodeID, env.Message)
		if err != nil {
			t.Fatalf("%s: Encode: %v", c.path, err)
		}
		out := filepath.Join(dir, fmt.Sprintf("%03d.msgpack", n))
		if err := os.WriteFile(out, re, 0o644); err != nil {
			t.Fatal(err)
		}
		orig, err := filepath.Abs(filepath.Join(captureDir, c.path))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&manifest, "%s\t%s\t%s\n", orig, out, filepath.Dir(c.path))
		n++
	}
	// Go's golden encodings must decode in Python too, and the golden stats
	// must go through the master's merge without an exception.
	goldens, err := filepath.Glob(filepath.Join("testdata", "golden", "*.msgpack"))
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, g := range goldens {
		abs, err := filepath.Abs(g)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&manifest, "%s\t%s\tgolden\n", abs, abs)
		n++
	}
	mf := filepath.Join(dir, "manifest.tsv")
	if err := os.WriteFile(mf, []byte(manifest.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "testdata/pycompare.py", mf)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		t.Skip("pycompare.py could not import msgpack")
	default:
		t.Fatalf("pycompare.py: %v", err)
	}
	if !strings.Contains(string(out), fmt.Sprintf("pycompare: %d pairs", n)) {
		t.Fatalf("pycompare.py did not compare all %d pairs", n)
	}
}
