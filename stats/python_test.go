package stats

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// python is the interpreter that has Debian's Locust 2.12.1.
const python = "/usr/bin/python3"

// locustPrelude imports locust.stats without running locust/__init__.py,
// which monkey-patches gevent and, on Debian bookworm, fails to import
// pkg_resources. stats.py itself needs only gevent and two sibling modules.
const locustPrelude = `
import sys, types, json
_pkg = types.ModuleType("locust")
_pkg.__path__ = ["/usr/lib/python3/dist-packages/locust"]
sys.modules["locust"] = _pkg
import locust.stats as ls
`

var (
	pythonOnce sync.Once
	pythonErr  string
)

// requireLocust skips the test unless python can import locust.stats.
func requireLocust(t testing.TB) {
	t.Helper()
	pythonOnce.Do(func() {
		if _, err := os.Stat(python); err != nil {
			pythonErr = err.Error()
			return
		}
		out, err := exec.Command(python, "-c", locustPrelude+"print(ls.PERCENTILES_TO_REPORT)").CombinedOutput()
		if err != nil {
			pythonErr = err.Error() + ": " + string(out)
		}
	})
	if pythonErr != "" {
		t.Skipf("Locust's stats.py is not importable with %s: %s", python, pythonErr)
	}
}

// runLocust runs script after locustPrelude with in as JSON on stdin and
// decodes stdout as JSON into out.
func runLocust(t testing.TB, script string, in, out any) {
	t.Helper()
	requireLocust(t)
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	raw := runLocustRaw(t, script, data)
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("decoding python output: %v\n%s", err, raw)
	}
}

// runLocustRaw runs script after locustPrelude with stdin and returns its
// stdout.
func runLocustRaw(t testing.TB, script string, stdin []byte) []byte {
	t.Helper()
	requireLocust(t)
	cmd := exec.Command(python, "-c", locustPrelude+script)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	return out
}
