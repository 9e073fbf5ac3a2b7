package deploy

// This file owns the --html report's chart library in the image: the
// Dockerfile's chartlib stage and the build stage's steps that use it
// match docs/deploy.md's chartlib block, .dockerignore keeps the
// builder's own copy out of the context (TestDockerignore), the guide's
// chartlib lines run where npm's registry answers, and a built binary
// writes a report with the library inlined.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/report"
)

// chartlibBlock is the guide's block marked chartlib: the npm ci line that
// installs the library from the lock file and the line that copies its
// files into report/lib.
type chartlibBlock struct {
	text    string
	npmLine string
	genLine string
}

// guideChartlibBlock reads the block marked chartlib: one npm ci line,
// then one genlib.go line, nothing else.
func guideChartlibBlock(t *testing.T) chartlibBlock {
	t.Helper()
	b := chartlibBlock{text: markedBlock(t, "chartlib").text}
	lines := strings.Split(strings.TrimSpace(b.text), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "npm ci ") || !strings.Contains(lines[1], "genlib.go") {
		t.Fatalf("the chartlib block is %q: want an npm ci line, then a genlib.go line", b.text)
	}
	b.npmLine, b.genLine = lines[0], lines[1]
	return b
}

// chartlibFiles are the package files the chartlib stage copies: npm ci
// installs exactly what the lock file names, with its integrity hashes.
func chartlibFiles() []string { return []string{"report/package-lock.json", "report/package.json"} }

// checkChartlibStage checks the node stage: an LTS Node, only the package
// files copied in (the layer follows them alone), and the guide's npm ci
// line as its one RUN. It returns where node_modules ends up.
func checkChartlibStage(t *testing.T, df dockerfile, chart stage) string {
	t.Helper()
	image := strings.ReplaceAll(chart.from, "${NODE_VERSION}", df.globalArgs["NODE_VERSION"])
	m := regexp.MustCompile(`^node:(\d+)-[a-z]+-slim$`).FindStringSubmatch(image)
	if m == nil || chart.name == "" {
		t.Fatalf("chart library stage FROM %s AS %q: want node:<LTS>-<debian>-slim with a name", image, chart.name)
	}
	if major, _ := strconv.Atoi(m[1]); major < 20 || major%2 != 0 {
		t.Errorf("chart library stage Node %d: want an LTS line (even, 20 or later)", major)
	}
	copies := chart.stepsOf("COPY")
	if len(copies) != 1 {
		t.Fatalf("chart library stage has %d COPY lines, want 1 (the package files)", len(copies))
	}
	words := strings.Fields(copies[0].args)
	srcs := slices.Sorted(slices.Values(words[:len(words)-1]))
	if !slices.Equal(srcs, chartlibFiles()) || words[len(words)-1] != "report/" {
		t.Errorf("chart library stage COPY %s: want %s report/", copies[0].args, strings.Join(chartlibFiles(), " "))
	}
	runs := chart.stepsOf("RUN")
	guide := guideChartlibBlock(t)
	if len(runs) != 1 || runs[0].args != guide.npmLine {
		t.Errorf("chart library stage RUN %v: want one, docs/deploy.md's (chartlib)\n\t%s", runs, guide.npmLine)
	}
	return path.Join(workdir(t, chart), "report", "node_modules")
}

// workdir returns the stage's one WORKDIR.
func workdir(t *testing.T, s stage) string {
	t.Helper()
	dirs := s.stepsOf("WORKDIR")
	if len(dirs) != 1 {
		t.Fatalf("stage %s has %d WORKDIR lines, want 1", s.name, len(dirs))
	}
	return dirs[0].args
}

// checkBuildUsesChartlib checks the build stage brings the sources in,
// then node_modules from the chartlib stage to the same place, then runs
// the guide's genlib line, then go build: the binary embeds the files
// genlib copied from the lock file's install.
func checkBuildUsesChartlib(t *testing.T, chart, build stage, modules string) {
	t.Helper()
	guide := guideChartlibBlock(t)
	sources, fromChart, gen, goBuild := -1, -1, -1, -1
	for i, in := range build.steps {
		switch {
		case in.cmd == "COPY" && in.args == ". .":
			sources = i
		case in.cmd == "COPY" && strings.HasPrefix(in.args, "--from="+chart.name+" "):
			words := strings.Fields(in.args)
			dst := words[len(words)-1]
			if !path.IsAbs(dst) {
				dst = path.Join(workdir(t, build), dst)
			}
			if len(words) != 3 || words[1] != modules || dst != path.Join(workdir(t, build), "report", "node_modules") {
				t.Errorf("build stage COPY %s: want --from=%s %s report/node_modules", in.args, chart.name, modules)
			}
			fromChart = i
		case in.cmd == "RUN" && strings.Contains(in.args, "genlib.go"):
			if in.args != guide.genLine {
				t.Errorf("build stage RUN %s: docs/deploy.md's (chartlib) is\n\t%s", in.args, guide.genLine)
			}
			gen = i
		case in.cmd == "RUN" && strings.Contains(in.args, "go build"):
			goBuild = i
		}
	}
	if sources < 0 || fromChart < 0 || gen < 0 || !(sources < gen && fromChart < gen && gen < goBuild) {
		t.Errorf("build stage steps: COPY . . at %d, COPY --from=%s at %d, RUN genlib at %d, go build at %d: want the copies, then genlib, then go build",
			sources, chart.name, fromChart, gen, goBuild)
	}
}

