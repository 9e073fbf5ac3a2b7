package worker

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/golocust/golocust/protocol"
	"github.com/golocust/golocust/stats"
)

// hugeEnv enables the 1,000,000-user benchmarks, which take tens of
// seconds and several GB: GOLOCUST_BENCH_HUGE=1 go test -run=^$ -bench=Idle ./worker
const hugeEnv = "GOLOCUST_BENCH_HUGE"

// benchUserCounts returns the user counts the spawn and memory benchmarks
// use.
func benchUserCounts() []int {
	counts := []int{10_000, 100_000}
	if os.Getenv(hugeEnv) == "1" {
		counts = append(counts, 1_000_000)
	}
	return counts
}

// arrivals counts users reaching a point and closes all once n have.
type arrivals struct {
	n     int64
	count atomic.Int64
	all   chan struct{}
}

func newArrivals(n int) *arrivals { return &arrivals{n: int64(n), all: make(chan struct{})} }

func (a *arrivals) arrive() {
	if a.count.Add(1) == a.n {
		close(a.all)
	}
}

func (a *arrivals) wait(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	select {
	case <-a.all:
	case <-time.After(timeout):
		tb.Fatalf("only %d of %d users arrived within %s", a.count.Load(), a.n, timeout)
	}
}

// idleUser runs one task and then waits an hour: an idle user, parked in
// its wait time between tasks.
type idleBenchUser struct{ arrived *arrivals }

func (u *idleBenchUser) Tasks() []Task {
	return []Task{{Name: "arrive", Run: func(context.Context) error { u.arrived.arrive(); return nil }}}
}

// idleHTTPUser is idleBenchUser with its own HTTP client and cookie jar.
type idleHTTPUser struct {
	HTTPUser
	idleBenchUser
}

// idleFastUser is idleBenchUser with its own fast HTTP client.
type idleFastUser struct {
	FastHTTPUser
	idleBenchUser
}

// newBenchPool returns a pool running class, stopping users at once.
func newBenchPool(tb testing.TB, class *UserClass, host string) *pool {
	tb.Helper()
	classes, err := validateClasses([]*UserClass{class})
	if err != nil {
		tb.Fatal(err)
	}
	p := newPool(classes, stats.NewCollector(), slog.New(slog.DiscardHandler), nil)
	p.configure(host, 0, tagFilter{})
	return p
}

// stopBenchPool stops every user of p and waits for them.
func stopBenchPool(tb testing.TB, p *pool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p.stopAll(ctx)
	waitPool(tb, p)
}

// idleClasses returns user classes of idle users, each made to report to a.
func idleClasses() []struct {
	name string
	make func(a *arrivals) *UserClass
} {
	hour := Constant(time.Hour)
	return []struct {
		name string
		make func(a *arrivals) *UserClass
	}{
		{"bare", func(a *arrivals) *UserClass {
			return Class("Idle", func() *idleBenchUser { return &idleBenchUser{arrived: a} }).Wait(hour)
		}},
		{"HTTPUser", func(a *arrivals) *UserClass {
			return Class("Idle", func() *idleHTTPUser { return &idleHTTPUser{idleBenchUser: idleBenchUser{arrived: a}} }).Wait(hour)
		}},
		{"FastHTTPUser", func(a *arrivals) *UserClass {
			return Class("Idle", func() *idleFastUser { return &idleFastUser{idleBenchUser: idleBenchUser{arrived: a}} }).Wait(hour)
		}},
	}
}

// idleUsersEnv, set to "<kind> <users>", makes TestIdleUsersProcess the
// child process of BenchmarkSpawn and BenchmarkIdleUserMemory.
const idleUsersEnv = "GOLOCUST_BENCH_IDLE_USERS"

// idleRun is what one child process measured.
type idleRun struct {
	spawn, stop   time.Duration
	spawnCPU      time.Duration // the process's CPU time while spawning; -1 where unknown
	before, after memory
}

// processCPU returns the CPU time (user and system) the process has used,
// from /proc/self/stat, or -1 where there is none.
func processCPU() time.Duration {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	_, rest, _ := strings.Cut(string(stat), ") ") // after the command name, which may hold spaces
	fields := strings.Fields(rest)
	if len(fields) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick
}

