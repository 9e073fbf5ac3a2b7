//go:build linux

// Command load is golocust's load benchmark: it starts its own target,
// runs several load generators against it in interleaved rounds, each
// pinned to one core, and prints a table of requests per second with
// medians, min–max and ratios. The target's own request counter is the
// ground truth; golocust's own counts must equal it.
//
//	go run ./bench/load              # about 4 minutes
//	go run ./bench/load -d 5s -rounds 1 -only golocust,golocust-fast
//
// The target is nginx pinned to core 1 (stub_status counts its requests)
// when nginx is installed, else a Go server on fasthttp. Generators run
// on core 0 with taskset: wrk (when installed), a plain Go loop on
// net/http and on fasthttp without statistics, golocust with its default
// net/http client and with its fast client (also with every response
// kept, SetReuseResponses(false): golocust-fast-kept), and Locust's
// FastHttpUser
// (when /usr/bin/locust is installed). bench/run.sh installs nginx and wrk
// with apt-get when they are missing.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/golocust/golocust/worker"
)

// result is what one generator run reports on its last stdout line.
type result struct {
	// Requests is the generator's own count of completed requests, -1
	// when it keeps none.
	Requests int64 `json:"requests"`
	// Failures is how many of them it counted as failed.
	Failures int64 `json:"failures"`
	// Seconds is how long it generated load.
	Seconds float64 `json:"seconds"`
}

func main() {
	role := flag.String("role", "bench", "internal: bench, gen or target")
	mode := flag.String("mode", "", "internal: the generator to run")
	url := flag.String("url", "", "internal: the target URL")
	users := flag.Int("u", 50, "concurrent users / connections per generator")
	dur := flag.Duration("d", 8*time.Second, "length of each run")
	rounds := flag.Int("rounds", 3, "interleaved rounds")
	only := flag.String("only", "", "comma-separated generators to run (default all available)")
	addr := flag.String("listen", "", "internal: the Go target's address")
	cpuProfile := flag.String("cpuprofile", "", "internal: write a generator's CPU profile to this file")
	scaling := flag.Bool("scaling", true, "also run golocust and golocust-fast on both cores each round")
	flag.Parse()

	var err error
	switch *role {
	case "gen":
		err = generate(*mode, *url, *users, *dur, *cpuProfile)
	case "target":
		err = serveTarget(*addr)
	default:
		err = bench(*users, *dur, *rounds, *only, *scaling)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// allGenerators returns the generators in the order of the table.
func allGenerators() []string {
	return []string{"wrk", "go-loop", "fasthttp-loop", "golocust", "golocust-fast", "golocust-fast-kept", "locust-fast"}
}

// scalingGenerators returns the generators that also run on both cores,
// for the scaling figures.
func scalingGenerators() []string { return []string{"golocust", "golocust-fast"} }

type run struct {
	gen      string
	cores    string
	round    int
	served   int64 // the target's count
	own      result
	genCPU   time.Duration // user+system CPU of the generator
	genUser  time.Duration // its user CPU alone: what the generator's own code costs, system calls aside
	tgtCPU   time.Duration // CPU of the target during the run
	duration time.Duration // wall time the generator process ran
}

func (r run) rps() float64 { return float64(r.served) / r.own.Seconds }

func bench(users int, dur time.Duration, rounds int, only string, scaling bool) error {
	ctx := context.Background()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("taskset (util-linux) is needed to pin processes to cores")
	}
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("need 2 cores, have %d", runtime.NumCPU())
	}
	gens := available(only)
	dir, err := os.MkdirTemp("", "golocust-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	tgt, err := startTarget(ctx, self, dir)
	if err != nil {
		return err
	}
	defer tgt.stop()
	printMachine(tgt.kind)
	fmt.Printf("generators on core 0, target on core 1; %d users/connections; %d rounds of %s, order rotated each round\n\n", users, rounds, dur)

	var runs []run
	for round := range rounds {
		order := rotate(gens, round)
		for _, g := range order {
			r, err := runOne(ctx, self, tgt, g, "0", users, dur)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round+1, g, err)
			}
			r.round = round
			runs = append(runs, r)
			fmt.Printf("round %d  %-19s %8.0f req/s  served %8d  own %8s  gen CPU %5.1f µs/req (user %4.1f)  target CPU %3.0f%%\n",
				round+1, g, r.rps(), r.served, ownCount(r.own), cpuPerReq(r), userPerReq(r), 100*r.tgtCPU.Seconds()/r.own.Seconds)
		}
		for _, g := range scalingGenerators() {
			if !scaling || !slices.Contains(gens, g) {
				continue
			}
			r, err := runOne(ctx, self, tgt, g, "0,1", users, dur)
			if err != nil {
				return fmt.Errorf("round %d, %s on 2 cores: %w", round+1, g, err)
			}
			r.round = round
			runs = append(runs, r)
			fmt.Printf("round %d  %-19s %8.0f req/s  served %8d  own %8s  gen CPU %5.1f µs/req (user %4.1f)  target CPU %3.0f%%  (generator on cores 0,1)\n",
				round+1, g, r.rps(), r.served, ownCount(r.own), cpuPerReq(r), userPerReq(r), 100*r.tgtCPU.Seconds()/r.own.Seconds)
		}
	}
	return report(runs, gens)
}

