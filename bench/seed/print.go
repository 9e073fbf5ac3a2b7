//go:build linux

package main

// This file owns the benchmark's printed report; run.go measures it.

import (
	"fmt"
	"io"
	"time"
)

// print writes the report with each figure next to the goal.
func (r report) print(w io.Writer, c config) {
	reach := "never"
	if r.ReachedAfter > 0 {
		reach = r.ReachedAfter.Round(100 * time.Millisecond).String()
	}
	ideal := time.Duration(float64(c.Users) / c.Rate * float64(time.Second))
	want := c.expectedRate()
	perUser := 0.0
	if r.MaxUsers > 0 {
		perUser = float64(r.PeakRSS) / float64(r.MaxUsers)
	}
	fmt.Fprintf(w, "\nseed: %d users at %g/s, %s pacing, %s client, login ratio %g\n", c.Users, c.Rate, c.Pacing, c.Client, c.LoginRatio)
	if c.HogFor > 0 {
		fmt.Fprintf(w, "  hog                      a busy loop pinned to the worker's cores, %s after the swarm, for %s\n", c.HogAt, c.HogFor)
	}
	fmt.Fprintf(w, "  users reached (master)   %d of %d after %s (ideal %s)\n", r.MaxUsers, c.Users, reach, ideal)
	fmt.Fprintf(w, "  worker marked missing    %d times\n", r.MissingSeen)
	fmt.Fprintf(w, "  worst heartbeat gap      %s (late ≥2 s: %s)\n", r.WorstGap, r.LateBeats)
	fmt.Fprintf(w, "  worker peak RSS          %.2f GiB, %.0f bytes per user\n", float64(r.PeakRSS)/(1<<30), perUser)
	if r.RateWindow > 0 {
		fmt.Fprintf(w, "  steady request rate      %.0f/s over %s (expected %.0f/s: %+.1f %%)\n",
			r.Rate, r.RateWindow.Round(time.Second), want, 100*(r.Rate/want-1))
	}
	fmt.Fprintf(w, "  requests                 master %d, target %d (equal: %v), failures %d\n",
		r.MasterRequests, r.TargetServed, r.MasterRequests == r.TargetServed, r.MasterFailures)
	if r.MasterRequests > 0 {
		fmt.Fprintf(w, "  worker CPU               %.1f s until the stop: %.0f µs per request\n",
			r.WorkerCPU.Seconds(), float64(r.WorkerCPU.Microseconds())/float64(r.MasterRequests))
	}
	fmt.Fprintf(w, "  response time            average %.1f ms, max %.0f ms\n", r.AvgRT, r.MaxRT)
	fmt.Fprintf(w, "  target connections       at most %d open at once, %d accepted in all\n", r.MaxConns, r.Dialed)
	fmt.Fprintf(w, "  worker exit code         %d\n", r.WorkerExit)
}