// TestIdleUsersProcess is not a test: it is the child process of
// BenchmarkSpawn and BenchmarkIdleUserMemory. It spawns the users its
// environment asks for, measures, stops them and prints an idleRun.
//
// Each measurement needs a process of its own: the runtime keeps the
// descriptor of every goroutine that ever ran (about 450 bytes) for reuse,
// so in a process that ran users before, new users would not pay for
// theirs, and the heap would not have to grow either.
func TestIdleUsersProcess(t *testing.T) {
	spec := os.Getenv(idleUsersEnv)
	if spec == "" {
		t.Skip("the child process of BenchmarkSpawn and BenchmarkIdleUserMemory")
	}
	var kind string
	var n int
	if _, err := fmt.Sscan(spec, &kind, &n); err != nil {
		t.Fatalf("%s=%q: %v", idleUsersEnv, spec, err)
	}
	for _, k := range idleClasses() {
		if k.name != kind {
			continue
		}
		a := newArrivals(n)
		p := newBenchPool(t, k.make(a), "http://127.0.0.1:1")
		var r idleRun
		r.before = liveMemory()
		start, cpu := time.Now(), processCPU()
		p.setTarget(context.Background(), map[string]int64{"Idle": int64(n)})
		a.wait(t, 5*time.Minute)
		r.spawn, r.spawnCPU = time.Since(start), -1
		if cpu >= 0 {
			r.spawnCPU = processCPU() - cpu
		}
		r.after = liveMemory()
		start = time.Now()
		stopBenchPool(t, p)
		r.stop = time.Since(start)
		fmt.Printf("idle-users %d %d %d %d %d %d %d\n", r.spawn, r.spawnCPU, r.stop, r.before.heap, r.before.stack, r.after.heap, r.after.stack)
		return
	}
	t.Fatalf("no user kind %q", kind)
}

// runIdleUsers runs TestIdleUsersProcess for n users of kind in a child
// process and returns what it measured.
func runIdleUsers(b *testing.B, kind string, n int) idleRun {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleUsersProcess$", "-test.count=1", "-test.timeout=20m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", idleUsersEnv, kind, n))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s users=%d: %v\n%s", kind, n, err, out)
	}
	for line := range strings.Lines(string(out)) {
		var r idleRun
		if _, err := fmt.Sscanf(line, "idle-users %d %d %d %d %d %d %d", &r.spawn, &r.spawnCPU, &r.stop,
			&r.before.heap, &r.before.stack, &r.after.heap, &r.after.stack); err == nil {
			return r
		}
	}
	b.Fatalf("%s users=%d: no result in the child's output:\n%s", kind, n, out)
	return idleRun{}
}

// BenchmarkSpawn measures how long the pool takes to bring n users to
// their first wait: from setTarget until every user has run its first
// task, in a fresh process (see TestIdleUsersProcess). ns/op is that
// time; cpu-s is the CPU time the process used meanwhile (on Linux; all
// cores, the garbage collector's included), which another tenant of the
// machine slows down less; stop-s is how long stopping them all took.
func BenchmarkSpawn(b *testing.B) {
	for _, n := range benchUserCounts() {
		for _, kind := range idleClasses() {
			b.Run(fmt.Sprintf("users=%d/%s", n, kind.name), func(b *testing.B) {
				var spawn, cpu, stop time.Duration
				for b.Loop() {
					r := runIdleUsers(b, kind.name, n)
					spawn += r.spawn
					cpu += r.spawnCPU
					stop += r.stop
				}
				b.ReportMetric(float64(spawn.Nanoseconds())/float64(b.N), "ns/op")
				b.ReportMetric(float64(spawn.Nanoseconds())/float64(b.N)/float64(n), "ns/user")
				if cpu >= 0 {
					b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s")
				}
				b.ReportMetric(stop.Seconds()/float64(b.N), "stop-s")
			})
		}
	}
}

// memory is what the heap's live objects and the goroutine stacks take.
type memory struct{ heap, stack int64 }

// liveMemory measures memory after a full collection.
func liveMemory() memory {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memory{heap: int64(m.HeapAlloc), stack: int64(m.StackInuse)}
}