// TestDockerignore checks that the build context leaves out the chart
// library of the builder's tree (node_modules, report/lib's copied files)
// and keeps what the image's stages read.
func TestDockerignore(t *testing.T) {
	pm := dockerignore(t)
	excluded := []string{
		".git/HEAD",
		"report/node_modules/uplot/dist/uPlot.iife.min.js",
		"report/node_modules/.package-lock.json",
		"report/lib/uPlot.iife.min.js",
		"report/lib/uPlot.min.css",
		"report/lib/a-file-genlib-may-copy-one-day.js",
	}
	kept := append([]string{
		"go.mod", "go.sum", "examples/http/main.go",
		"report/genlib.go", "report/report.go", "report/report.html",
		"report/lib/README.md", // go:embed lib needs a file there
	}, chartlibFiles()...)
	for _, name := range excluded {
		if ok, err := pm.MatchesOrParentMatches(name); err != nil || !ok {
			t.Errorf(".dockerignore sends %s to the build (%v)", name, err)
		}
	}
	for _, name := range kept {
		if ok, err := pm.MatchesOrParentMatches(name); err != nil || ok {
			t.Errorf(".dockerignore leaves out %s (%v)", name, err)
		}
	}
}

// buildChartLibrary runs the guide's chartlib lines in dir, the copy of
// the build context, where npm can reach its registry; else it returns
// why it did not, and the binary is built without the library.
func buildChartLibrary(t *testing.T, dir string) (skipped string) {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		return "npm is not installed"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ping := exec.CommandContext(ctx, "npm", "ping", "--fetch-retries=0")
	ping.Dir = dir
	if out, err := ping.CombinedOutput(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v", time.Minute)
		}
		return fmt.Sprintf("npm's registry does not answer here (npm ping: %v: %s)", err, npmReason(out))
	}
	start := time.Now()
	runOK(t, 10*time.Minute, dir, nil, "sh", "-ec", guideChartlibBlock(t).text)
	t.Logf("chart library installed and copied in %v", time.Since(start).Round(time.Millisecond))
	return ""
}

// npmReason returns the line of npm's output that says why it failed:
// its FetchError, else its error code, else its last line.
func npmReason(out []byte) string {
	lines := strings.Split(string(out), "\n")
	for _, key := range []string{"FetchError", "npm error code"} {
		if i := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, key) }); i >= 0 {
			return strings.TrimSpace(lines[i])
		}
	}
	return lastLine(out)
}

// lockedUPlotVersion returns the uplot version report/package-lock.json
// pins.
func lockedUPlotVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "report", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		t.Fatalf("report/package-lock.json: %v", err)
	}
	v := lock.Packages["node_modules/uplot"].Version
	if v == "" {
		t.Fatal("report/package-lock.json pins no node_modules/uplot")
	}
	return v
}

// checkReportHasLibrary checks a --html page inlines uPlot at the version
// the lock file pins (its banner comment) and, when script is not nil,
// exactly that script.
func checkReportHasLibrary(t *testing.T, page, script []byte) {
	t.Helper()
	banner := "https://github.com/leeoniya/uPlot (v" + lockedUPlotVersion(t) + ")"
	if !strings.Contains(string(page), banner) {
		t.Errorf("the --html page (%d bytes) lacks uPlot's banner %q", len(page), banner)
	}
	if script != nil && !strings.Contains(string(page), string(script)) {
		t.Errorf("the --html page (%d bytes) does not inline report/lib's script (%d bytes)", len(page), len(script))
	}
}

// checkHTMLRun runs bin standalone for one second against a server on
// 127.0.0.1 with --html, as a user of the image would: the run must
// accept --html, exit 0 and write a page with the library that genlib
// copied into libDir.
func checkHTMLRun(t *testing.T, bin, libDir string) {
	t.Helper()
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	home := t.TempDir()
	page := filepath.Join(home, "report.html")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-H", srv.URL, "-u", "2", "-r", "2", "-t", "1s", "--html", page)
	cmd.Dir = home
	cmd.Env = containerEnv(home, nil)
	out, err := cmd.CombinedOutput()
	if refusal := report.ErrNoChartLibrary.Error(); strings.Contains(string(out), refusal) {
		t.Fatalf("the binary refuses --html (%q): its build has no chart library\n%s", refusal, out)
	}
	if err != nil {
		t.Fatalf("%s --html: %v\n%s", filepath.Base(bin), err, out)
	}
	if requests.Load() == 0 {
		t.Errorf("the 1 s run sent no request:\n%s", out)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatalf("the run wrote no report: %v\n%s", err, out)
	}
	script, err := os.ReadFile(filepath.Join(libDir, "uPlot.iife.min.js"))
	if err != nil {
		t.Fatalf("genlib copied no script: %v", err)
	}
	checkReportHasLibrary(t, html, script)
	t.Logf("%d requests in 1 s; report %d bytes with uPlot %s inlined", requests.Load(), len(html), lockedUPlotVersion(t))
}
