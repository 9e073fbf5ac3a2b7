//go:build linux

// Command seed runs the scenario golocust exists for, end to end, in one
// command: a real Locust master (Debian's python3-locust) drives one
// golocust worker pinned to one core, whose web and mobile users (3:1, a
// share logged in, each paced to one task a minute) load a counting
// target pinned to another core. It prints when the master saw all users,
// whether it ever marked the worker missing, the worker's worst heartbeat
// gap, its peak memory and bytes per user, the steady request rate, the
// failures, and the master's count against the target's.
//
//	go run ./bench/seed                         # 450,000 users at 10,000/s
//	go run ./bench/seed -client fast
//	go run ./bench/seed -users 1000000 -rate 20000
//	go run ./bench/seed -hog-for 10s             # another tenant on the worker's core
//
// The same binary is the target and the worker (SEED_ROLE selects them).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	switch os.Getenv("SEED_ROLE") {
	case "target":
		os.Exit(runTarget())
	case "worker":
		os.Exit(runWorker(os.Args[1:]))
	}
	os.Exit(runBenchmark(os.Args[1:]))
}

func runBenchmark(args []string) int {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	c := config{Log: os.Stdout}
	fs.IntVar(&c.Users, "users", 450_000, "users to reach")
	fs.Float64Var(&c.Rate, "rate", 10_000, "spawn rate, users per second")
	fs.DurationVar(&c.Pacing, "pacing", 60*time.Second, "each user's constant pacing")
	fs.StringVar(&c.Client, "client", "std", "HTTP client: std (HTTPUser) or fast (FastHTTPUser)")
	fs.Float64Var(&c.LoginRatio, "login-ratio", 0.3, "share of users that log in")
	fs.DurationVar(&c.Measure, "measure", 0, "window of the steady-rate measure (default: the pacing)")
	fs.StringVar(&c.WorkerCPUs, "worker-cpus", "0", "taskset cores of the worker (empty: unpinned)")
	fs.StringVar(&c.TargetCPUs, "target-cpus", "1", "taskset cores of the target (empty: unpinned)")
	fs.DurationVar(&c.HogAt, "hog-at", 58*time.Second, "when after the swarm -hog-for's busy loop starts (58s: as the users' second round begins)")
	fs.DurationVar(&c.HogFor, "hog-for", 0, "run a busy loop pinned to the worker's cores this long, as another tenant would (0: none)")
	fs.StringVar(&c.WorkerLog, "worker-log", "", "write the worker's output to this file")
	fs.StringVar(&c.MasterLog, "master-log", "", "write the master's output to this file")
	fs.StringVar(&c.Locust, "locust", "/usr/bin/locust", "the Locust program (run with /usr/bin/python3)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if c.Users <= 0 || c.Rate <= 0 || c.Pacing <= 0 || c.HogAt < 0 || c.HogFor < 0 || (c.Client != "std" && c.Client != "fast") {
		fmt.Fprintln(os.Stderr, "seed: -users, -rate and -pacing must be positive, -hog-at and -hog-for not negative, -client std or fast")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		return 1
	}
	c.Self = self
	rep, err := run(c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		return 1
	}
	rep.print(os.Stdout, c)
	return 0
}