// reportPerUser reports the memory between before and after per user:
// B/user in all, and its heap and stack parts.
func reportPerUser(b *testing.B, before, after memory, users int) {
	heap := float64(after.heap-before.heap) / float64(users)
	stack := float64(after.stack-before.stack) / float64(users)
	b.ReportMetric(heap+stack, "B/user")
	b.ReportMetric(heap, "heap-B/user")
	b.ReportMetric(stack, "stack-B/user")
}

// BenchmarkIdleUserMemory measures the memory of idle users, each of which
// has run one task and waits in its wait time, in a fresh process (see
// TestIdleUsersProcess). It reports bytes per user (heap and goroutine
// stack) of the last run.
func BenchmarkIdleUserMemory(b *testing.B) {
	for _, n := range benchUserCounts() {
		for _, kind := range idleClasses() {
			b.Run(fmt.Sprintf("users=%d/%s", n, kind.name), func(b *testing.B) {
				var r idleRun
				for b.Loop() {
					r = runIdleUsers(b, kind.name, n)
				}
				reportPerUser(b, r.before, r.after, n)
			})
		}
	}
}

// keepAliveServerEnv, set, makes TestKeepAliveServerProcess a server that
// holds keep-alive connections for BenchmarkKeepAliveUserMemory, in a
// process of its own so that its memory is not counted.
const keepAliveServerEnv = "GOLOCUST_BENCH_KEEPALIVE_SERVER"

// TestKeepAliveServerProcess is not a test: it is the server process of
// BenchmarkKeepAliveUserMemory. It prints its address, answers "/" after
// a delay (so that users' requests overlap and each user needs its own
// connection), answers /conns with its open connection count, and exits
// when its standard input closes.
func TestKeepAliveServerProcess(t *testing.T) {
	if os.Getenv(keepAliveServerEnv) == "" {
		t.Skip("the server process of BenchmarkKeepAliveUserMemory")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var s *fasthttp.Server
	s = &fasthttp.Server{
		IdleTimeout: time.Hour,
		Handler: func(c *fasthttp.RequestCtx) {
			if string(c.Path()) == "/conns" {
				fmt.Fprintf(c, "%d", s.GetOpenConnectionsCount()-1)
				return
			}
			time.Sleep(time.Second) // a slow answer keeps the requests overlapping
			c.WriteString("ok")
		},
	}
	go s.Serve(ln)
	fmt.Println(ln.Addr())
	bufio.NewReader(os.Stdin).ReadString('\n')
	s.Shutdown()
}

// startKeepAliveServer runs the server process and returns its URL.
func startKeepAliveServer(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKeepAliveServerProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), keepAliveServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("keep-alive server: %v", err)
	}
	return "http://" + strings.TrimSpace(addr)
}

// keepAliveUser makes one request and then idles, keeping its
// connection open.
type keepAliveUser struct {
	get     func(ctx context.Context) error
	arrived *arrivals
}

func (u *keepAliveUser) Tasks() []Task {
	return []Task{{Name: "get", Run: func(ctx context.Context) error {
		err := u.get(ctx)
		u.arrived.arrive()
		return err
	}}}
}

type keepAliveHTTPUser struct {
	HTTPUser
	keepAliveUser
}

type keepAliveFastUser struct {
	FastHTTPUser
	keepAliveUser
}

