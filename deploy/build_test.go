package deploy

// This file owns the tests that build and run: TestBuildFromGuide runs
// docs/deploy.md's chart library and build lines in a copy of the image's
// build context, checks the binary is static, writes --html reports, and
// runs it with the manifests' worker command lines; TestImageBuild runs
// the guide's docker build where a container engine works.

import (
	"bufio"
	"context"
	"debug/elf"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// TestBuildFromGuide builds the worker the way the image's build stage
// does and runs it the way the manifests do.
func TestBuildFromGuide(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a worker binary (minutes with a cold build cache); skipped with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the image's binary is a Linux one")
	}
	block := guideBuildBlock(t)
	dir := copyBuildContext(t)
	noChartLibrary := buildChartLibrary(t, dir)
	if noChartLibrary != "" {
		t.Logf("the guide's chartlib lines were not run: %s; the binary is built without the chart library", noChartLibrary)
	}
	start := time.Now()
	runOK(t, 10*time.Minute, dir, nil, "sh", "-ec", block.text)
	t.Logf("built in %v: %s", time.Since(start).Round(time.Millisecond), block.buildLine)
	bin := filepath.Join(dir, outputOf(t, block.buildLine))

	checkStatic(t, bin)
	checkHelp(t, bin, nil)
	t.Run("html", func(t *testing.T) {
		if noChartLibrary != "" {
			t.Skipf("not checked: %s, so the chart library was not built", noChartLibrary)
		}
		checkHTMLRun(t, bin, filepath.Join(dir, "report", "lib"))
	})
	for _, args := range dockerRunArgs(t, guideDockerBuild(t).tag) {
		checkHelp(t, bin, args) // the guide's docker run: its options exist
	}
	for _, w := range workerCommandLines(t) {
		t.Run(w.name, func(t *testing.T) {
			checkHelp(t, bin, w.args)
			host, port := workerAddress(w.args, w.env)
			want := net.JoinHostPort(host, port)
			if got := waitedForMaster(t, bin, w.args, w.env); got != want {
				t.Errorf("the worker waits for %s, its command line names %s", got, want)
			}
		})
	}
	fleets := []struct {
		name string
		read func(*testing.T) fleet
	}{{"fleet/compose", composeFleet}, {"fleet/kubernetes", kubeFleet}}
	for _, f := range fleets {
		t.Run(f.name, func(t *testing.T) { runFleet(t, bin, f.read(t)) })
	}
}

// workerLine is one worker's command line and environment from the
// manifests.
type workerLine struct {
	name string
	args []string
	env  map[string]string
}

// workerCommandLines returns the workers' arguments (after the image's
// entrypoint) and environment from Compose and Kubernetes.
func workerCommandLines(t *testing.T) []workerLine {
	t.Helper()
	var lines []workerLine
	for name, s := range loadCompose(t).Services {
		if s.Build != nil {
			lines = append(lines, workerLine{"compose/" + name, s.Command, s.Environment})
		}
	}
	_, workers := splitDeployments(t, loadCluster(t))
	for _, d := range workers {
		c := d.Spec.Template.Spec.Containers[0]
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		lines = append(lines, workerLine{"kubernetes/" + d.Metadata.Name, c.Args, env})
	}
	if len(lines) < 2 {
		t.Fatalf("%d worker command lines, want one from Compose and one from Kubernetes at least", len(lines))
	}
	return lines
}

// copyBuildContext copies the repository into a new directory the way
// Docker sends it as the build context: without what .dockerignore
// excludes, read with the library Docker reads it with.
func copyBuildContext(t *testing.T) string {
	t.Helper()
	root := ".."
	pm := dockerignore(t)
	dst := t.TempDir()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		switch {
		case err != nil:
			return err
		case excluded && d.IsDir() && !pm.Exclusions():
			return filepath.SkipDir
		case excluded:
			return nil
		}
		return copyEntry(path, filepath.Join(dst, rel), d)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go.mod", "go.sum"} {
		if _, err := os.Stat(filepath.Join(dst, name)); err != nil {
			t.Errorf("the build context lacks %s: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, ".git")); err == nil {
		t.Error("the build context holds .git")
	}
	return dst
}

// dockerignore reads .dockerignore's rules with the library Docker reads
// them with.
func dockerignore(t *testing.T) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// copyEntry copies one directory, regular file or symbolic link.
func copyEntry(src, dst string, d fs.DirEntry) error {
	switch {
	case d.IsDir():
		return os.MkdirAll(dst, 0o755)
	case d.Type()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case d.Type().IsRegular():
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, info.Mode().Perm())
	}
	return nil
}