// available returns the generators to run: those asked for whose tools
// are installed.
func available(only string) []string {
	var gens []string
	for _, g := range allGenerators() {
		if only != "" && !slices.Contains(strings.Split(only, ","), g) {
			continue
		}
		switch g {
		case "wrk":
			if _, err := exec.LookPath("wrk"); err != nil {
				fmt.Println("note: wrk is not installed; its row is left out (bench/run.sh installs it)")
				continue
			}
		case "locust-fast":
			if _, err := os.Stat("/usr/bin/locust"); err != nil {
				fmt.Println("note: /usr/bin/locust is not installed; Locust's row is left out")
				continue
			}
		}
		gens = append(gens, g)
	}
	return gens
}

func rotate(s []string, n int) []string {
	n %= len(s)
	return append(slices.Clone(s[n:]), s[:n]...)
}

func ownCount(r result) string {
	if r.Requests < 0 {
		return "-"
	}
	return strconv.FormatInt(r.Requests, 10)
}

func cpuPerReq(r run) float64 {
	return float64(r.genCPU.Microseconds()) / float64(max(r.served, 1))
}

func userPerReq(r run) float64 {
	return float64(r.genUser.Microseconds()) / float64(max(r.served, 1))
}

// runOne runs generator g pinned to cores and measures it.
func runOne(ctx context.Context, self string, tgt *target, g, cores string, users int, dur time.Duration) (run, error) {
	var cmd *exec.Cmd
	switch g {
	case "wrk":
		cmd = exec.CommandContext(ctx, "taskset", "-c", cores, "wrk", "-t1", fmt.Sprintf("-c%d", users),
			fmt.Sprintf("-d%ds", int(dur.Seconds())), tgt.url+"/")
	case "locust-fast":
		cmd = exec.CommandContext(ctx, "taskset", "-c", cores, "/usr/bin/python3", "/usr/bin/locust",
			"-f", locustfile(tgt.dir), "--headless", "-u", strconv.Itoa(users), "-r", strconv.Itoa(users),
			"-t", fmt.Sprintf("%ds", int(dur.Seconds())), "-H", tgt.url, "--only-summary", "--loglevel", "WARNING",
			"--stop-timeout", "10", "FastUser")
	default:
		cmd = exec.CommandContext(ctx, "taskset", "-c", cores, self, "-role", "gen", "-mode", g,
			"-url", tgt.url, "-u", strconv.Itoa(users), "-d", dur.String())
	}
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	before, err := tgt.count()
	if err != nil {
		return run{}, err
	}
	cpu0 := tgt.cpu()
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	cpu1 := tgt.cpu()
	after, cerr := tgt.count()
	if err != nil {
		return run{}, fmt.Errorf("%w\n%s", err, out.String())
	}
	if cerr != nil {
		return run{}, cerr
	}
	r := run{gen: g, cores: cores, served: after - before - tgt.countCost, tgtCPU: cpu1 - cpu0, duration: wall}
	if u, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.genCPU = time.Duration(u.Utime.Nano() + u.Stime.Nano())
		r.genUser = time.Duration(u.Utime.Nano())
	}
	switch g {
	case "wrk":
		m := regexp.MustCompile(`(\d+) requests in ([\d.]+)s`).FindStringSubmatch(out.String())
		if m == nil {
			return run{}, fmt.Errorf("cannot read wrk's output:\n%s", out.String())
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		s, _ := strconv.ParseFloat(m[2], 64)
		r.own = result{Requests: n, Seconds: s}
	case "locust-fast":
		// Locust's summary is not parsed; its rate is the target's count
		// over the run time, which leaves out its start-up.
		r.own = result{Requests: -1, Seconds: dur.Seconds()}
	default:
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r.own); err != nil {
			return run{}, fmt.Errorf("cannot read the generator's result: %w\n%s", err, out.String())
		}
	}
	return r, nil
}

