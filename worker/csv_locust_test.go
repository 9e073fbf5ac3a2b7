package worker

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
)

// csvScenarioLocustfile is the Python side of the CSV scenario: two
// classes, four request rows (one always failing) and a task that raises.
const csvScenarioLocustfile = `
from locust import HttpUser, task, constant

class Visitor(HttpUser):
    weight = 3
    wait_time = constant(0.05)

    @task(3)
    def home(self):
        self.client.get("/")

    @task
    def item(self):
        self.client.get("/item/7", name="/item/[id]")

    @task
    def fail(self):
        self.client.get("/fail")

class Buyer(HttpUser):
    weight = 1
    wait_time = constant(0.05)

    @task
    def cart(self):
        self.client.post("/cart", data="{}")

    @task
    def boom(self):
        raise ValueError("boom")
`

// locustMainFastFlush runs /usr/bin/locust's main with its CSV files
// flushed every 0.2 s instead of every 10 s.
const locustMainFastFlush = `
import sys
import locust.stats
locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 0.2
from locust.main import main
sys.argv[0] = "locust"
sys.exit(main())
`

// csvScenarioHandler answers the scenario's requests; /fail fails.
func csvScenarioHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
}

type csvVisitor struct{ HTTPUser }

func (v *csvVisitor) Tasks() []Task {
	return []Task{
		{Name: "home", Weight: 3, Run: func(ctx context.Context) error { _, err := v.Client.Get(ctx, "/"); return err }},
		{Name: "item", Run: func(ctx context.Context) error {
			_, err := v.Client.Get(ctx, "/item/7", Name("/item/[id]"))
			return err
		}},
		{Name: "fail", Run: func(ctx context.Context) error { _, err := v.Client.Get(ctx, "/fail"); return err }},
	}
}

type csvBuyer struct{ HTTPUser }

func (b *csvBuyer) Tasks() []Task {
	return []Task{
		{Name: "cart", Run: func(ctx context.Context) error {
			_, err := b.Client.Post(ctx, "/cart", "application/json", []byte("{}"))
			return err
		}},
		{Name: "boom", Run: func(context.Context) error { return errors.New("boom") }},
	}
}