// BenchmarkKeepAliveUserMemory measures users that each hold a live
// keep-alive connection to a server in another process. It reports bytes
// per user and the connections the server saw open.
func BenchmarkKeepAliveUserMemory(b *testing.B) {
	const n = 10_000
	hour := Constant(time.Hour)
	kinds := []struct {
		name string
		make func(a *arrivals) *UserClass
	}{
		{"HTTPUser", func(a *arrivals) *UserClass {
			return Class("Live", func() *keepAliveHTTPUser {
				u := &keepAliveHTTPUser{}
				u.keepAliveUser = keepAliveUser{arrived: a, get: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/"); return err }}
				return u
			}).Wait(hour)
		}},
		{"FastHTTPUser", func(a *arrivals) *UserClass {
			return Class("Live", func() *keepAliveFastUser {
				u := &keepAliveFastUser{}
				u.keepAliveUser = keepAliveUser{arrived: a, get: func(ctx context.Context) error { _, err := u.Client.Get(ctx, "/"); return err }}
				return u
			}).Wait(hour)
		}},
	}
	for _, kind := range kinds {
		b.Run(fmt.Sprintf("users=%d/%s", n, kind.name), func(b *testing.B) {
			url := startKeepAliveServer(b)
			var before, after memory
			var conns int
			for b.Loop() {
				a := newArrivals(n)
				p := newBenchPool(b, kind.make(a), url)
				before = liveMemory()
				p.setTarget(context.Background(), map[string]int64{"Live": n})
				a.wait(b, 2*time.Minute)
				after = liveMemory()
				c := newFastHTTPClient(url, stats.NewCollector().Recorder(0))
				r, err := c.Get(context.Background(), "/conns")
				if err != nil {
					b.Fatal(err)
				}
				conns, _ = strconv.Atoi(r.Text())
				if rep := p.collector.Report(time.Now()); rep.Total.NumFailures > 0 {
					b.Fatalf("%d of %d requests failed: %+v", rep.Total.NumFailures, rep.Total.NumRequests, rep.Errors)
				}
				stopBenchPool(b, p)
			}
			reportPerUser(b, before, after, n)
			b.ReportMetric(float64(conns), "conns")
		})
	}
}

// BenchmarkReportSize builds and encodes one report of 10 endpoints with
// 10 and with 10,000 users making the same requests: the report's size
// and message count must not grow with the user count.
func BenchmarkReportSize(b *testing.B) {
	now := time.Unix(1_795_691_000, 0)
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("/api/%d", i)
	}
	for _, users := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			var size int
			for b.Loop() {
				b.StopTimer()
				// The same 30,000 requests, spread over the users.
				c := stats.NewCollector()
				recorders := make([]stats.Recorder, users)
				for u := range recorders {
					recorders[u] = c.Recorder(uint64(u))
				}
				for i := range 30_000 {
					recorders[i%users].Record(stats.Sample{Method: "GET", Name: names[i%len(names)],
						Duration: time.Duration(1+i%200) * time.Millisecond, Size: 512, At: now.Add(time.Duration(i%3) * time.Second)})
				}
				b.StartTimer()
				m := statsMessage(c.Report(now.Add(3*time.Second)), map[string]int64{"WebUser": int64(users)})
				body, err := protocol.Encode("node", m)
				if err != nil {
					b.Fatal(err)
				}
				size = len(body)
			}
			b.ReportMetric(float64(size), "bytes/report")
			b.ReportMetric(1, "messages/report")
		})
	}
}

// BenchmarkReportBuild measures turning a delta report of 100 rows into
// the wire message, without encoding.
func BenchmarkReportBuild(b *testing.B) {
	now := time.Unix(1_795_691_000, 0)
	c := stats.NewCollector()
	r := c.Recorder(1)
	for i := range 10_000 {
		r.Record(stats.Sample{Method: "GET", Name: fmt.Sprintf("/api/%d", i%100), Duration: time.Duration(i%500) * time.Millisecond, At: now})
	}
	rep := c.Report(now.Add(3 * time.Second))
	counts := map[string]int64{"WebUser": 100}
	b.ReportAllocs()
	for b.Loop() {
		statsMessage(rep, counts)
	}
}

