package worker

// This file tests the configuration files: which source wins (default
// files < --config < environment < command line), both formats
// (locust.conf and [tool.locust] of a .toml file), the errors (unknown
// key, unreadable file) and warnings (Locust's options golocust has no
// use for), the locust.conf parser against ConfigArgParse's, and a fuzz
// target for it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// noConfigDefaults reads no default configuration file: tests do not
// depend on a ~/.locust.conf or ./locust.conf of the machine.
func noConfigDefaults(func(string) string) []string { return nil }

// writeConfig writes text to name in dir and returns its path.
func writeConfig(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// setting is one option set in a source; as TOML, value is written as
// it is (quote strings yourself), list items are quoted.
type setting struct {
	key, value string
	list       []string
}

// confText writes settings as locust.conf lines.
func confText(settings []setting) string {
	var b strings.Builder
	for _, s := range settings {
		if s.list != nil {
			fmt.Fprintf(&b, "%s = [%s]\n", s.key, strings.Join(s.list, ", "))
			continue
		}
		fmt.Fprintf(&b, "%s = %s\n", s.key, s.value)
	}
	return b.String()
}

// tomlText writes settings as a pyproject.toml with other tables around
// [tool.locust]; string values are quoted unless they are numbers or
// booleans.
func tomlText(settings []setting) string {
	var b strings.Builder
	b.WriteString("[project]\nname = \"shop-load\"\n\n[tool.black]\nline-length = 100\n\n[tool.locust]\n")
	for _, s := range settings {
		if s.list != nil {
			quoted := make([]string, len(s.list))
			for i, it := range s.list {
				quoted[i] = fmt.Sprintf("%q", it)
			}
			fmt.Fprintf(&b, "%s = [%s]\n", s.key, strings.Join(quoted, ", "))
			continue
		}
		v := s.value
		if _, err := strconv.ParseFloat(v, 64); err != nil && v != "true" && v != "false" {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, "%s = %s\n", s.key, v)
	}
	b.WriteString("\n[tool.pytest.ini_options]\naddopts = \"-q\"\n")
	return b.String()
}

// TestConfigPrecedence checks, for options of each kind (whole number,
// text, list, repeatable, boolean, custom), that each source beats the
// ones below it: file < environment (LOCUST_*) < command line, in both
// file formats.
func TestConfigPrecedence(t *testing.T) {
	type sources struct {
		file []setting
		env  map[string]string
		args []string
	}
	cases := []struct {
		name  string
		src   sources
		check func(cfg config, depth int) string // "" when right
	}{
		{"users: default", sources{}, func(c config, _ int) string { return want(c.Users, 1) }},
		{"users: file", sources{file: []setting{{key: "users", value: "10"}}}, func(c config, _ int) string { return want(c.Users, 10) }},
		{"users: env beats file", sources{file: []setting{{key: "users", value: "10"}}, env: map[string]string{"LOCUST_USERS": "20"}},
			func(c config, _ int) string { return want(c.Users, 20) }},
		{"users: flag beats file", sources{file: []setting{{key: "users", value: "10"}}, args: []string{"-u", "30"}},
			func(c config, _ int) string { return want(c.Users, 30) }},
		{"users: flag beats env and file", sources{file: []setting{{key: "users", value: "10"}}, env: map[string]string{"LOCUST_USERS": "20"}, args: []string{"--users=30"}},
			func(c config, _ int) string { return want(c.Users, 30) }},
		{"host: file", sources{file: []setting{{key: "host", value: "http://file"}}}, func(c config, _ int) string { return want(c.Host, "http://file") }},
		{"host: env beats file", sources{file: []setting{{key: "host", value: "http://file"}}, env: map[string]string{"LOCUST_HOST": "http://env"}},
			func(c config, _ int) string { return want(c.Host, "http://env") }},
		{"host: flag beats env", sources{file: []setting{{key: "host", value: "http://file"}}, env: map[string]string{"LOCUST_HOST": "http://env"}, args: []string{"-H", "http://flag"}},
			func(c config, _ int) string { return want(c.Host, "http://flag") }},
		{"spawn-rate and run-time: file", sources{file: []setting{{key: "spawn-rate", value: "2.5"}, {key: "run-time", value: "1m30s"}}},
			func(c config, _ int) string {
				return want(fmt.Sprint(c.SpawnRate, c.RunTime, c.given["spawn-rate"]), "2.5 1m30s true")
			}},
		{"tags: file list", sources{file: []setting{{key: "tags", list: []string{"a", "b"}}}}, func(c config, _ int) string { return want(c.Tags, []string{"a", "b"}) }},
		{"tags: env beats file", sources{file: []setting{{key: "tags", list: []string{"a", "b"}}}, env: map[string]string{"LOCUST_TAGS": "c"}},
			func(c config, _ int) string { return want(c.Tags, []string{"c"}) }},
		{"tags: flag beats env", sources{file: []setting{{key: "tags", list: []string{"a", "b"}}}, env: map[string]string{"LOCUST_TAGS": "c"}, args: []string{"-T", "d,e"}},
			func(c config, _ int) string { return want(c.Tags, []string{"d", "e"}) }},
		{"threshold: file list adds up", sources{file: []setting{{key: "threshold", list: []string{"p95<300ms", "fail_ratio<1%"}}}},
			func(c config, _ int) string { return want(thresholdTexts(c), []string{"p95<300ms", "fail_ratio<1%"}) }},
		{"threshold: env replaces file's", sources{file: []setting{{key: "threshold", list: []string{"p95<300ms", "fail_ratio<1%"}}}, env: map[string]string{"LOCUST_THRESHOLD": "rps>1"}},
			func(c config, _ int) string { return want(thresholdTexts(c), []string{"rps>1"}) }},
		{"threshold: flags replace env's and file's", sources{file: []setting{{key: "threshold", list: []string{"p95<300ms"}}}, env: map[string]string{"LOCUST_THRESHOLD": "rps>1"},
			args: []string{"--threshold", "max<2s", "--threshold", "requests>=10"}},
			func(c config, _ int) string { return want(thresholdTexts(c), []string{"max<2s", "requests>=10"}) }},
		{"only-summary: file true", sources{file: []setting{{key: "only-summary", value: "true"}}}, func(c config, _ int) string { return want(c.OnlySummary, true) }},
		{"only-summary: env false beats file true", sources{file: []setting{{key: "only-summary", value: "true"}}, env: map[string]string{"LOCUST_ONLY_SUMMARY": "false"}},
			func(c config, _ int) string { return want(c.OnlySummary, false) }},
		{"only-summary: flag false beats env true", sources{env: map[string]string{"LOCUST_ONLY_SUMMARY": "true"}, args: []string{"--only-summary=false"}},
			func(c config, _ int) string { return want(c.OnlySummary, false) }},
		{"custom option: file", sources{file: []setting{{key: "depth", value: "4"}}}, func(_ config, d int) string { return want(d, 4) }},
		{"custom option: env beats file", sources{file: []setting{{key: "depth", value: "4"}}, env: map[string]string{"LOCUST_DEPTH": "5"}},
			func(_ config, d int) string { return want(d, 5) }},
		{"custom option: flag beats env", sources{file: []setting{{key: "depth", value: "4"}}, env: map[string]string{"LOCUST_DEPTH": "5"}, args: []string{"--depth", "6"}},
			func(_ config, d int) string { return want(d, 6) }},
		{"a flag's bad value in the file is never read", sources{file: []setting{{key: "users", value: "many"}}, args: []string{"-u", "3"}},
			func(c config, _ int) string { return want(c.Users, 3) }},
	}
	formats := []struct {
		name string
		text func([]setting) string
	}{{"test.conf", confText}, {"pyproject.toml", tomlText}}
	for _, f := range formats {
		for _, c := range cases {
			t.Run(f.name+"/"+c.name, func(t *testing.T) {
				depth := IntOption("depth", 1, "how deep users go")
				class := Class("A", func() fixedUser { return fixedUser{} }).Options(depth)
				args := c.src.args
				if c.src.file != nil {
					path := writeConfig(t, t.TempDir(), f.name, f.text(c.src.file))
					args = append([]string{"--config", path}, args...)
				}
				cfg, err := parseArgs(args, func(k string) string { return c.src.env[k] }, class)
				if err != nil {
					t.Fatal(err)
				}
				if msg := c.check(cfg, depth.Value()); msg != "" {
					t.Error(msg)
				}
			})
		}
	}
}

// want returns "" when got equals want, else what differs.
func want[T any](got, want T) string {
	if fmt.Sprint(got) == fmt.Sprint(want) {
		return ""
	}
	return fmt.Sprintf("got %v, want %v", got, want)
}

// thresholdTexts returns the texts of cfg's thresholds.
func thresholdTexts(cfg config) []string {
	var out []string
	for _, th := range cfg.Thresholds {
		out = append(out, th.Text)
	}
	return out
}

// TestConfigFilesRank checks the files among themselves, as Locust ranks
// them: ~/.locust.conf < ./locust.conf < --config's; --config's beats
// LOCUST_CONFIG's (only one of them is read); an absent default is
// skipped.
func TestConfigFilesRank(t *testing.T) {
	dir := t.TempDir()
	home := writeConfig(t, dir, ".locust.conf", "users = 1\nspawn-rate = 1\nrun-time = 1s\nhost = http://home\n")
	local := writeConfig(t, dir, "locust.conf", "spawn-rate = 2\nrun-time = 2s\nhost = http://local\n")
	named := writeConfig(t, dir, "named.conf", "run-time = 3s\nhost = http://named\n")
	fromEnv := writeConfig(t, dir, "env.conf", "host = http://env-file\nstop-timeout = 9s\n")
	env := map[string]string{"LOCUST_CONFIG": fromEnv}
	getenv := func(k string) string { return env[k] }
	defaults := []string{home, filepath.Join(dir, "absent.conf"), local}

	cfg, err := parseSources([]string{"--config", named}, getenv, defaults)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%v %v %v %v %v", cfg.Users, cfg.SpawnRate, cfg.RunTime, cfg.Host, cfg.StopTimeout)
	if got != "1 2 3s http://named 0s" {
		t.Errorf("with --config: users, spawn rate, run time, host, stop timeout = %s; want 1 2 3s http://named 0s", got)
	}
	cfg, err = parseSources(nil, getenv, defaults)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%v %v %v", cfg.RunTime, cfg.Host, cfg.StopTimeout); got != "2s http://env-file 9s" {
		t.Errorf("with LOCUST_CONFIG: run time, host, stop timeout = %s; want 2s http://env-file 9s", got)
	}
}

