//go:build !unix && !windows

package worker

// This file owns the process's CPU time on platforms that cannot tell it
// (js/wasm, wasip1, plan9): heartbeats report 0 % CPU there.

import "time"

// processCPUTime returns 0: the platform does not say.
func processCPUTime() time.Duration { return 0 }
