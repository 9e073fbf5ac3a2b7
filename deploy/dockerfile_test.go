package deploy

// This file owns reading the Dockerfile (instructions, stages, build
// arguments) and TestDockerfile: its stages are what docs/deploy.md says
// and its build lines are the guide's (the chart library's stage is
// checked by chartlib_test.go).

import (
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// dockerfilePath is the worker image's Dockerfile, relative to this package.
var dockerfilePath = filepath.Join("..", "Dockerfile")

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

// stage is one FROM and what follows it.
type stage struct {
	from  string // the image, as written
	name  string // AS name
	steps []instruction
}

// dockerfile is a parsed Dockerfile: the ARGs before the first FROM and
// the stages.
type dockerfile struct {
	globalArgs map[string]string
	stages     []stage
}

// readDockerfile parses the Dockerfile: comments and blank lines are
// skipped, a line ending in \ continues on the next.
func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	df := dockerfile{globalArgs: map[string]string{}}
	var pending strings.Builder
	start := 0
	for n, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if pending.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if pending.Len() == 0 {
			start = n + 1
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(trimmed)
		cmd, args, _ := strings.Cut(pending.String(), " ")
		pending.Reset()
		df.add(t, instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start})
	}
	return df
}

func (df *dockerfile) add(t *testing.T, in instruction) {
	if in.cmd == "FROM" {
		fields := strings.Fields(in.args)
		s := stage{from: fields[0]}
		if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
			s.name = fields[2]
		}
		df.stages = append(df.stages, s)
		return
	}
	if len(df.stages) == 0 {
		if in.cmd != "ARG" {
			t.Fatalf("%s:%d: %s before the first FROM", dockerfilePath, in.line, in.cmd)
		}
		k, v, _ := strings.Cut(in.args, "=")
		df.globalArgs[k] = v
		return
	}
	last := &df.stages[len(df.stages)-1]
	last.steps = append(last.steps, in)
}

// stepsOf returns the stage's instructions of one kind.
func (s stage) stepsOf(cmd string) []instruction {
	var out []instruction
	for _, in := range s.steps {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// arg returns the default of the stage's ARG name.
func (s stage) arg(name string) (string, bool) {
	for _, in := range s.stepsOf("ARG") {
		if k, v, _ := strings.Cut(in.args, "="); k == name {
			return v, true
		}
	}
	return "", false
}

// buildLine returns the build stage's go build command, the RUN that
// builds the binary.
func (s stage) buildLine(t *testing.T) string {
	t.Helper()
	var lines []string
	for _, in := range s.stepsOf("RUN") {
		if strings.Contains(in.args, "go build") {
			lines = append(lines, in.args)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%s: the build stage has %d RUN lines with go build, want 1", dockerfilePath, len(lines))
	}
	return lines[0]
}

// outputOf returns the -o of a go build line.
func outputOf(t *testing.T, line string) string {
	t.Helper()
	words, err := shellWords(line)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range words {
		if w == "-o" && i+1 < len(words) {
			return words[i+1]
		}
	}
	t.Fatalf("%q names no -o output", line)
	return ""
}

// goLine returns go.mod's go version as major, minor.
func goLine(t *testing.T) (int, int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major, minor
}

// TestDockerfile checks the worker image's Dockerfile: a node stage that
// installs the chart library from the lock file with the guide's npm ci
// line (chartlib_test.go), a golang build stage at least as new as
// go.mod's go line that copies the library in and builds with the guide's
// commands, and a small final stage with no shell commands that copies
// the binary and runs it, in exec form, as a numeric non-root user.
func TestDockerfile(t *testing.T) {
	df := readDockerfile(t)
	if len(df.stages) != 3 {
		t.Fatalf("%d stages, want 3 (chart library, build, final)", len(df.stages))
	}
	chart, build, final := df.stages[0], df.stages[1], df.stages[2]
	modules := checkChartlibStage(t, df, chart)
	checkBuildStage(t, df, build)
	checkBuildUsesChartlib(t, chart, build, modules)
	checkFinalStage(t, build, final)
}

func checkBuildStage(t *testing.T, df dockerfile, build stage) {
	image := strings.ReplaceAll(build.from, "${GO_VERSION}", df.globalArgs["GO_VERSION"])
	m := regexp.MustCompile(`^golang:(\d+)\.(\d+)`).FindStringSubmatch(image)
	if m == nil || build.name == "" {
		t.Fatalf("build stage FROM %s AS %q: want golang:<version> with a name", image, build.name)
	}
	major, minor := goLine(t)
	gotMajor, _ := strconv.Atoi(m[1])
	gotMinor, _ := strconv.Atoi(m[2])
	if gotMajor != major || gotMinor < minor {
		t.Errorf("build stage Go %d.%d is older than go.mod's go %d.%d", gotMajor, gotMinor, major, minor)
	}
	line := build.buildLine(t)
	if !strings.HasPrefix(line, "CGO_ENABLED=0 go build") {
		t.Errorf("build line %q: want CGO_ENABLED=0 go build (a static binary)", line)
	}
	guide := guideBuildBlock(t)
	if guide.buildLine != line {
		t.Errorf("the Dockerfile builds with\n\t%s\nbut docs/deploy.md (build) says\n\t%s", line, guide.buildLine)
	}
	pkg, ok := build.arg("PACKAGE")
	if !ok || guide.vars["PACKAGE"] != pkg {
		t.Errorf("the Dockerfile's ARG PACKAGE default is %q, the guide's build block sets %q", pkg, guide.vars["PACKAGE"])
	}
	if b := guideDockerBuild(t); b.args["PACKAGE"] != pkg {
		t.Errorf("the guide's docker build passes PACKAGE=%q, the Dockerfile's default is %q", b.args["PACKAGE"], pkg)
	}
}

func checkFinalStage(t *testing.T, build, final stage) {
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s: want distroless static or scratch (a small image)", final.from)
	}
	if runs := final.stepsOf("RUN"); len(runs) > 0 {
		t.Errorf("final stage line %d: RUN in an image without a shell", runs[0].line)
	}
	binary := path.Join(workdir(t, build), outputOf(t, build.buildLine(t)))
	copies := final.stepsOf("COPY")
	if len(copies) != 1 || !strings.HasPrefix(copies[0].args, "--from="+build.name+" "+binary+" ") {
		t.Fatalf("final stage COPY %v: want one COPY --from=%s %s DEST (the build's WORKDIR and -o)", copies, build.name, binary)
	}
	dest := strings.Fields(copies[0].args)[2]
	var entry []string
	entries := final.stepsOf("ENTRYPOINT")
	if len(entries) != 1 || json.Unmarshal([]byte(entries[0].args), &entry) != nil || len(entry) == 0 || entry[0] != dest {
		t.Errorf("ENTRYPOINT %v: want the exec form [%q] (signals reach the worker, no shell needed)", entries, dest)
	}
	users := final.stepsOf("USER")
	if len(users) != 1 {
		t.Fatalf("final stage has %d USER lines, want 1", len(users))
	}
	uid, err := strconv.Atoi(strings.Split(users[0].args, ":")[0])
	if err != nil || uid == 0 {
		t.Errorf("USER %s: want a numeric non-root user (Kubernetes' runAsNonRoot checks the number)", users[0].args)
	}
}