// TestDefaultConfigFiles: Locust 2.12.1's defaults, the home directory
// from the environment; --config=~/x is expanded as Locust does.
func TestDefaultConfigFiles(t *testing.T) {
	home := "/home/tester"
	getenv := func(k string) string {
		if k == "HOME" || k == "USERPROFILE" || k == "home" {
			return home
		}
		return ""
	}
	if got, want := defaultConfigFiles(getenv), []string{filepath.Join(home, ".locust.conf"), "locust.conf"}; !slices.Equal(got, want) {
		t.Errorf("defaultConfigFiles = %q, want %q", got, want)
	}
	if got := defaultConfigFiles(func(string) string { return "" }); !slices.Equal(got, []string{"locust.conf"}) {
		t.Errorf("without a home: %q, want only locust.conf", got)
	}
	if got := expandHome("~/x.conf", getenv); got != filepath.Join(home, "x.conf") {
		t.Errorf("expandHome(~/x.conf) = %q", got)
	}
	if got := expandHome("a~/x.conf", getenv); got != "a~/x.conf" {
		t.Errorf("expandHome(a~/x.conf) = %q", got)
	}
}

// TestConfigConfFormat reads a locust.conf with every form
// ConfigArgParse's parser takes.
func TestConfigConfFormat(t *testing.T) {
	text := "\uFEFF# a comment\r\n" +
		"; another\n" +
		"[section headers are comments]\n" +
		"---\n" +
		"\n" +
		"users = 10\r\n" +
		"spawn-rate: 2\n" +
		"run-time 1m\n" +
		"--host=\"http://quoted:8080/a b\"   # a comment after a quoted value\n" +
		"csv = 'out # not a comment'\n" +
		"only-summary\n" +
		"reset-stats = yes\n" +
		"tags = [\"checkout\", \"search\"]\n" +
		"exclude-tags = [slow, flaky]\n" +
		"threshold = p95<300ms\n" +
		"threshold = fail_ratio<1%;rps>=5\n" +
		"loglevel = warning ; trailing comment\n" +
		"exit-code-on-error = 7\n" +
		"stop-timeout = 5\n"
	path := writeConfig(t, t.TempDir(), "locust.conf", text)
	cfg, err := parseArgs([]string{"--config", path}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	checks := []string{
		want(cfg.Users, 10), want(cfg.SpawnRate, 2.0), want(cfg.RunTime, time.Minute),
		want(cfg.Host, "http://quoted:8080/a b"), want(cfg.CSVPrefix, "out # not a comment"),
		want(cfg.OnlySummary, true), want(cfg.ResetStats, true),
		want(cfg.Tags, []string{"checkout", "search"}), want(cfg.ExcludeTags, []string{"slow", "flaky"}),
		want(thresholdTexts(cfg), []string{"p95<300ms", "fail_ratio<1%", "rps>=5"}),
		want(cfg.LogLevel, "warning"), want(cfg.ExitCodeOnError, 7), want(cfg.StopTimeout, 5*time.Second),
	}
	for _, msg := range checks {
		if msg != "" {
			t.Error(msg)
		}
	}
}

// TestConfigTOMLFormat reads [tool.locust] of a pyproject.toml: strings,
// numbers, booleans, arrays; the other tables are not ours.
func TestConfigTOMLFormat(t *testing.T) {
	text := `[project]
name = "shop"
users = "not ours"

[tool.locust]
users = 25
spawn-rate = 2.5
run-time = "2m"
host = "http://toml"
tags = ["a", "b"]
threshold = ["p99<1s", "fail_ratio<0.5%"]
headless = true
csv-full-history = true
csv = "runs/x"

[tool.other]
users = 99
`
	path := writeConfig(t, t.TempDir(), "pyproject.toml", text)
	cfg, err := parseArgs([]string{"--config=" + path}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{
		want(cfg.Users, 25), want(cfg.SpawnRate, 2.5), want(cfg.RunTime, 2*time.Minute), want(cfg.Host, "http://toml"),
		want(cfg.Tags, []string{"a", "b"}), want(thresholdTexts(cfg), []string{"p99<1s", "fail_ratio<0.5%"}),
		want(cfg.CSVFullHistory, true), want(cfg.CSVPrefix, "runs/x"), want(len(cfg.warnings), 0),
	} {
		if msg != "" {
			t.Error(msg)
		}
	}
	// A .toml file without [tool.locust] sets nothing.
	path = writeConfig(t, t.TempDir(), "pyproject.toml", "[project]\nname = \"x\"\n")
	cfg, err = parseArgs([]string{"--config", path}, func(string) string { return "" })
	if err != nil || cfg.Users != 1 || len(cfg.given) != 1 { // only --config itself
		t.Errorf("a pyproject.toml without [tool.locust]: users %d, given %v, err %v; want the defaults", cfg.Users, cfg.given, err)
	}
}

// runConfig runs the command with the given files written in a
// temporary directory ("name" -> text) and --config naming the first
// name, and returns its exit code and output.
func runConfig(t *testing.T, name, text string, args []string, classes ...*UserClass) (code int, stdout, stderr string) {
	t.Helper()
	path := writeConfig(t, t.TempDir(), name, text)
	var out, errOut syncBuffer
	cmd := &command{classes: classes, name: "golocust", stdout: &out, stderr: &errOut,
		getenv: func(string) string { return "" }, configDefaults: noConfigDefaults}
	code = cmd.run(context.Background(), append([]string{"--config", path}, args...))
	return code, out.String(), errOut.String()
}

// TestConfigErrors: an unknown key, a bad value, a malformed line or
// file, and a file that cannot be read are each one line and exit 2,
// naming the file (and line) and the key; the test does not start.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name, file, text string
		args             []string
		want             []string
	}{
		{"unknown key", "locust.conf", "users = 2\nnot-an-option = 3\n", nil,
			[]string{`locust.conf:2: unknown key "not-an-option": not an option of golocust, of Locust or of a user class`}},
		{"argparse's dest for a key", "locust.conf", "spawn_rate = 3\n", nil, []string{`unknown key "spawn_rate"`, "did you mean spawn-rate?"}},
		{"a custom option no class takes", "locust.conf", "depth = 3\n", nil, []string{`unknown key "depth"`}},
		{"unknown key in TOML", "pyproject.toml", "[tool.locust]\nusers = 2\nwat = 1\n", nil, []string{`pyproject.toml [tool.locust]: unknown key "wat"`}},
		{"bad value", "locust.conf", "\nusers = many\n", nil, []string{`locust.conf:2: users: "many" is not a whole number`}},
		{"bad boolean", "locust.conf", "only-summary = maybe\n", nil, []string{`only-summary: "maybe" is not true or false`}},
		{"a list for one value", "locust.conf", "users = [1, 2]\n", nil, []string{"users: a list [1 2] for an option of one value"}},
		{"bad threshold", "locust.conf", "threshold = [p95<1s, latency<3s]\n", nil, []string{"threshold", "unknown metric"}},
		{"malformed line", "locust.conf", "users = 1\n= 3\n", nil, []string{`locust.conf:2: unexpected line "= 3"`}},
		{"malformed TOML", "pyproject.toml", "[tool.locust]\nusers = \n", nil, []string{"pyproject.toml: toml: line 2"}},
		{"TOML table for a value", "pyproject.toml", "[tool.locust]\n[tool.locust.users]\nn = 1\n", nil, []string{"users = map", "want a string"}},
		{"checked like flags", "locust.conf", "csv-full-history = true\n", nil, []string{"--csv-full-history requires --csv"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var started countingStarts
			code, stdout, stderr := runConfig(t, c.file, c.text, append([]string{"-t", "1s"}, c.args...), started.class())
			if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "golocust: error: ") || stdout != "" {
				t.Errorf("exit code %d, stdout %q, stderr %q; want %d and one error line", code, stdout, stderr, ExitUsage)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if n := started.n.Load(); n != 0 {
				t.Errorf("%d users started; want none", n)
			}
		})
	}
}