// runOK runs a command in dir with the test's environment plus env, and
// fails the test with its output unless it exits 0 within timeout.
func runOK(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

// checkStatic checks bin is an ELF executable with no interpreter and no
// shared libraries: it runs on an image without a C library.
func checkStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an interpreter (PT_INTERP): it is dynamically linked", bin)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %q (%v)", bin, libs, err)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		t.Errorf("%s: ELF type %v is not an executable", bin, f.Type)
	}
}

// containerEnv is the environment of a worker in the image, plus env: no
// LOCUST_* variables of the test's own, a HOME of its own.
func containerEnv(home string, env map[string]string) []string {
	out := []string{"PATH=/usr/bin:/bin", "HOME=" + home}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// checkHelp runs bin with args and -h: every option in args must exist
// and take the value given, or the real parser exits 2.
func checkHelp(t *testing.T, bin string, args []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(append([]string{}, args...), "-h")...)
	cmd.Dir = t.TempDir()
	cmd.Env = containerEnv(cmd.Dir, nil)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--master-host") {
		t.Errorf("%s %q -h: %v (want exit 0 and the help text)\n%s", filepath.Base(bin), args, err, out)
	}
}

// waitingLine is the worker's log line that names the master it waits for.
var waitingLine = regexp.MustCompile(`msg="waiting for the Locust master" master=(\S+)`)

// waitedForMaster starts bin as the manifests do (args, env), in a network
// namespace of its own so that it reaches nothing, and returns the
// master's address its log says it waits for. The worker is killed then.
func waitedForMaster(t *testing.T, bin string, args []string, env map[string]string) string {
	t.Helper()
	if err := exec.Command("unshare", "--net", "--", "true").Run(); err != nil {
		t.Skipf("unshare --net does not work here (%v): the worker was not started, only its options were checked with -h", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", append([]string{"--net", "--", bin}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = containerEnv(cmd.Dir, env)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	var seen []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if m := waitingLine.FindStringSubmatch(sc.Text()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("the worker (%q, env %v) said nothing of a master before it ended (%v):\n%s", args, env, ctx.Err(), strings.Join(seen, "\n"))
	return ""
}

// TestImageBuild runs the guide's docker build where a container engine
// answers, and checks the image's user, its size, that it runs, and that
// it writes an --html report with the chart library.
func TestImageBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image; skipped with -short")
	}
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("no container engine here (docker info: %v: %s): the guide's docker build was not run; TestBuildFromGuide ran the image's build lines without Docker", err, lastLine(out))
	}
	b := guideDockerBuild(t)
	runOK(t, 20*time.Minute, "..", nil, "sh", "-c", b.text)
	user := strings.TrimSpace(runOK(t, time.Minute, "..", nil, "docker", "image", "inspect", "-f", "{{.Config.User}}", b.tag))
	stages := readDockerfile(t).stages
	final := stages[len(stages)-1]
	if want := final.stepsOf("USER")[0].args; user != want {
		t.Errorf("image %s runs as %q, the Dockerfile says %q", b.tag, user, want)
	}
	size := strings.TrimSpace(runOK(t, time.Minute, "..", nil, "docker", "image", "inspect", "-f", "{{.Size}}", b.tag))
	if n, err := strconv.ParseInt(size, 10, 64); err != nil || n > 64<<20 {
		t.Errorf("image %s is %s bytes (%v): want at most 64 MiB", b.tag, size, err)
	}
	help := runOK(t, time.Minute, "..", nil, "docker", "run", "--rm", b.tag, "-h")
	if !strings.Contains(help, "--master-host") {
		t.Errorf("docker run %s -h printed no help:\n%s", b.tag, help)
	}
	checkImageHTML(t, b.tag)
}

// checkImageHTML runs the image standalone for a second with --html into
// a mounted directory: without a network its requests fail, which
// --exit-code-on-error 0 lets pass; the page must inline uPlot.
func checkImageHTML(t *testing.T, tag string) {
	t.Helper()
	out := t.TempDir()
	if err := os.Chmod(out, 0o777); err != nil { // the image's user writes there
		t.Fatal(err)
	}
	runOK(t, 2*time.Minute, "..", nil, "docker", "run", "--rm", "--network", "none", "-v", out+":/out", tag,
		"-H", "http://127.0.0.1:1", "-u", "1", "-r", "1", "-t", "1s", "--exit-code-on-error", "0", "--html", "/out/report.html")
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatalf("the image wrote no --html report: %v", err)
	}
	checkReportHasLibrary(t, page, nil)
}

// lastLine returns the last non-empty line of out.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