// BenchmarkClientRequest measures one recorded request end to end over
// loopback with each client, against a fasthttp server in this process
// (so the figure includes the server's share of the CPU).
func BenchmarkClientRequest(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) { c.WriteString("ok") }}
	go s.Serve(ln)
	defer s.Shutdown()
	url := "http://" + ln.Addr().String()
	clients := []struct {
		name string
		get  func(rec stats.Recorder) func(context.Context) error
	}{
		{"net/http", func(rec stats.Recorder) func(context.Context) error {
			c := newHTTPClient(url, newHTTPTransport(), rec)
			return func(ctx context.Context) error { _, err := c.Get(ctx, "/"); return err }
		}},
		{"fasthttp", func(rec stats.Recorder) func(context.Context) error {
			c := newFastHTTPClient(url, rec)
			return func(ctx context.Context) error { _, err := c.Get(ctx, "/"); return err }
		}},
	}
	for _, cl := range clients {
		b.Run(cl.name, func(b *testing.B) {
			collector := stats.NewCollector()
			var ids atomic.Uint64
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				get := cl.get(collector.Recorder(ids.Add(1)))
				ctx := context.Background()
				for pb.Next() {
					if err := get(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// connUsersEnv sets the user count of BenchmarkConnectionPerUserMemory,
// 500 by default: GOLOCUST_BENCH_CONN_USERS=15000 go test -run='^$'
// -bench=ConnectionPerUser -benchtime=1x ./worker (with ulimit -n above
// twice the count: the server process holds the other ends).
const connUsersEnv = "GOLOCUST_BENCH_CONN_USERS"

// rssBytes returns the process's resident set size, or 0 where unknown.
func rssBytes() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// connUsersProcessEnv, set to "<client> <users> <url>", makes
// TestConnUsersProcess the child process of
// BenchmarkConnectionPerUserMemory.
const connUsersProcessEnv = "GOLOCUST_BENCH_CONN_PROCESS"

// TestConnUsersProcess is not a test: it is the child process of
// BenchmarkConnectionPerUserMemory, so that each measurement of the
// resident memory starts from a fresh process. It starts the users, each
// with a connection of its own to the server at url, and prints what it
// measured: heap and stacks, resident memory, and the connections the
// server saw open.
func TestConnUsersProcess(t *testing.T) {
	spec := os.Getenv(connUsersProcessEnv)
	if spec == "" {
		t.Skip("the child process of BenchmarkConnectionPerUserMemory")
	}
	var client, url string
	var n int
	if _, err := fmt.Sscan(spec, &client, &n, &url); err != nil {
		t.Fatalf("%s=%q: %v", connUsersProcessEnv, spec, err)
	}
	a := newArrivals(n)
	p := newBenchPool(t, connClass(client, a).ConnectionPerUser(), url)
	before, rssBefore := liveMemory(), rssBytes()
	p.setTarget(context.Background(), map[string]int64{"Conn": int64(n)})
	a.wait(t, 5*time.Minute)
	after, rssAfter := liveMemory(), rssBytes()
	r, err := newFastHTTPClient(url, stats.NewCollector().Recorder(0)).Get(context.Background(), "/conns")
	if err != nil {
		t.Fatal(err)
	}
	if rep := p.collector.Report(time.Now()); rep.Total.NumFailures > 0 {
		t.Fatalf("%d of %d requests failed: %+v", rep.Total.NumFailures, rep.Total.NumRequests, rep.Errors)
	}
	fmt.Printf("conn-users %d %d %d %d %d %s\n", before.heap, before.stack, after.heap, after.stack, rssAfter-rssBefore, r.Text())
	stopBenchPool(t, p)
}

// BenchmarkConnectionPerUserMemory measures users that each hold a
// connection of their own (ConnectionPerUser) to a server in another
// process, as Python Locust users do, each in a fresh process (see
// TestConnUsersProcess): B/user is heap and stacks per connected user,
// rss-B/user the resident memory, conns the connections the server saw
// open (it must equal the users).
func BenchmarkConnectionPerUserMemory(b *testing.B) {
	n := 500
	if v := os.Getenv(connUsersEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("%s=%q: want a positive count", connUsersEnv, v)
		}
	}
	for _, kind := range []struct{ name, client string }{{"HTTPUser", "net/http"}, {"FastHTTPUser", "fasthttp"}} {
		b.Run(fmt.Sprintf("users=%d/%s", n, kind.name), func(b *testing.B) {
			url := startKeepAliveServer(b)
			var before, after memory
			var rss int64
			var conns int
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestConnUsersProcess$", "-test.count=1", "-test.timeout=20m")
				cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %s", connUsersProcessEnv, kind.client, n, url))
				cmd.Stderr = os.Stderr
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
				found := false
				for line := range strings.Lines(string(out)) {
					if _, err := fmt.Sscanf(line, "conn-users %d %d %d %d %d %d", &before.heap, &before.stack, &after.heap, &after.stack, &rss, &conns); err == nil {
						found = true
					}
				}
				if !found {
					b.Fatalf("no result in the child's output:\n%s", out)
				}
			}
			reportPerUser(b, before, after, n)
			b.ReportMetric(float64(rss)/float64(n), "rss-B/user")
			b.ReportMetric(float64(conns), "conns")
			if conns != n {
				b.Errorf("%d users hold %d connections, want one each", n, conns)
			}
		})
	}
}
