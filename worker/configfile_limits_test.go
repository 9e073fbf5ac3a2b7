package worker

// This file tests the limits on configuration files: only regular files
// of at most maxConfigFileSize bytes are read, never more than that of
// an endless one; a TOML file's arrays and tables nest at most
// maxTOMLNesting deep; and an error quotes at most maxQuoted bytes of a
// value or line, on one line. Each bad file is one error line and exit
// 2, never a crash.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runLimited runs the command with args, the environment env and the
// default files defaults, and returns its exit code, its stderr and how
// many users started.
func runLimited(t *testing.T, args []string, env map[string]string, defaults []string) (code int, stderr string, users int64) {
	t.Helper()
	var out, errOut syncBuffer
	var started countingStarts
	cmd := &command{classes: []*UserClass{started.class()}, name: "golocust", stdout: &out, stderr: &errOut,
		getenv:         func(k string) string { return env[k] },
		configDefaults: func(func(string) string) []string { return defaults }}
	code = cmd.run(context.Background(), append([]string{"-t", "1s"}, args...))
	return code, errOut.String(), started.n.Load()
}

// usageLine is the longest stderr of a usage error: the program's
// prefix, a message of maxErrorLine bytes, the hint and the newline.
const usageLine = len("golocust: error: ") + maxErrorLine + len(" (see -h)\n")

// checkOneErrorLine fails t unless the run exited 2 with one error line
// of at most usageLine bytes that holds want, no stack trace, and no
// user started.
func checkOneErrorLine(t *testing.T, code int, stderr string, users int64, want ...string) {
	t.Helper()
	if code != ExitUsage || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "golocust: error: ") {
		t.Errorf("exit code %d, stderr %.300q (%d bytes); want %d and one error line", code, stderr, len(stderr), ExitUsage)
	}
	if len(stderr) > usageLine || strings.Contains(stderr, "goroutine ") {
		t.Errorf("stderr of %d bytes, more than %d or a stack trace: %.300q", len(stderr), usageLine, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %.400q lacks %q", stderr, w)
		}
	}
	if users != 0 {
		t.Errorf("%d users started; want none", users)
	}
}

// TestConfigTooLarge: a file over maxConfigFileSize is refused, named
// and measured, as --config and as a default file; a file of exactly
// that size is read.
func TestConfigTooLarge(t *testing.T) {
	dir := t.TempDir()
	over := writeConfig(t, dir, "big.conf", "users = 2\n# "+strings.Repeat("x", maxConfigFileSize)+"\n")
	code, stderr, users := runLimited(t, []string{"--config", over}, nil, nil)
	checkOneErrorLine(t, code, stderr, users, "--config: "+over+" is larger than 1 MiB")
	code, stderr, users = runLimited(t, nil, nil, []string{over})
	checkOneErrorLine(t, code, stderr, users, over+" is larger than 1 MiB")

	head := "users = 3\n# "
	exact := writeConfig(t, dir, "exact.conf", head+strings.Repeat("x", maxConfigFileSize-len(head)-1)+"\n")
	cfg, err := parseSources([]string{"--config", exact}, func(string) string { return "" }, nil)
	if err != nil || cfg.Users != 3 {
		t.Errorf("a file of exactly %d bytes: users %d, err %v; want 3 and no error", maxConfigFileSize, cfg.Users, err)
	}
}

// endless is a reader that never ends, counting the bytes it gives.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	e.n += len(p)
	return len(p), nil
}

// TestConfigReadAtMost: a regular file that holds more than its size
// says (/proc's) is read to one byte over the limit, no further.
func TestConfigReadAtMost(t *testing.T) {
	var r endless
	data, err := readAtMost(&r, "/proc/x")
	if data != nil || err == nil || !strings.Contains(err.Error(), "/proc/x is larger than 1 MiB") {
		t.Errorf("an endless file: %d bytes, err %v; want none and larger than 1 MiB", len(data), err)
	}
	if r.n != maxConfigFileSize+1 {
		t.Errorf("read %d bytes of an endless file; want %d", r.n, maxConfigFileSize+1)
	}
	data, err = readAtMost(strings.NewReader("users = 1\n"), "small")
	if string(data) != "users = 1\n" || err != nil {
		t.Errorf("a small file: %q, err %v", data, err)
	}
}

// TestConfigDeviceRefused: a device (/dev/zero, which never ends) is
// not a regular file, refused before it is read.
func TestConfigDeviceRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero:", err)
	}
	code, stderr, users := runLimited(t, []string{"--config", "/dev/zero"}, nil, nil)
	checkOneErrorLine(t, code, stderr, users, "--config: /dev/zero is a device, not a regular file")
	code, stderr, users = runLimited(t, nil, map[string]string{"LOCUST_CONFIG": "/dev/zero"}, nil)
	checkOneErrorLine(t, code, stderr, users, "LOCUST_CONFIG: /dev/zero is a device")
}

// deepArray returns "[" n times, then inner, then "]" n times.
func deepArray(n int, inner string) string {
	return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
}

