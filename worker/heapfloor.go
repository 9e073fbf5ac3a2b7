package worker

// This file owns the garbage collector's pace while a test runs: a ballast
// that spaces collections out when the heap is small. Worker.Run
// (worker.go) and Standalone.Run (standalone.go) hold one.
//
// A load generator's heap is small and short-lived: a request of the
// default client allocates ~4 KB that is garbage a moment later, and the
// live heap of 50 users is 1-2 MB. Go collects when the heap has doubled,
// but not before it reaches 4 MB: at 30,000 requests a second that was a
// collection every 5 ms, 15-17 % of the CPU of one core (gctrace, the
// HTTPUserLoop benchmark). With a ballast of 64 MB, which the collector
// counts as live, the heap is collected after ~64 MB more: a collection
// every few hundred milliseconds. The ballast holds no pointers, so the
// collector never scans it, and it is never written, so the kernel never
// gives it memory: the resident memory grows by the garbage let pile up
// (at most ~64 MB), not by the ballast. Once the live heap is large (a
// run of many users, ~4 KB each), the ballast changes nothing much.

import "runtime"

// ballastSize is the heap a test's ballast stands for.
const ballastSize = 64 << 20

// heapBallast returns a ballast to keep reachable while a test runs, or
// nil when the GOGC or GOMEMLIMIT environment variable, read with getenv,
// is set: a user who tunes the collector gets their own setting.
func heapBallast(getenv func(string) string) []byte {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return nil
	}
	return make([]byte, ballastSize)
}

// keepBallast keeps b reachable until it is called: defer it when the
// test ends.
func keepBallast(b []byte) { runtime.KeepAlive(b) }
