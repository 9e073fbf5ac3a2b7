package worker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/golocust/golocust/worker"
)

// ExampleCommand runs a program with defaults that its command line may
// override, the way examples/quickstart does. Main handles the signals: the
// first Ctrl-C stops the test gracefully, a second exits at once.
func ExampleCommand() {
	cmd := &worker.Command{
		Classes:  []*worker.UserClass{worker.Class("Visitor", func() *pageVisitor { return &pageVisitor{} })},
		Defaults: []string{"-H", "http://127.0.0.1:8080", "-u", "20", "-r", "10", "-t", "10s"},
	}
	_ = cmd.Main // in func main: cmd.Main()
}

// ExampleCommand_Run runs a short test in-process against a server of its
// own and reports the exit code: 3, because the threshold cannot hold.
func ExampleCommand_Run() {
	srv := httptest.NewServer(nil) // answers 404: every request fails
	defer srv.Close()
	cmd := &worker.Command{
		Classes: []*worker.UserClass{worker.Class("Visitor", func() *pageVisitor { return &pageVisitor{} })},
		Stdout:  discard{}, Stderr: discard{},
	}
	code := cmd.Run(context.Background(), []string{"-H", srv.URL, "-t", "200ms", "-s", "2s", "--threshold", "fail_ratio<1%"})
	fmt.Println("exit code", code)
	// Output: exit code 3
}

// ExampleParseArgs reads a command line for a program with its own flag
// handling, then runs it with Command.Execute.
func ExampleParseArgs() {
	cfg, err := worker.ParseArgs([]string{"-u", "50", "-r", "5", "-t", "1h30m", "--threshold", "p95<300ms"}, os.Getenv)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Users, cfg.SpawnRate, cfg.RunTime, cfg.Thresholds[0].Metric, cfg.Thresholds[0].Value)
	// Output: 50 5 1h30m0s p95 300
}

// ExampleParseThreshold shows the threshold grammar: an optional row
// name, a metric, an operator and a value.
func ExampleParseThreshold() {
	for _, s := range []string{"p95<300ms", "fail_ratio<1%", "rps>=100", "/item/[id]:max<2s"} {
		th, err := worker.ParseThreshold(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("row=%q metric=%s op=%s value=%g\n", th.Row, th.Metric, th.Op, th.Value)
	}
	// Output:
	// row="" metric=p95 op=< value=300
	// row="" metric=fail_ratio op=< value=0.01
	// row="" metric=rps op=>= value=100
	// row="/item/[id]" metric=max op=< value=2000
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// pageVisitor gets the home page.
type pageVisitor struct{ worker.HTTPUser }

func (v *pageVisitor) Tasks() []worker.Task {
	return []worker.Task{{Name: "home", Run: func(ctx context.Context) error {
		_, err := v.Client.Get(ctx, "/")
		return err
	}}}
}

// ExampleCommand_Execute is for a program with its own flags: it fills a
// Config from DefaultConfig and runs it.
func ExampleCommand_Execute() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	cfg := worker.DefaultConfig()
	cfg.Host, cfg.Users, cfg.RunTime, cfg.OnlySummary = srv.URL, 2, 200*time.Millisecond, true
	cfg.LogLevel = "ERROR"
	cfg.StopTimeout = 2 * time.Second // users finish their request at the end
	th, _ := worker.ParseThreshold("requests>0")
	cfg.Thresholds = append(cfg.Thresholds, th)
	cmd := &worker.Command{
		Classes: []*worker.UserClass{worker.Class("Visitor", func() *pageVisitor { return &pageVisitor{} })},
		Stdout:  discard{},
	}
	fmt.Println("exit code", cmd.Execute(context.Background(), cfg))
	// Output: exit code 0
}
