// Package worker runs simulated users written in Go, as a worker of a
// Python Locust master or standalone like `locust --headless`.
//
// A program declares its users and hands their classes to [Main]:
//
//	type WebUser struct{ worker.HTTPUser } // each user has its own client and cookies
//
//	func (u *WebUser) Tasks() []worker.Task {
//		return []worker.Task{{Name: "home", Run: func(ctx context.Context) error {
//			_, err := u.Client.Get(ctx, "/")
//			return err
//		}}}
//	}
//
//	func main() {
//		worker.Main(worker.Class("WebUser", func() *WebUser { return &WebUser{} }).
//			Wait(worker.Between(time.Second, 3*time.Second)))
//	}
//
// Main reads Locust's flags and LOCUST_* variables (-h lists them):
// `go run . -H http://localhost:8080 -u 50 -r 10 -t 5m` runs a test
// standalone, with a live table, a summary, --csv, --json and --threshold;
// `go run . --master-host 10.0.0.1` joins a master whose locustfile has
// classes of the same names, and the master decides how many users run.
//
// # Users
//
// A user is an ordinary Go struct; each user gets its own value, so its
// fields are per-user state. Its tasks are functions that take a context
// and return an error; the runtime picks one task by weight, runs it,
// waits the class's wait time, and repeats until the user is stopped.
// Everything a Locust user has is here, in Go's terms:
//
//   - user classes ([Class]) with a name, weight, fixed count, host and wait
//     time; a constructor per class;
//   - OnStart, OnStop and WaitTime methods, when a user has them (see
//     [User]); OnStop runs however the user ends;
//   - weighted tasks ([Task]), nested and sequential task sets ([TaskSet])
//     that hand control back with [ErrInterrupt], [ErrStopUser] to stop one
//     user and [StopTest] to end the test;
//   - wait times: [Between], [Constant], [ConstantPacing],
//     [ConstantThroughput], or any [WaitTimeFunc];
//   - tags on tasks, selected by the master's --tags/--exclude-tags or the
//     same flags standalone;
//   - custom options ([FloatOption] and friends, see [Option]) from the
//     master's command line or from flags;
//   - an HTTP client per user ([HTTPUser], or [FastHTTPUser] for more
//     requests per core) with its own cookies, row names ([Name]),
//     catch_response-style checks ([Check]) and timeouts; [Record] for any
//     other protocol.
//
// Stopping follows Locust: a user in its wait stops at once; a user in a
// task may finish it within the stop timeout, after which its context is
// cancelled. A request cut short that way is recorded as a failure
// (RequestCancelled), never dropped.
//
// # Advanced ways in
//
// [RunCommand] is Main for programs that do more around the test: defaults
// of their own, a server of their own, a test run from a Go test. It takes
// the arguments, output streams and context, and returns the exit code.
//
// [Standalone] and [Worker] run a test without the command line, for
// programs with flags of their own: a Standalone returns a [Result] with
// the statistics; a Worker serves a master until it says quit. Both take
// [HTTPOptions] for TLS and connections.
package worker

// This file holds the package documentation only.