func locustfile(dir string) string {
	path := filepath.Join(dir, "locustfile.py")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	src := `from locust import task
from locust.contrib.fasthttp import FastHttpUser


class FastUser(FastHttpUser):
    @task
    def index(self):
        self.client.get("/")
`
	os.WriteFile(path, []byte(src), 0o644)
	return path
}

// target is the server under load.
type target struct {
	kind      string
	url       string
	dir       string
	cmd       *exec.Cmd
	countCost int64 // requests each count() read adds to the count itself
	count     func() (int64, error)
}

// cpu returns the CPU time the target process has used.
func (t *target) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", t.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

func (t *target) stop() {
	t.cmd.Process.Kill()
	t.cmd.Wait()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

const nginxConf = `worker_processes 1;
master_process off;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path %[1]s;
    proxy_temp_path %[1]s;
    fastcgi_temp_path %[1]s;
    uwsgi_temp_path %[1]s;
    scgi_temp_path %[1]s;
    server {
        listen 127.0.0.1:%[2]d backlog=4096;
        location = /nginx_status { stub_status; }
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
`

func startTarget(ctx context.Context, self, dir string) (*target, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &target{dir: dir, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	client := &http.Client{Timeout: 5 * time.Second}
	if nginx, err := exec.LookPath("nginx"); err == nil {
		conf := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, dir, port), 0o644); err != nil {
			return nil, err
		}
		t.kind = "nginx"
		t.cmd = exec.CommandContext(ctx, "taskset", "-c", "1", nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		t.countCost = 1
		re := regexp.MustCompile(`\n\s*(\d+)\s+(\d+)\s+(\d+)`)
		t.count = func() (int64, error) {
			body, err := get(client, t.url+"/nginx_status")
			if err != nil {
				return 0, err
			}
			m := re.FindStringSubmatch(body)
			if m == nil {
				return 0, fmt.Errorf("unexpected stub_status %q", body)
			}
			return strconv.ParseInt(m[3], 10, 64)
		}
	} else {
		fmt.Println("note: nginx is not installed; the target is a Go server on fasthttp (bench/run.sh installs nginx)")
		t.kind = "Go fasthttp server"
		t.cmd = exec.CommandContext(ctx, "taskset", "-c", "1", self, "-role", "target", "-listen", fmt.Sprintf("127.0.0.1:%d", port))
		t.count = func() (int64, error) {
			body, err := get(client, t.url+"/count")
			if err != nil {
				return 0, err
			}
			return strconv.ParseInt(strings.TrimSpace(body), 10, 64)
		}
	}
	t.cmd.Stderr = os.Stderr
	if err := t.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := t.count(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.stop()
			return nil, fmt.Errorf("the target did not come up: %w", err)
		}
		time.Sleep(50 * time.Millisecond) // polling a process we cannot get an event from
	}
	if t.kind == "nginx" {
		// Measure what reading the counter adds to it.
		a, _ := t.count()
		b, _ := t.count()
		t.countCost = b - a
	}
	return t, nil
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// serveTarget is the Go target: "ok\n" on every path, and its own request
// count (not counting itself) on /count.
func serveTarget(addr string) error {
	var n atomic.Int64
	ok := []byte("ok\n")
	s := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		if string(c.Path()) == "/count" {
			fmt.Fprintf(c, "%d\n", n.Load())
			return
		}
		n.Add(1)
		c.SetContentType("text/plain")
		c.Write(ok)
	}}
	return s.ListenAndServe(addr)
}