// TestConfigTOMLNesting: brackets, braces or dotted keys nested deeper
// than maxTOMLNesting, as deep as 1 MiB allows, are one error line, not
// a stack overflow nor memory as the square of a key's parts; as deep as
// allowed, the value is refused as any array of arrays.
func TestConfigTOMLNesting(t *testing.T) {
	head := "[tool.locust]\nusers = " // 1 deep: tool.locust
	half := (maxConfigFileSize - len(head) - 1) / 2
	tooDeep := fmt.Sprintf("pyproject.toml: keys, tables or arrays nested more than %d deep", maxTOMLNesting)
	cases := []struct{ name, text, want string }{
		{"1 MiB of [", strings.Repeat("[", maxConfigFileSize), tooDeep},
		{"an array as deep as 1 MiB allows", head + deepArray(half, "") + "\n", tooDeep},
		{"inline tables", head + strings.Repeat("{a=", 1000) + "1" + strings.Repeat("}", 1000) + "\n", tooDeep},
		{"a header of 1 MiB of dots", "[a" + strings.Repeat(".a", half) + "]\n", tooDeep},
		{"a key of 1 MiB of dots", "a" + strings.Repeat(" . a", maxConfigFileSize/5) + " = 1\n", tooDeep},
		{"header and key", "[tool" + strings.Repeat(".a", 40) + "]\n" + "b" + strings.Repeat(".b", 30) + " = 1\n", tooDeep},
		{"one level too deep", head + deepArray(maxTOMLNesting, "1") + "\n", tooDeep},
		{"as deep as allowed", head + deepArray(maxTOMLNesting-1, "1") + "\n", "users: an item [[[[["},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, t.TempDir(), "pyproject.toml", c.text)
			code, stderr, users := runLimited(t, []string{"--config", path}, nil, nil)
			checkOneErrorLine(t, code, stderr, users, c.want)
		})
	}
}

// TestConfigTOMLTooDeep: tomlTooDeep counts brackets, braces and dots on
// the way to a value, not those in strings, comments or earlier values,
// and follows table headers.
func TestConfigTOMLTooDeep(t *testing.T) {
	dots := func(n int) string { return "a" + strings.Repeat(".a", n) }
	floats := strings.TrimSuffix(strings.Repeat("0.5, ", 500), ", ")
	brackets := strings.Repeat("[", 100)
	cases := []struct {
		name, text string
		want       bool
	}{
		{"empty", "", false},
		{"the test data", "[tool.locust]\nusers = 2\ntags = [\"a\", \"b\"]\n", false},
		{"brackets at the limit", deepArray(maxTOMLNesting, "1"), false},
		{"brackets over it", deepArray(maxTOMLNesting+1, "1"), true},
		{"many floats in one array", "[tool.locust]\nweights = [" + floats + "]\n", false},
		{"many dotted keys", strings.Repeat(dots(maxTOMLNesting-1)+" = 1.5\n", 100), false},
		{"one key too long", dots(maxTOMLNesting+1) + " = 1\n", true},
		{"a header too long", "[" + dots(maxTOMLNesting) + "]\n", true},
		{"an array-of-tables header", "[[" + dots(maxTOMLNesting-3) + "]]\nb = 1\n", false},
		{"a header and its keys", "[" + dots(40) + "]\n" + dots(30) + " = 1\n", true},
		{"a header, then another", "[" + dots(40) + "]\n[b]\n" + dots(30) + " = 1\n", false},
		{"keys across an inline table", "a = {" + strings.Repeat(dots(20)+" = 1, ", 10) + "b = 2}\n", false},
		{"keys down inline tables", "a = {" + dots(20) + " = {" + dots(20) + " = {" + dots(30) + " = 1}}}\n", true},
		{"brackets in strings and comments", `a = "` + brackets + `" # ` + brackets + "\n", false},
		{"an escaped quote", `a = "\"` + brackets + `"` + "\n", false},
		{"a literal string's backslash", `a = 'C:\' ` + "\nb = " + deepArray(maxTOMLNesting+1, "1") + "\n", true},
		{"a multi-line string", `a = """` + "\n" + brackets + "\n" + `\"""` + brackets + `"""` + "\n", false},
		{"a multi-line literal", "a = '''\n" + brackets + "\n'' '''\n", false},
		{"an unclosed string ends at its line", "a = \"" + brackets + "\nb = " + deepArray(maxTOMLNesting+1, "") + "\n", true},
		{"closing brackets first", strings.Repeat("]", 100) + deepArray(3, ""), false},
	}
	for _, c := range cases {
		if got := tomlTooDeep([]byte(c.text)); got != c.want {
			t.Errorf("%s: tomlTooDeep = %v; want %v", c.name, got, c.want)
		}
	}
}