func csvScenarioClasses() []*UserClass {
	return []*UserClass{
		Class("Visitor", func() *csvVisitor { return &csvVisitor{} }).Weight(3).Wait(Constant(50 * time.Millisecond)),
		Class("Buyer", func() *csvBuyer { return &csvBuyer{} }).Weight(1).Wait(Constant(50 * time.Millisecond)),
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func firstLine(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return line
}

// rowShape is a CSV row reduced to what must match Locust: its column
// count and its identifying columns.
func rowShape(row []string, idCols ...int) string {
	var id []string
	for _, c := range idCols {
		if c < len(row) {
			id = append(id, row[c])
		}
	}
	return fmt.Sprintf("%d cols %q", len(row), id)
}

func shapes(rows [][]string, idCols ...int) []string {
	var out []string
	for _, r := range rows {
		out = append(out, rowShape(r, idCols...))
	}
	return out
}

// lastHistoryBlock returns the lines of the history file's last point in
// time: the lines after the second-to-last Aggregated line.
func lastHistoryBlock(rows [][]string) [][]string {
	body := rows[1:]
	end := len(body)
	start := 0
	for i := end - 2; i >= 0; i-- {
		if len(body[i]) > 3 && body[i][3] == "Aggregated" {
			start = i + 1
			break
		}
	}
	return body[start:end]
}

// TestCSVFilesMatchLocust runs the same scenario with the real Locust
// 2.12.1 (`locust --headless --csv`) and with golocust against one target,
// and compares the four files: headers byte for byte, and the rows' layout
// (names, order, column count); the measured values differ, of course.
func TestCSVFilesMatchLocust(t *testing.T) {
	locusttest.Locust(t)
	target := locusttest.StartTarget(t, csvScenarioHandler())
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full_history=%v", full), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			locustfile := filepath.Join(dir, "locustfile.py")
			if err := os.WriteFile(locustfile, []byte(csvScenarioLocustfile), 0o644); err != nil {
				t.Fatal(err)
			}
			pyArgs := []string{"-f", locustfile, "--headless", "-u", "4", "-r", "4", "-t", "4s", "-H", target.URL,
				"--csv", filepath.Join(dir, "py"), "--only-summary", "--loglevel", "WARNING"}
			goArgs := []string{"-u", "4", "-r", "4", "-t", "4s", "-H", target.URL, "--csv", filepath.Join(dir, "go"),
				"--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0", "-s", "2s"}
			if full {
				pyArgs = append(pyArgs, "--csv-full-history")
				goArgs = append(goArgs, "--csv-full-history")
			}
			// Locust 2.12.1 flushes its history file every 10 s and not at
			// exit, so a short run would leave one line; this runs the same
			// main with the flush interval shortened.
			py := locusttest.Start(t, dir, pythonWithLocust, append([]string{"-c", locustMainFastFlush}, pyArgs...)...)
			code := RunCommand(context.Background(), goArgs, io.Discard, io.Discard, csvScenarioClasses()...)
			if code != ExitOK {
				t.Fatalf("golocust exit code %d", code)
			}
			if c := py.Wait(t, 60*time.Second); c != 1 { // failures and exceptions: exit_code_on_error
				t.Fatalf("locust exit code %d, want 1", c)
			}

			for _, file := range []string{"stats", "stats_history", "failures", "exceptions"} {
				pyPath := filepath.Join(dir, "py_"+file+".csv")
				goPath := filepath.Join(dir, "go_"+file+".csv")
				if p, g := firstLine(t, pyPath), firstLine(t, goPath); p != g {
					t.Errorf("%s header:\n golocust %s\n Locust   %s", file, g, p)
				}
			}

			// Stats: one row per (Type, Name) in Locust's order, Aggregated last.
			pyStats, goStats := readCSV(t, filepath.Join(dir, "py_stats.csv")), readCSV(t, filepath.Join(dir, "go_stats.csv"))
			if p, g := shapes(pyStats[1:], 0, 1), shapes(goStats[1:], 0, 1); !reflect.DeepEqual(p, g) {
				t.Errorf("stats rows:\n golocust %v\n Locust   %v", g, p)
			}
			if len(goStats) != 6 {
				t.Errorf("stats rows: %d lines, want the header, 4 rows and Aggregated", len(goStats))
			}

			// Failures: the same (Method, Name, Error) rows in the same order.
			pyFail, goFail := readCSV(t, filepath.Join(dir, "py_failures.csv")), readCSV(t, filepath.Join(dir, "go_failures.csv"))
			if p, g := shapes(pyFail[1:], 0, 1, 2), shapes(goFail[1:], 0, 1, 2); !reflect.DeepEqual(p, g) {
				t.Errorf("failures rows:\n golocust %v\n Locust   %v", g, p)
			}

			// Exceptions: one row each, four columns, node "local".
			pyEx, goEx := readCSV(t, filepath.Join(dir, "py_exceptions.csv")), readCSV(t, filepath.Join(dir, "go_exceptions.csv"))
			if p, g := shapes(pyEx[1:], 3), shapes(goEx[1:], 3); !reflect.DeepEqual(p, g) {
				t.Errorf("exceptions rows:\n golocust %v\n Locust   %v", g, p)
			}

			// History: every line has the header's column count; the last
			// point in time lists the same rows in the same order.
			pyHist, goHist := readCSV(t, filepath.Join(dir, "py_stats_history.csv")), readCSV(t, filepath.Join(dir, "go_stats_history.csv"))
			for name, rows := range map[string][][]string{"Locust": pyHist, "golocust": goHist} {
				if len(rows) < 3 {
					t.Fatalf("%s history has %d lines", name, len(rows))
				}
				for i, r := range rows {
					if len(r) != len(rows[0]) {
						t.Errorf("%s history line %d has %d columns, header %d", name, i+1, len(r), len(rows[0]))
					}
				}
			}
			if p, g := shapes(lastHistoryBlock(pyHist), 2, 3), shapes(lastHistoryBlock(goHist), 2, 3); !reflect.DeepEqual(p, g) {
				t.Errorf("history rows at the last point in time:\n golocust %v\n Locust   %v", g, p)
			}
			t.Logf("stats rows %v; failures %v; last history point %v", shapes(goStats[1:], 0, 1), shapes(goFail[1:], 0, 1, 2), shapes(lastHistoryBlock(goHist), 2, 3))
			// Lines come about every second, as Locust's CSV_STATS_INTERVAL_SEC.
			if n := len(goHist) - 1; full {
				if n < 3*5 {
					t.Errorf("golocust history has %d lines for 4 s, want about 5 points of 5 rows", n)
				}
			} else if n < 3 || n > 7 {
				t.Errorf("golocust history has %d lines for 4 s, want about 5", n)
			}
		})
	}
}
