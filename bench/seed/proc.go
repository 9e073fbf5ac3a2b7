//go:build linux

package main

// This file owns the child processes of the benchmark: start one with its
// output kept, wait for a line, read its memory from /proc. run.go is the
// other half.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a child process whose output (stdout and stderr) is kept.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	code int
}

// start runs argv, pinned with taskset to cpus when cpus is not empty.
func start(name, cpus string, env []string, argv ...string) (*proc, error) {
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p
	p.cmd.Stderr = p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// output returns what the process printed so far.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// lineWith returns the first line of output that contains s.
func (p *proc) lineWith(s string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(p.output()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return sc.Text(), true
		}
	}
	return "", false
}

// waitLine waits up to timeout for a line containing s.
func (p *proc) waitLine(s string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if line, ok := p.lineWith(s); ok {
			return line, nil
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited (code %d) before printing %q:\n%s", p.name, p.code, s, tail(p.output(), 2000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s printed no %q within %s:\n%s", p.name, s, timeout, tail(p.output(), 2000))
		}
	}
}

// pid returns the process id of the program itself, under taskset (which
// execs it, so the pid is the same).
func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends sig and waits up to timeout for the exit, then kills it.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) int {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
	}
	return p.code
}

// statusBytes reads a "kB" field such as VmRSS or VmHWM of /proc/PID/status.
func statusBytes(pid int, field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// cpuTime reads the user and system CPU time of a process from
// /proc/PID/stat.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ is 100 on Linux
}
