package protocol

import (
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ugorji/go/codec"
)

// captureDir holds copies of the real Locust traffic captured in
// shared/captures (one msgpack body per file).
const captureDir = "testdata/captures"

// sharedCaptureDir is the original location, beside the repository; tests
// use it only to check that the copies are complete and identical.
const sharedCaptureDir = "../../shared/captures"

// capture is one captured message body.
type capture struct {
	path string // relative to captureDir, e.g. "2.12.1/017_w2m_stats.msgpack"
	dir  string // "w2m" or "m2w"
	typ  string // wire type, from the file name
	body []byte
}

var captureName = regexp.MustCompile(`^\d+_(w2m|m2w)_(.+)\.msgpack$`)

func loadCaptures(t testing.TB) []capture {
	t.Helper()
	caps, err := readCaptures(captureDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) == 0 {
		t.Fatalf("no captures under %s", captureDir)
	}
	return caps
}

func readCaptures(root string) ([]capture, error) {
	var caps []capture
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".msgpack") {
			return err
		}
		m := captureName.FindStringSubmatch(d.Name())
		if m == nil {
			return fmt.Errorf("unexpected capture file name %s", path)
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		caps = append(caps, capture{path: filepath.ToSlash(rel), dir: m[1], typ: m[2], body: body})
		return nil
	})
	sort.Slice(caps, func(i, j int) bool { return caps[i].path < caps[j].path })
	return caps, err
}

// genericHandle is ugorji's msgpack decoder, used in tests as an independent
// generic decoder: str -> string, bin -> []byte, maps ->
// map[interface{}]interface{}.
var genericHandle = func() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{WriteExt: true}
	h.RawToString = false
	return h
}()

// Normalized generic values, so that int widths and signedness do not
// matter but int versus float and str versus bin do.
type (
	tInt   string  // decimal integer
	tFloat float64 // any float
	tBin   string  // msgpack bin
)

// genericDecode decodes body with ugorji and normalizes the result.
func genericDecode(t testing.TB, body []byte) any {
	t.Helper()
	var v any
	dec := codec.NewDecoderBytes(body, genericHandle)
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("generic decode: %v", err)
	}
	return normalize(v)
}

func normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, string:
		return x
	case int64:
		return tInt(fmt.Sprint(x))
	case uint64:
		return tInt(fmt.Sprint(x))
	case int:
		return tInt(fmt.Sprint(x))
	case float64:
		return tFloat(x)
	case float32:
		return tFloat(x)
	case []byte:
		return tBin(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[any]any, len(x))
		for k, e := range x {
			out[normalize(k)] = normalize(e)
		}
		return out
	}
	panic(fmt.Sprintf("normalize: unexpected %T", v))
}

// normalization is one documented, allowed difference between a captured
// Python body and this package's re-encoding of it.
type normalization string

const (
	// normIntToFloat: a field that Go types as float64 was sent as an int
	// by Python (total_response_time 0, max_response_time 1050, ...). The
	// value is unchanged; Python sums and compares ints and floats alike.
	normIntToFloat normalization = "int -> float in a float field"
	// normFloatKeyToInt: Locust 2.12 sends histogram keys such as 250.0 as
	// floats; Go sends the int 250. Python's dict treats 250 and 250.0 as
	// the same key.
	normFloatKeyToInt normalization = "float histogram key -> int"
	// normNilMethod: Locust 2.12 sends method None for stats_total before
	// the first test; it decodes as "" and is sent as "" (what Locust 2.13+
	// sends).
	normNilMethod normalization = "nil method -> \"\""
	// normNilStopTimeout: stop_timeout None (Locust 2.12's default) decodes
	// as 0 and is sent as 0.0 (what later masters send).
	normNilStopTimeout normalization = "nil stop_timeout -> 0.0"
	// normEmptyVersion: client_ready with the empty version "" (Debian
	// 2.12.1's broken __version__) is re-encoded as -1, the value a Go
	// worker sends on purpose: "" is rejected by every master.
	normEmptyVersion normalization = "client_ready \"\" -> -1"
	// normAddedClassesCount: the master's spawning_complete carries only
	// user_count; Encode always adds user_classes_count (as {}), because a
	// worker's spawning_complete without it kills the master's receive
	// loop.
	normAddedClassesCount normalization = "spawning_complete gains user_classes_count {}"
)