// TestConfigUnreadable: a --config or LOCUST_CONFIG file that does not
// exist or is not a file is one line and exit 2; a default file that
// does not exist is skipped, one that cannot be read is an error.
func TestConfigUnreadable(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		defaults []string
		want     string
	}{
		{"--config missing", []string{"--config", filepath.Join(dir, "missing.conf")}, nil, nil, "--config: stat " + filepath.Join(dir, "missing.conf") + ": no such file or directory"},
		{"--config a directory", []string{"--config", dir}, nil, nil, "--config: " + dir + " is a directory, not a regular file"},
		{"LOCUST_CONFIG missing", nil, map[string]string{"LOCUST_CONFIG": filepath.Join(dir, "nope.toml")}, nil, "LOCUST_CONFIG: stat " + filepath.Join(dir, "nope.toml")},
		{"default file a directory", nil, nil, []string{dir}, dir + " is a directory, not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut syncBuffer
			cmd := &command{classes: []*UserClass{Class("A", func() fixedUser { return fixedUser{} })}, name: "golocust",
				stdout: &out, stderr: &errOut, getenv: func(k string) string { return c.env[k] },
				configDefaults: func(func(string) string) []string { return c.defaults }}
			code := cmd.run(context.Background(), append([]string{"-t", "1s"}, c.args...))
			stderr := errOut.String()
			if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit code %d, stderr %q; want %d and one line with %q", code, stderr, ExitUsage, c.want)
			}
		})
	}
	// A default file that does not exist is no error.
	cfg, err := parseSources([]string{"-u", "2"}, func(string) string { return "" }, []string{filepath.Join(dir, "absent", "locust.conf")})
	if err != nil || cfg.Users != 2 {
		t.Errorf("absent default file: users %d, err %v", cfg.Users, err)
	}
}

