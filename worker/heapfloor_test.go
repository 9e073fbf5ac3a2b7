package worker

import (
	"runtime"
	"testing"
)

// garbageCollections allocates n bytes of garbage in 1 KB pieces and
// returns how many collections ran meanwhile.
func garbageCollections(n int) uint32 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var keep []byte
	for range n >> 10 {
		keep = make([]byte, 1<<10)
	}
	runtime.KeepAlive(keep)
	runtime.ReadMemStats(&after)
	return after.NumGC - before.NumGC
}

// TestHeapBallastSpacesCollections: 48 MB of short-lived garbage takes
// several collections of a small heap (one at each 4 MB or so), and at
// most one with the ballast held.
func TestHeapBallastSpacesCollections(t *testing.T) {
	const garbage = 48 << 20
	without := garbageCollections(garbage)
	b := heapBallast(func(string) string { return "" })
	with := garbageCollections(garbage)
	keepBallast(b)
	if len(b) != ballastSize {
		t.Fatalf("ballast of %d bytes, want %d", len(b), ballastSize)
	}
	t.Logf("collections during %d MB of garbage: %d without the ballast, %d with it", garbage>>20, without, with)
	if without < 4 {
		t.Errorf("%d collections without the ballast: the test's garbage is too little to show anything", without)
	}
	if with > 1 {
		t.Errorf("%d collections with the ballast, want at most 1", with)
	}
}

// TestHeapBallastLeavesTheUsersSetting: no ballast when the collector is
// tuned through the environment.
func TestHeapBallastLeavesTheUsersSetting(t *testing.T) {
	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		getenv := func(key string) string {
			if key == name {
				return "200"
			}
			return ""
		}
		if b := heapBallast(getenv); b != nil {
			t.Errorf("%s set: a ballast of %d bytes, want none", name, len(b))
		}
	}
}