var floatFields = map[string]bool{
	"total_response_time": true, "max_response_time": true, "min_response_time": true,
	"start_time": true, "last_request_timestamp": true, "current_cpu_usage": true,
	"timestamp": true, "stop_timeout": true, "first_seen": true, "last_seen": true,
}

var intKeyedFields = map[string]bool{
	"response_times": true, "num_reqs_per_sec": true, "num_fail_per_sec": true,
}

// differ compares a captured body's generic tree (want) with the
// re-encoded one (got), allowing only the normalizations above, and records
// which ones were used.
type differ struct {
	msgType string
	diffs   []string
	used    map[normalization]int
}

func (d *differ) note(n normalization) {
	if d.used == nil {
		d.used = map[normalization]int{}
	}
	d.used[n]++
}

func (d *differ) errorf(path, format string, args ...any) {
	d.diffs = append(d.diffs, path+": "+fmt.Sprintf(format, args...))
}

// compareEnvelope compares two normalized [type, data, node_id] trees.
func (d *differ) compareEnvelope(want, got any) {
	wa, ok1 := want.([]any)
	ga, ok2 := got.([]any)
	if !ok1 || !ok2 || len(wa) != 3 || len(ga) != 3 {
		d.errorf("", "envelope shape differs: %#v vs %#v", want, got)
		return
	}
	d.compare("type", "", wa[0], ga[0])
	d.compare("node_id", "", wa[2], ga[2])
	wd, gd := wa[1], ga[1]
	switch {
	case d.msgType == TypeClientReady && wd == "" && gd == tInt("-1"):
		d.note(normEmptyVersion)
		return
	case d.msgType == TypeSpawningComplete:
		wm, ok1 := wd.(map[any]any)
		gm, ok2 := gd.(map[any]any)
		if ok1 && ok2 {
			if _, has := wm["user_classes_count"]; !has {
				if v, ok := gm["user_classes_count"].(map[any]any); ok && len(v) == 0 {
					d.note(normAddedClassesCount)
					gm = maps.Clone(gm)
					delete(gm, "user_classes_count")
					gd = gm
				}
			}
		}
	}
	d.compare("data", "", wd, gd)
}

// compare walks both trees; key is the map key under which the values sit.
func (d *differ) compare(path, key string, want, got any) {
	switch w := want.(type) {
	case map[any]any:
		g, ok := got.(map[any]any)
		if !ok {
			d.errorf(path, "want map, got %T", got)
			return
		}
		wk := make(map[any]any, len(w))
		for k, v := range w {
			if f, isF := k.(tFloat); isF && intKeyedFields[key] && float64(f) == math.Trunc(float64(f)) {
				d.note(normFloatKeyToInt)
				k = tInt(fmt.Sprint(int64(f)))
			}
			wk[k] = v
		}
		for k, v := range wk {
			gv, ok := g[k]
			if !ok {
				d.errorf(path, "key %v lost", k)
				continue
			}
			ks, _ := k.(string)
			d.compare(fmt.Sprintf("%s.%v", path, k), ks, v, gv)
		}
		for k := range g {
			if _, ok := wk[k]; !ok {
				d.errorf(path, "key %v added", k)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			d.errorf(path, "want array of %d, got %#v", len(w), got)
			return
		}
		for i := range w {
			d.compare(fmt.Sprintf("%s[%d]", path, i), "", w[i], g[i])
		}
	default:
		if want == got {
			return
		}
		switch {
		case floatFields[key] && isTInt(want) && isTFloat(got) && intValue(want) == float64(got.(tFloat)):
			d.note(normIntToFloat)
		case key == "method" && want == nil && got == "":
			d.note(normNilMethod)
		case key == "stop_timeout" && want == nil && got == tFloat(0):
			d.note(normNilStopTimeout)
		default:
			d.errorf(path, "want %#v, got %#v", want, got)
		}
	}
}

func isTInt(v any) bool   { _, ok := v.(tInt); return ok }
func isTFloat(v any) bool { _, ok := v.(tFloat); return ok }
func intValue(v any) float64 {
	var f float64
	fmt.Sscan(string(v.(tInt)), &f)
	return f
}

// hexDiff describes where two byte slices first differ.
func hexDiff(want, got []byte) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-8)
	return fmt.Sprintf("first difference at byte %d (len want %d, got %d)\nwant ...% x\ngot  ...% x",
		i, len(want), len(got), want[lo:min(len(want), i+16)], got[lo:min(len(got), i+16)])
}