// TestConfigLocustOnlyKeys: a Locust file's options that golocust has
// no use for are a warning each and the run goes on; headless = true is
// what golocust does anyway and says nothing.
func TestConfigLocustOnlyKeys(t *testing.T) {
	text := "locustfile = locustfile.py\nheadless = true\nweb-port = 8090\nmaster = true\nexpect-workers = 5\n" +
		"users = 1\nrun-time = 1s\n"
	var started countingStarts
	code, _, stderr := runConfig(t, "master.conf", text, []string{"--only-summary"}, started.class())
	if code != ExitOK {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr)
	}
	for _, key := range []string{"locustfile", "web-port", "master", "expect-workers"} {
		line := fmt.Sprintf("%s is a Locust option golocust has no use for; ignored", key)
		if n := strings.Count(stderr, line); n != 1 {
			t.Errorf("stderr has %d warnings %q, want 1:\n%s", n, line, stderr)
		}
	}
	if strings.Contains(stderr, "headless") {
		t.Errorf("headless = true was warned about:\n%s", stderr)
	}
	if started.n.Load() != 1 {
		t.Errorf("%d users started, want the file's 1", started.n.Load())
	}
	// headless = false asks for a web UI golocust does not have.
	cfg, err := parseArgs([]string{"--config", writeConfig(t, t.TempDir(), "l.conf", "headless = false\n")}, func(string) string { return "" })
	if err != nil || len(cfg.warnings) != 1 || !strings.Contains(cfg.warnings[0], "l.conf:1: headless is a Locust option") {
		t.Errorf("headless = false: warnings %q, err %v; want one", cfg.warnings, err)
	}
}

