package worker_test

// This file holds the examples of the ways in from the command line: Main
// and RunCommand. worker_example_test.go has the Worker's.

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"time"

	"github.com/golocust/golocust/worker"
)

// ExampleMain is a whole program: its func main hands the user classes to
// Main, which reads Locust's flags (go run . -H http://localhost:8080 -u 20
// -t 1m, or --master-host to join a master) and exits with the test's
// exit code. The first Ctrl-C stops the test gracefully, a second exits at
// once.
func ExampleMain() {
	visitor := worker.Class("Visitor", func() *pageVisitor { return &pageVisitor{} }).
		Wait(worker.Between(time.Second, 3*time.Second))
	_ = visitor // in func main: worker.Main(visitor)
}

// ExampleRunCommand runs a short test in-process against a server of its
// own and reports the exit code: 3, because the threshold cannot hold.
func ExampleRunCommand() {
	srv := httptest.NewServer(nil) // answers 404: every request fails
	defer srv.Close()
	visitor := worker.Class("Visitor", func() *pageVisitor { return &pageVisitor{} })
	code := worker.RunCommand(context.Background(),
		[]string{"-H", srv.URL, "-t", "200ms", "-s", "2s", "--threshold", "fail_ratio<1%"},
		discard{}, discard{}, visitor)
	fmt.Println("exit code", code)
	// Output: exit code 3
}

// ExampleRunCommand_defaults gives a program defaults of its own, the way
// examples/quickstart does: they go before the command line's arguments,
// which override them, and -h shows them as the defaults.
func ExampleRunCommand_defaults() {
	defaults := []string{"-H", "http://127.0.0.1:8080", "-u", "20", "-r", "10", "-t", "10s"}
	args := append(defaults, os.Args[1:]...)
	ctx, stop := worker.SignalContext(context.Background(), os.Stderr) // a second signal exits at once
	defer stop()
	visitor := worker.Class("Visitor", func() *pageVisitor { return &pageVisitor{} })
	_ = func() { os.Exit(worker.RunCommand(ctx, args, os.Stdout, os.Stderr, visitor)) } // in func main
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