// TestConfigErrorsClipped: a value, key or line of a megabyte in a file
// is quoted in its error cut to maxQuoted bytes and an ellipsis; the
// error is one line.
func TestConfigErrorsClipped(t *testing.T) {
	long := strings.Repeat("x", 900_000)
	clipped := `"` + strings.Repeat("x", maxQuoted) + `…"`
	cases := []struct{ name, file, text, want string }{
		{"bad value", "locust.conf", "users = " + long + "\n", "locust.conf:1: users: " + clipped + " is not a whole number"},
		{"bad duration", "locust.conf", "stop-timeout = " + long + "\n", "stop-timeout: " + clipped + " is not a duration"},
		{"bad boolean", "locust.conf", "json = " + long + "\n", "json: " + clipped + " is not true or false"},
		{"bad host", "locust.conf", "host = " + long + "\n", "-H/--host " + clipped + " is not a URL"},
		{"unknown key", "locust.conf", long + " = 1\n", "unknown key " + clipped + ": not an option"},
		{"malformed line", "locust.conf", "= " + long + "\n", `unexpected line "= ` + strings.Repeat("x", maxQuoted-2) + `…"`},
		{"a list for one value", "locust.conf", "users = [" + long + "]\n", "users: a list [" + strings.Repeat("x", maxQuoted-1) + "…"},
		{"TOML unknown key", "pyproject.toml", "[tool.locust]\n" + long + " = 1\n", "unknown key " + clipped},
		{"TOML bad item", "pyproject.toml", "[tool.locust]\ntags = [[\"" + long + "\"]]\n", "tags: an item [" + strings.Repeat("x", maxQuoted-1) + "…"},
		{"TOML bad value", "pyproject.toml", "[tool.locust]\nusers = {a = \"" + long + "\"}\n", "users = map[a:" + strings.Repeat("x", maxQuoted-6) + "…"},
		{"TOML syntax", "pyproject.toml", "[tool.locust]\nusers = 1" + long + "\n", "pyproject.toml: toml: "},
		{"loglevel", "locust.conf", "loglevel = " + long + "\n", "-L/--loglevel " + clipped},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, t.TempDir(), c.file, c.text)
			code, stderr, users := runLimited(t, []string{"--config", path}, nil, nil)
			checkOneErrorLine(t, code, stderr, users, c.want)
		})
	}
}

// TestConfigErrorOneLine: oneLine escapes line breaks and control
// characters, cuts a long text in its middle keeping both ends, keeps
// what the error wraps, and leaves a short clean error as it is.
func TestConfigErrorOneLine(t *testing.T) {
	short := errors.New("users: 3 out of range")
	if got := oneLine(short); got != short {
		t.Errorf("oneLine(%v) = %v; want the same error", short, got)
	}
	if oneLine(nil) != nil {
		t.Error("oneLine(nil) is not nil")
	}
	broken := fmt.Errorf("file:1: bad\nline\r\x1b[2J: %w", os.ErrNotExist)
	got := oneLine(broken)
	if want := `file:1: bad\nline\r\x1b[2J: file does not exist`; got.Error() != want || !errors.Is(got, os.ErrNotExist) {
		t.Errorf("oneLine = %q (wraps ErrNotExist %v); want %q, wrapping", got, errors.Is(got, os.ErrNotExist), want)
	}
	long := fmt.Errorf("where: %s: why: %w", strings.Repeat("é", 100_000), os.ErrInvalid)
	text := oneLine(long).Error()
	if len(text) > maxErrorLine || !strings.HasPrefix(text, "where: éé") || !strings.HasSuffix(text, "éé: why: invalid argument") ||
		!strings.Contains(text, "é … é") || !errors.Is(oneLine(long), os.ErrInvalid) {
		t.Errorf("a long error cut to %d bytes: %q", len(text), text)
	}
	if bad := oneLine(errors.New("a\xffb")).Error(); bad != "a\uFFFDb" {
		t.Errorf("invalid UTF-8: %q", bad)
	}
}

// TestConfigClipText: clipText cuts at a character's start, and only
// text over maxQuoted bytes.
func TestConfigClipText(t *testing.T) {
	exact := strings.Repeat("a", maxQuoted)
	cases := []struct{ in, want string }{
		{"", ""},
		{exact, exact},
		{exact + "b", exact + "…"},
		{strings.Repeat("a", maxQuoted-1) + "éé", strings.Repeat("a", maxQuoted-1) + "…"},
	}
	for _, c := range cases {
		if got := clipText(c.in); got != c.want {
			t.Errorf("clipText(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

// TestConfigSpecialDefaultFile: a default file that is a directory is
// refused by name; one that is missing is skipped.
func TestConfigSpecialDefaultFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "locust.conf")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	code, stderr, users := runLimited(t, nil, nil, []string{filepath.Join(dir, "absent.conf"), conf})
	checkOneErrorLine(t, code, stderr, users, conf+" is a directory, not a regular file")
}

// TestConfigLongSpaceRun: a locust.conf value with a megabyte of spaces
// inside is read in one pass (looking past each space's run once per
// space took hours), whole, and one ending in spaces and a comment is
// cut there.
func TestConfigLongSpaceRun(t *testing.T) {
	spaces := strings.Repeat(" ", maxConfigFileSize-64)
	entries, err := parseConf("locust.conf", []byte("host = a"+spaces+"b\ntags = c"+spaces[:1000]+"# d\n"))
	if err != nil || len(entries) != 2 || entries[0].value != "a"+spaces+"b" || entries[1].value != "c" {
		t.Fatalf("parseConf: %d entries, err %v; want host a...b and tags c", len(entries), err)
	}
}