// countingStarts counts the users its class started: a test that must
// not start, or must start a given number, checks it. Its users make no
// request and stop after their first task.
type countingStarts struct{ n atomic.Int64 }

func (c *countingStarts) class() *UserClass {
	return Class("Counted", func() configUser { c.n.Add(1); return configUser{} })
}

// configUser stops at its first task, having done nothing.
type configUser struct{}

func (configUser) Tasks() []Task {
	return []Task{{Name: "stop", Run: func(context.Context) error { return ErrStopUser }}}
}

// TestConfigConfMatchesConfigArgParse compares parseConf with the parser
// Locust uses, ConfigArgParse's DefaultConfigFileParser, line by line,
// when Python has it (Debian's python3-configargparse, a dependency of
// python3-locust), quirks included: a comment only follows a value, so
// "headless # x" is the value "# x" (an error for a flag, as in Locust).
func TestConfigConfMatchesConfigArgParse(t *testing.T) {
	python := pythonWith("configargparse")
	if python == "" {
		t.Skip("no python3 with configargparse (Debian's python3-configargparse)")
	}
	lines := []string{
		"users = 10", "users=10", "users: 10", "users 10", "users\t10", "--users 10", "--users=10", "headless",
		"headless = true", "host = http://x:80/p?q=1", "host = http://x # comment", "host = http://x ; comment",
		"host = http://x#not", "host = a;b", `host = "quoted # kept"`, `host = 'single'`, `host = "unclosed`,
		`host = "a" # c`, "host =", "host = ", "host = # only a comment", "tags = [a, b, c]", `tags = ["a", "b"]`,
		"tags = []", "tags = [1, 2.5, true]", "tags = [unclosed", "key = value with spaces", "key =  spaced   # c",
		"# comment", "; comment", "[section]", "--- yaml", "= value", ": value", "   users = 3   ", "k = = v",
		`k = "x" y"`, `k = ""`, "k = [a, [b]]", "k: v: w", "users;1", "users#1", "headless # x", "headless   ; x",
		"k = 'a' ; c", "k = \"a\"b\" # c", "k = [\"a,b\", \"c\"]", "k = [a,,b]", "k = [ ]", "ключ = значение",
		"k = v\u00a0# nbsp", "k\u2003v",
	}
	data, err := json.Marshal(lines)
	if err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys, io, configargparse
p = configargparse.DefaultConfigFileParser()
out = []
for line in json.load(sys.stdin):
    try:
        items = p.parse(io.StringIO(line))
        out.append({"ok": True, "items": [[k, v] for k, v in items.items()]})
    except configargparse.ConfigFileParserException:
        out.append({"ok": False, "items": []})
json.dump(out, sys.stdout)
`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(data)
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	var theirs []struct {
		OK    bool
		Items [][2]any
	}
	if err := json.Unmarshal(raw, &theirs); err != nil {
		t.Fatal(err)
	}
	for i, line := range lines {
		e, ok, err := parseConfLine(line)
		th := theirs[i]
		if (err == nil) != th.OK {
			t.Errorf("%q: our error %v, ConfigArgParse's ok %v", line, err, th.OK)
			continue
		}
		var ours [][2]any
		if ok {
			var v any = e.value
			if e.isList {
				items := make([]any, len(e.list))
				for j, it := range e.list {
					items[j] = it
				}
				v = items
			}
			ours = append(ours, [2]any{e.key, v})
		}
		if got, want := fmt.Sprint(ours), fmt.Sprint(normalizeTheirs(th.Items)); got != want {
			t.Errorf("%q: ours %s, ConfigArgParse's %s", line, got, want)
		}
	}
}

// pythonWith returns a python3 that can import module: the one on the
// PATH or Debian's, whose packages a pyenv's python does not see; "" if
// neither can.
func pythonWith(module string) string {
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(name); err == nil && exec.Command(path, "-c", "import "+module).Run() == nil {
			return path
		}
	}
	return ""
}

// normalizeTheirs turns ConfigArgParse's items into ours: keys without
// a leading --, list items as text (Python's True is true here).
func normalizeTheirs(items [][2]any) [][2]any {
	out := make([][2]any, len(items))
	for i, kv := range items {
		key := strings.TrimPrefix(kv[0].(string), "--")
		v := kv[1]
		if list, ok := v.([]any); ok {
			texts := make([]any, len(list))
			for j, it := range list {
				texts[j] = fmt.Sprint(it)
			}
			v = texts
		}
		out[i] = [2]any{key, v}
	}
	return out
}

// FuzzParseConf: whatever the bytes, parseConf does not panic; every
// key it returns is a key (no separator, space or comment sign in it,
// no leading --); and an entry written back as key = "value" (values
// without quotes or brackets, keys a line can start with) reads back the
// same.
func FuzzParseConf(f *testing.F) {
	for _, seed := range []string{
		"users = 10\nspawn-rate: 2\nheadless\n# c\n",
		`host = "http://x # y"` + "\ntags = [a, b]\n",
		"\uFEFF--users=3 ; c\r\n[sec]\n---\n",
		"k = [\"a\", 1, true]\nk = [unclosed\n= v\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseConf("f.conf", data)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.key == "" || strings.IndexFunc(e.key, isConfKeyEnd) >= 0 || strings.HasPrefix(e.key, "--") {
				t.Fatalf("bad key %q from %q", e.key, data)
			}
			if e.isList || strings.ContainsAny(e.value, "\"'\n\r") || strings.HasPrefix(e.value, "[") ||
				strings.HasPrefix(e.key, "[") { // "--[" is the key "[", which a line cannot start with
				continue
			}
			line := fmt.Sprintf("%s = \"%s\"", e.key, e.value)
			back, ok, err := parseConfLine(line)
			if err != nil || !ok || back.key != e.key || back.value != e.value || back.isList {
				t.Fatalf("%q read back from %q as %+v, %v; want key %q value %q", line, data, back, err, e.key, e.value)
			}
		}
	})
}

// locustView is what a run takes from a configuration, in Locust's
// parse_options terms, to compare golocust's reading with Locust's.
type locustView struct {
	Host            *string  `json:"host"`
	NumUsers        *int     `json:"num_users"`
	SpawnRate       *float64 `json:"spawn_rate"`
	RunTime         *string  `json:"run_time"`
	Tags            []string `json:"tags"`
	ExcludeTags     []string `json:"exclude_tags"`
	CSVPrefix       *string  `json:"csv_prefix"`
	StopTimeout     *int     `json:"stop_timeout"`
	LogLevel        string   `json:"loglevel"`
	OnlySummary     bool     `json:"only_summary"`
	ResetStats      bool     `json:"reset_stats"`
	ExitCodeOnError int      `json:"exit_code_on_error"`
	MasterPort      int      `json:"master_port"`
}

// viewOf returns cfg in Locust's terms (absent values as Locust's
// defaults: None, or 0 for the stop timeout).
func viewOf(cfg config) string {
	return fmt.Sprintf("host=%s users=%d rate=%g run=%v tags=%q exclude=%q csv=%s stop=%v level=%s summary=%v reset=%v code=%d port=%d",
		cfg.Host, cfg.Users, cfg.SpawnRate, cfg.RunTime, cfg.Tags, cfg.ExcludeTags, cfg.CSVPrefix, cfg.StopTimeout,
		strings.ToUpper(cfg.LogLevel), cfg.OnlySummary, cfg.ResetStats, cfg.ExitCodeOnError, cfg.MasterPort)
}

// viewOfLocust returns Locust's reading in viewOf's form; golocust's
// defaults stand for Locust's None.
func viewOfLocust(t *testing.T, v locustView) string {
	t.Helper()
	cfg := defaultConfig()
	if v.Host != nil {
		cfg.Host = *v.Host
	}
	if v.NumUsers != nil {
		cfg.Users = *v.NumUsers
	}
	if v.SpawnRate != nil {
		cfg.SpawnRate = *v.SpawnRate
	}
	if v.RunTime != nil {
		d, err := parseRunTime(*v.RunTime)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RunTime = d
	}
	if v.CSVPrefix != nil {
		cfg.CSVPrefix = *v.CSVPrefix
	}
	if v.StopTimeout != nil {
		cfg.StopTimeout = time.Duration(*v.StopTimeout) * time.Second
	}
	cfg.Tags, cfg.ExcludeTags = v.Tags, v.ExcludeTags
	cfg.LogLevel, cfg.OnlySummary, cfg.ResetStats = v.LogLevel, v.OnlySummary, v.ResetStats
	cfg.ExitCodeOnError, cfg.MasterPort = v.ExitCodeOnError, v.MasterPort
	return viewOf(cfg)
}

// TestConfigMatchesLocust reads testdata/config/locust.conf with
// environment variables and flags over it, in golocust and in Locust's
// own parse_options (Debian's python3-locust, 2.12.1, when there), and
// compares what each took: the file's values, and the precedence file <
// environment < command line. The same settings in [tool.locust] of
// testdata/config/pyproject.toml read the same in golocust.
func TestConfigMatchesLocust(t *testing.T) {
	conf, err := filepath.Abs(filepath.Join("testdata", "config", "locust.conf"))
	if err != nil {
		t.Fatal(err)
	}
	pyproject := filepath.Join(filepath.Dir(conf), "pyproject.toml")
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"file", nil, nil},
		{"environment over file", map[string]string{"LOCUST_USERS": "7", "LOCUST_HOST": "http://env", "LOCUST_TAGS": "x", "LOCUST_RESET_STATS": "true"}, nil},
		{"flags over both", map[string]string{"LOCUST_USERS": "7", "LOCUST_HOST": "http://env", "LOCUST_MASTER_NODE_PORT": "6000"},
			[]string{"-H", "http://flag", "-u", "9", "-t", "45s", "--stop-timeout", "8", "-L", "ERROR", "--master-port", "6001"}},
	}
	python := pythonWith("locust.argument_parser")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // Locust takes a second to import
			getenv := func(k string) string { return c.env[k] }
			ours, err := parseArgs(append([]string{"--config", conf}, c.args...), getenv)
			if err != nil {
				t.Fatal(err)
			}
			fromTOML, err := parseArgs(append([]string{"--config", pyproject}, c.args...), getenv)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := viewOf(ours), viewOf(fromTOML); a != b {
				t.Errorf("locust.conf and pyproject.toml read differently:\n conf %s\n toml %s", a, b)
			}
			if python == "" {
				t.Skip("no python3 with Locust (Debian's python3-locust) to compare with")
			}
			theirs := locustParse(t, python, append([]string{"--config", conf}, c.args...), c.env)
			t.Logf("golocust %s", viewOf(ours))
			if a, b := viewOf(ours), viewOfLocust(t, theirs); a != b {
				t.Errorf("golocust and Locust read differently:\n golocust %s\n Locust   %s", a, b)
			}
		})
	}
}

// locustParse runs Locust's parse_options on args with only the LOCUST_*
// variables of env set, in an empty directory that is also the home (no
// default file of the machine is read).
func locustParse(t *testing.T, python string, args []string, env map[string]string) locustView {
	t.Helper()
	dir := t.TempDir()
	script := `
import json, sys
from locust.argument_parser import parse_options
o = vars(parse_options(args=json.loads(sys.argv[1])))
json.dump({k: o.get(k) for k in ("host", "num_users", "spawn_rate", "run_time", "tags", "exclude_tags", "csv_prefix",
    "stop_timeout", "loglevel", "only_summary", "reset_stats", "exit_code_on_error", "master_port")}, sys.stdout)
`
	argsJSON, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "-c", script, string(argsJSON))
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("Locust's parse_options: %v\n%s", err, stderr.String())
	}
	var v locustView
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return v
}