func printMachine(kind string) {
	model := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Printf("machine: %d cores, %s, Linux %s, %s %s/%s\ntarget: %s\n", runtime.NumCPU(), model,
		strings.TrimSpace(string(kernel)), runtime.Version(), runtime.GOOS, runtime.GOARCH, kind)
}

// report prints the summary table, the ratios and the count check.
func report(runs []run, gens []string) error {
	rates := map[string][]float64{}
	cpus := map[string][]float64{}
	users := map[string][]float64{}
	tcpu := map[string][]float64{}
	byRound := map[string]map[int]float64{}
	mismatches := 0
	key := func(r run) string {
		if r.cores == "0" {
			return r.gen
		}
		return r.gen + "@2cores"
	}
	for _, r := range runs {
		k := key(r)
		rates[k] = append(rates[k], r.rps())
		cpus[k] = append(cpus[k], cpuPerReq(r))
		users[k] = append(users[k], userPerReq(r))
		tcpu[k] = append(tcpu[k], 100*r.tgtCPU.Seconds()/r.own.Seconds)
		if byRound[k] == nil {
			byRound[k] = map[int]float64{}
		}
		byRound[k][r.round] = r.rps()
		if r.gen != "wrk" && r.own.Requests >= 0 && r.own.Requests != r.served {
			mismatches++
		}
	}
	fmt.Printf("\n| generator | cores | req/s median | min–max | gen CPU µs/req | of which user | req/s per CPU-second | target CPU | own count = target's |\n|---|---|---|---|---|---|---|---|---|\n")
	keys := slices.Clone(gens)
	for _, g := range scalingGenerators() {
		if len(rates[g+"@2cores"]) > 0 {
			keys = append(keys, g+"@2cores")
		}
	}
	for _, k := range keys {
		rs := rates[k]
		gen, cores := k, "0"
		if g, ok := strings.CutSuffix(k, "@2cores"); ok {
			gen, cores = g, "0,1"
		}
		equal := "yes"
		switch gen {
		case "wrk":
			equal = "n/a (stops with requests in flight)"
		case "locust-fast":
			equal = "n/a (not read)"
		default:
			for _, r := range runs {
				if key(r) == k && r.own.Requests != r.served {
					equal = "no"
				}
			}
		}
		fmt.Printf("| %s | %s | %.0f | %.0f–%.0f | %.1f | %.2f | %.0f | %.0f%% | %s |\n", gen, cores, median(rs), slices.Min(rs), slices.Max(rs),
			median(cpus[k]), median(users[k]), 1e6/median(cpus[k]), median(tcpu[k]), equal)
	}
	ratio := func(a, b string) (med, lo, hi float64, ok bool) {
		var rs []float64
		for round, x := range byRound[a] {
			if y, ok := byRound[b][round]; ok && y > 0 {
				rs = append(rs, x/y)
			}
		}
		if len(rs) == 0 {
			return 0, 0, 0, false
		}
		return median(rs), slices.Min(rs), slices.Max(rs), true
	}
	fmt.Printf("\nratios of the same round's runs: requests/s median (min–max), and requests per generator CPU-second (medians):\n")
	for _, p := range [][2]string{
		{"golocust", "go-loop"}, {"golocust-fast", "fasthttp-loop"}, {"golocust-fast-kept", "fasthttp-loop"}, {"golocust-fast", "wrk"},
		{"golocust-fast", "golocust"}, {"golocust-fast", "locust-fast"}, {"golocust", "locust-fast"},
		{"golocust@2cores", "golocust"}, {"golocust-fast@2cores", "golocust-fast"},
	} {
		if m, lo, hi, ok := ratio(p[0], p[1]); ok {
			fmt.Printf("  %-22s / %-14s %5.2f  (%.2f–%.2f)   per CPU-second %5.2f\n", p[0], p[1], m, lo, hi, median(cpus[p[1]])/median(cpus[p[0]]))
		}
	}
	for _, g := range scalingGenerators() {
		one, two := median(cpus[g]), median(cpus[g+"@2cores"])
		if one > 0 && two > 0 {
			fmt.Printf("  %-22s CPU per request on 2 cores / on 1 core: %.2f (1.00 = no loss of efficiency when spread over cores)\n", g, two/one)
		}
	}
	if mismatches > 0 {
		return fmt.Errorf("%d runs counted a different number of requests than the target served", mismatches)
	}
	fmt.Println("\ncounts: every golocust and loop run counted exactly the requests the target served")
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// generate runs one generator in this process and prints its result as
// JSON on the last line.
func generate(mode, url string, users int, dur time.Duration, cpuProfile string) error {
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var res result
	var err error
	switch mode {
	case "go-loop":
		res = goLoop(url, users, dur)
	case "fasthttp-loop":
		res = fastLoop(url, users, dur)
	case "golocust", "golocust-fast", "golocust-fast-kept":
		res, err = golocust(mode, url, users, dur)
	default:
		err = fmt.Errorf("unknown generator %q", mode)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// goLoop is the plain net/http loop: users goroutines, each doing GET and
// reading the body until the time is up, no statistics.
func goLoop(url string, users int, dur time.Duration) result {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = users
	client := &http.Client{Transport: tr}
	target := url + "/"
	return loop(users, dur, func() bool {
		resp, err := client.Get(target)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// fastLoop is goLoop on fasthttp.
func fastLoop(url string, users int, dur time.Duration) result {
	client := &fasthttp.Client{MaxConnsPerHost: users}
	target := url + "/"
	return loop(users, dur, func() bool {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI(target)
		if err := client.Do(req, resp); err != nil {
			return false
		}
		return resp.StatusCode() == fasthttp.StatusOK
	})
}

func loop(users int, dur time.Duration, do func() bool) result {
	var total, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	for range users {
		wg.Go(func() {
			var n, f int64
			for time.Now().Before(end) {
				if !do() {
					f++
				}
				n++
			}
			total.Add(n)
			failed.Add(f)
		})
	}
	wg.Wait()
	return result{Requests: total.Load(), Failures: failed.Load(), Seconds: time.Since(start).Seconds()}
}

// benchUser is golocust's user with the default client.
type benchUser struct{ worker.HTTPUser }

func (u *benchUser) Tasks() []worker.Task {
	return []worker.Task{{Name: "index", Run: func(ctx context.Context) error {
		_, err := u.Client.Get(ctx, "/")
		return err
	}}}
}

// fastBenchUser is golocust's user with the fast client.
type fastBenchUser struct{ worker.FastHTTPUser }

func (u *fastBenchUser) Tasks() []worker.Task {
	return []worker.Task{{Name: "index", Run: func(ctx context.Context) error {
		_, err := u.Client.Get(ctx, "/")
		return err
	}}}
}

// keepingBenchUser is fastBenchUser with its client making a new
// Response for every request.
type keepingBenchUser struct{ fastBenchUser }

func (u *keepingBenchUser) OnStart(context.Context) error {
	u.Client.SetReuseResponses(false)
	return nil
}

// golocust runs users users of a golocust user program standalone, with
// no wait time, and returns what its statistics counted. mode picks the
// user: golocust (HTTPUser), golocust-fast (FastHTTPUser) or
// golocust-fast-kept (FastHTTPUser keeping every response).
func golocust(mode, url string, users int, dur time.Duration) (result, error) {
	class := worker.Class("BenchUser", func() *benchUser { return &benchUser{} })
	switch mode {
	case "golocust-fast":
		class = worker.Class("BenchUser", func() *fastBenchUser { return &fastBenchUser{} })
	case "golocust-fast-kept":
		class = worker.Class("BenchUser", func() *keepingBenchUser { return &keepingBenchUser{} })
	}
	s := &worker.Standalone{
		Host: url, Users: users, RunTime: dur, StopTimeout: 10 * time.Second,
		Classes: []*worker.UserClass{class}, Output: io.Discard, OnlySummary: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	res, err := s.Run(context.Background())
	if err != nil {
		return result{}, err
	}
	total := res.Stats.Total()
	return result{Requests: total.NumRequests, Failures: total.NumFailures, Seconds: res.Duration.Seconds()}, nil
}
