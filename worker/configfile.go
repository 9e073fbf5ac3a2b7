package worker

// This file owns the configuration files: which ones are read
// (~/.locust.conf, ./locust.conf, then --config or LOCUST_CONFIG), their
// two formats (locust.conf's key = value lines as ConfigArgParse reads
// them, and the [tool.locust] table of a .toml file such as
// pyproject.toml), and setting the options they name. flags.go layers
// them under the environment and the command line. A file is read only
// when it is a regular file of at most maxConfigFileSize bytes, and a
// TOML file only when it nests at most maxTOMLNesting deep, so that no
// file can block the program, take its memory or its stack.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// confEntry is one key of a configuration file and its value: text, or
// a list ([a, b] in locust.conf, an array in TOML).
type confEntry struct {
	key    string
	value  string
	list   []string
	isList bool
	// where is "FILE:LINE" (locust.conf) or "FILE [tool.locust]" (TOML),
	// for messages.
	where string
}

// defaultConfigFiles returns the files Locust 2.12.1 reads when they
// exist, lowest precedence first: ~/.locust.conf and ./locust.conf.
// getenv gives the home directory; without one, only ./locust.conf.
// (Locust 2.24 and later also read ./pyproject.toml; golocust reads a
// .toml file only when --config names it.)
func defaultConfigFiles(getenv func(string) string) []string {
	var files []string
	if home := homeDir(getenv); home != "" {
		files = append(files, filepath.Join(home, ".locust.conf"))
	}
	return append(files, "locust.conf")
}

// homeDir returns the user's home directory as os.UserHomeDir finds it,
// from the variables getenv reads; "" when it is not set.
func homeDir(getenv func(string) string) string {
	switch runtime.GOOS {
	case "windows":
		return getenv("USERPROFILE")
	case "plan9":
		return getenv("home")
	}
	return getenv("HOME")
}

// expandHome replaces a leading ~ of path by the home directory, as
// Locust does for --config (a shell does not for --config=~/x).
func expandHome(path string, getenv func(string) string) string {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path
	}
	home := homeDir(getenv)
	if home == "" {
		return path
	}
	return filepath.Join(home, path[1:])
}

// readConfigFiles reads the default files that exist and then named, the
// file of --config or LOCUST_CONFIG ("" for none; label says which for
// errors), which must exist. It returns their entries, one list per
// file, lowest precedence first.
func readConfigFiles(defaults []string, named, label string) ([][]confEntry, error) {
	var files [][]confEntry
	for _, path := range defaults {
		entries, err := readConfigFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		files = append(files, entries)
	}
	if named == "" {
		return files, nil
	}
	entries, err := readConfigFile(named)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return append(files, entries), nil
}

// readConfigFile reads one configuration file: the [tool.locust] table
// of a file whose name ends in .toml, key = value lines otherwise.
func readConfigFile(path string) ([]confEntry, error) {
	data, err := readConfigData(path)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(filepath.Ext(path), ".toml") {
		return parseTOMLConfig(path, data)
	}
	return parseConf(path, data)
}

// maxConfigFileSize is the most a configuration file may hold, 1 MiB: a
// locust.conf or a pyproject.toml holds a few kilobytes, and a larger
// file (a wrong one, /dev/zero) must not take the process's memory.
const maxConfigFileSize = 1 << 20

// readConfigData returns the bytes of the file at path, which must be a
// regular file (a named pipe would block the program, a device never
// end) of at most maxConfigFileSize bytes. A missing file's error wraps
// fs.ErrNotExist.
func readConfigData(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkConfigFileInfo(path, info); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file opened may not be the one examined.
	if info, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkConfigFileInfo(path, info); err != nil {
		return nil, err
	}
	// A regular file may say it is empty and hold more (/proc).
	return readAtMost(f, path)
}

// readAtMost reads r, the file at path, to its end: an error once it
// holds more than maxConfigFileSize bytes, having read one more.
func readAtMost(r io.Reader, path string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigFileSize {
		return nil, configTooLarge(path)
	}
	return data, nil
}

// checkConfigFileInfo reports why the file info describes is no
// configuration file: not a regular file, or larger than
// maxConfigFileSize.
func checkConfigFileInfo(path string, info fs.FileInfo) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is %s, not a regular file", path, fileKind(info.Mode()))
	}
	if info.Size() > maxConfigFileSize {
		return configTooLarge(path)
	}
	return nil
}

// configTooLarge says that the file at path is over maxConfigFileSize.
func configTooLarge(path string) error {
	return fmt.Errorf("%s is larger than %d MiB, the most a configuration file may hold", path, maxConfigFileSize>>20)
}

// fileKind names the kind of file a mode that is not regular describes.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// parseConf reads a locust.conf file the way ConfigArgParse's default
// parser (Locust's) does: one "key = value", "key: value", "key value"
// or bare "key" (meaning true) a line, the key optionally written
// "--key"; blank lines and lines starting with #, ; or [ and --- are
// skipped; a value may be quoted, and a # or ; after a space ends it
// (a comment) unless quoted; a value [a, b] is a list (JSON, or items
// split at commas). A later line of the same key replaces an earlier
// one when applied, except for a repeatable option (threshold), whose
// lines add up. TestConfigConfMatchesConfigArgParse holds it to
// ConfigArgParse's reading, quirks included.
func parseConf(name string, data []byte) ([]confEntry, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	var entries []confEntry
	for i, line := range strings.Split(string(data), "\n") {
		where := fmt.Sprintf("%s:%d", name, i+1)
		e, ok, err := parseConfLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if ok {
			e.where = where
			entries = append(entries, e)
		}
	}
	return entries, nil
}

// isConfKeyEnd reports whether r ends a key of a locust.conf line.
func isConfKeyEnd(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(":=;#", r) }

// parseConfLine reads one line of a locust.conf file; ok is false for a
// line that holds no key (blank, a comment or a section).
func parseConfLine(line string) (e confEntry, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || strings.ContainsRune("#;[", rune(line[0])) || strings.HasPrefix(line, "---") {
		return e, false, nil
	}
	end := strings.IndexFunc(line, isConfKeyEnd)
	if end == 0 {
		return e, false, fmt.Errorf("unexpected line %s: want key = value", quoteClipped(line))
	}
	if end < 0 {
		end = len(line)
	}
	e.key = strings.TrimPrefix(line[:end], "--")
	rest := line[end:]
	afterSpace := strings.TrimLeftFunc(rest, unicode.IsSpace)
	switch {
	case afterSpace == "":
		e.value = "true" // a bare key: a flag
	case afterSpace[0] == '=' || afterSpace[0] == ':':
		e.value = confValue(strings.TrimLeftFunc(afterSpace[1:], unicode.IsSpace))
	case afterSpace == rest: // the key runs into # or ;
		return e, false, fmt.Errorf("unexpected line %s: want key = value", quoteClipped(line))
	default:
		e.value = confValue(afterSpace)
	}
	if e.key == "" {
		return e, false, fmt.Errorf("unexpected line %s: want key = value", quoteClipped(line))
	}
	if strings.HasPrefix(e.value, "[") && strings.HasSuffix(e.value, "]") {
		e.list, e.isList = confList(e.value), true
	}
	return e, true, nil
}

// commentOrEnd reports whether s, the text after a value, ends the line:
// only spaces, or spaces and a comment.
func commentOrEnd(s string) bool {
	t := strings.TrimLeftFunc(s, unicode.IsSpace)
	return t == "" || (t != s && strings.ContainsRune("#;", rune(t[0])))
}

// confValue returns the value in s, the text after a key's separator
// and the spaces after it: "" when there is none, a quoted value without
// its quotes, else the text up to a comment. As in ConfigArgParse, the
// value starts at the first character, whatever it is: a comment can
// only follow a value ("host = # x" sets host to "# x").
func confValue(s string) string {
	if s == "" {
		return ""
	}
	if q := s[0]; q == '"' || q == '\'' {
		for j := 1; j < len(s); j++ {
			if s[j] == q && commentOrEnd(s[j+1:]) {
				return s[1:j]
			}
		}
	}
	// Each run of spaces is looked past once: a value of a megabyte of
	// spaces takes a pass, not one a space.
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			i += size
			continue
		}
		if commentOrEnd(s[i:]) {
			return s[:i]
		}
		i = len(s) - len(strings.TrimLeftFunc(s[i:], unicode.IsSpace))
	}
	return s
}

// confList reads a list value [a, b]: as a JSON array when it is one
// (strings, numbers and booleans), else split at commas, each item
// trimmed, as ConfigArgParse does for the legacy form.
func confList(s string) []string {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var items []any
	if err := dec.Decode(&items); err == nil && !dec.More() {
		out := make([]string, 0, len(items))
		for _, it := range items {
			text, ok := scalarText(it)
			if !ok {
				break
			}
			out = append(out, text)
		}
		if len(out) == len(items) {
			return out
		}
	}
	var out []string
	for _, part := range strings.Split(s[1:len(s)-1], ",") {
		out = append(out, strings.TrimSpace(part))
	}
	return out
}

// scalarText returns the text of a JSON or TOML scalar: a string as it
// is, a number or boolean as written.
func scalarText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}

// parseTOMLConfig reads the [tool.locust] table of a TOML file, as
// Locust 2.24 and later read pyproject.toml: each key an option, its
// value a string, number or boolean, or an array of them for a list. A
// file without the table sets nothing.
func parseTOMLConfig(name string, data []byte) ([]confEntry, error) {
	if tomlTooDeep(data) {
		return nil, fmt.Errorf("%s: keys, tables or arrays nested more than %d deep: [tool.locust] keys are names, their values strings, numbers, booleans or arrays of them",
			name, maxTOMLNesting)
	}
	var doc map[string]any
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	where := name + " [tool.locust]"
	table, err := tomlTable(doc, where)
	if table == nil || err != nil {
		return nil, err
	}
	var entries []confEntry
	for _, k := range md.Keys() { // the file's order
		if len(k) != 3 || k[0] != "tool" || k[1] != "locust" {
			continue
		}
		e, err := tomlEntry(k[2], table[k[2]])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		e.where = where
		entries = append(entries, e)
	}
	return entries, nil
}

// maxTOMLNesting is how deep a TOML file may nest its keys: its arrays
// and inline tables, and the parts of its dotted keys and table headers
// (a.b.c). The TOML reader recurses once an array or table, and takes
// memory as the square of a key's parts: a file of brackets or dots must
// take neither the stack nor the memory. [tool.locust] needs 3.
const maxTOMLNesting = 64

// tomlTooDeep reports whether a TOML file nests deeper than
// maxTOMLNesting, as tomlDepth counts outside strings and comments: an
// upper bound of the depth, which a file of one level of brackets a
// value and one dot a float may overstate by 2.
func tomlTooDeep(data []byte) bool {
	var d tomlDepth
	for i := 0; i < len(data); {
		switch c := data[i]; c {
		case '#':
			i = lineEnd(data, i)
		case '"', '\'':
			i = tomlStringEnd(data, i)
		default:
			d.add(c)
			if len(d.open)+d.dots > maxTOMLNesting {
				return true
			}
			i++
		}
	}
	return false
}

// tomlDepth follows how deep a TOML file is at a point: the brackets
// and braces open, and the dots of the keys on the way there.
type tomlDepth struct {
	open   []int // the dots at each open bracket or brace
	dots   int   // the dots of the keys (and float) on the current path
	base   int   // the dots of the last table header, over the keys after it
	header bool  // in a table header [a.b] or [[a.b]]
	equals bool  // the current top-level line has its = (so [ is a value)
}

// add follows one byte outside strings and comments.
func (d *tomlDepth) add(c byte) {
	switch c {
	case '.':
		d.dots++
	case '[', '{':
		if c == '[' && len(d.open) == 0 && !d.equals {
			d.header, d.dots = true, 0
		}
		d.open = append(d.open, d.dots)
	case ']', '}':
		d.close()
	case '=':
		d.equals = d.equals || len(d.open) == 0
	case ',', '\n':
		d.nextKey(c)
	}
}

// close closes a bracket or brace: a value's dots are dropped, a table
// header's are the base of the keys after it.
func (d *tomlDepth) close() {
	n := len(d.open)
	if n == 0 {
		return
	}
	at := d.open[n-1]
	d.open = d.open[:n-1]
	switch {
	case d.header && n == 1:
		d.header, d.base = false, d.dots
	case !d.header:
		d.dots = at
	}
}

// nextKey starts the next key after c, a comma or a newline: its dots
// count from the bracket it is in, or from the table header.
func (d *tomlDepth) nextKey(c byte) {
	if n := len(d.open); n > 0 {
		d.dots = d.open[n-1]
		return
	}
	if c == '\n' {
		d.equals = false
	}
	d.dots = d.base
}

// lineEnd returns the index of the newline at or after i, or len(data).
func lineEnd(data []byte, i int) int {
	if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(data)
}

// tomlStringEnd returns the index after the string that starts at
// data[i] (a quote): a basic "..." or literal '...' one, which a newline
// ends when unclosed (the newline's index), or a multi-line one between
// three quotes of either kind. A backslash escapes the next byte in
// basic strings.
func tomlStringEnd(data []byte, i int) int {
	q := data[i]
	triple := []byte{q, q, q}
	if bytes.HasPrefix(data[i:], triple) {
		for j := i + 3; j < len(data); j++ {
			switch {
			case data[j] == '\\' && q == '"':
				j++
			case bytes.HasPrefix(data[j:], triple):
				return j + 3
			}
		}
		return len(data)
	}
	for j := i + 1; j < len(data); j++ {
		switch {
		case data[j] == '\\' && q == '"':
			j++
		case data[j] == q:
			return j + 1
		case data[j] == '\n':
			return j
		}
	}
	return len(data)
}

// tomlTable returns the [tool.locust] table of doc, nil if there is none.
func tomlTable(doc map[string]any, where string) (map[string]any, error) {
	tool, ok := doc["tool"].(map[string]any)
	if !ok {
		return nil, nil
	}
	v, ok := tool["locust"]
	if !ok {
		return nil, nil
	}
	table, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: tool.locust is a %T, not a table", where, v)
	}
	return table, nil
}

// tomlEntry turns one key of [tool.locust] into an entry.
func tomlEntry(key string, v any) (confEntry, error) {
	e := confEntry{key: key}
	if items, ok := v.([]any); ok {
		e.isList = true
		for _, it := range items {
			text, ok := scalarText(it)
			if !ok {
				return e, fmt.Errorf("%s: an item %s is not a string, number or boolean", clipText(key), clipText(fmt.Sprint(it)))
			}
			e.list = append(e.list, text)
		}
		return e, nil
	}
	text, ok := scalarText(v)
	if !ok {
		return e, fmt.Errorf("%s = %s: want a string, number, boolean or an array of them", clipText(key), clipText(fmt.Sprint(v)))
	}
	e.value = text
	return e, nil
}

// locustOnlyKey reports whether key is one of Locust's own options
// (2.12.1 to 2.4x) that golocust has no use for: a file written for
// Locust may hold them, and each is a warning, not an error. Options
// golocust has are looked up first, so a key here that golocust comes to
// have is applied.
func locustOnlyKey(key string) bool {
	switch key {
	case "locustfile", "config", "hatch-rate", "list", "config-users", "web-host", "web-host-display-name",
		"web-port", "headless", "autostart", "autoquit", "headful", "web-auth", "web-login", "tls-cert",
		"tls-key", "class-picker", "build-path", "legacy-ui", "modern-ui", "web-base-path", "master",
		"master-bind-host", "master-bind-port", "expect-workers", "expect-workers-max-wait",
		"enable-rebalancing", "expect-slaves", "processes", "slave", "print-stats", "html", "json-file",
		"skip-log-setup", "show-task-ratio", "show-task-ratio-json", "version", "equal-weights", "profile",
		"otel", "step-load", "step-users", "step-clients", "step-time":
		return true
	}
	return false
}

// applyConfigFile sets the options a file's entries name, skipping
// those in skip (set by the command line). Keys of Locust's options that
// golocust has no use for are returned as warnings; any other unknown
// key is an error.
func (cfg *config) applyConfigFile(entries []confEntry, specs []flagSpec, skip map[string]bool) (warnings []string, err error) {
	for _, e := range entries {
		s, ok := specByLong(specs, e.key)
		switch {
		case ok && e.key == "config":
			warnings = append(warnings, fmt.Sprintf("%s: config: a configuration file cannot name another; ignored", e.where))
		case ok && skip[e.key]:
		case ok:
			if err := setFromFile(s, e); err != nil {
				return warnings, fmt.Errorf("%s: %s: %w", e.where, e.key, err)
			}
			cfg.given[s.long] = true
		case e.key == "headless" && !e.isList && isTrue(e.value):
			// golocust without a master always runs headless.
		case locustOnlyKey(e.key):
			warnings = append(warnings, fmt.Sprintf("%s: %s is a Locust option golocust has no use for; ignored", e.where, e.key))
		default:
			return warnings, unknownKeyError(e, specs)
		}
	}
	return warnings, nil
}

// unknownKeyError says that e's key is no option, with a hint when the
// key is an option's name with underscores (argparse's dest).
func unknownKeyError(e confEntry, specs []flagSpec) error {
	hint := ""
	if s, ok := specByLong(specs, strings.ReplaceAll(e.key, "_", "-")); ok {
		hint = fmt.Sprintf("; did you mean %s?", s.long)
	}
	return fmt.Errorf("%s: unknown key %s: not an option of golocust, of Locust or of a user class%s", e.where, quoteClipped(e.key), hint)
}

// specByLong returns the option whose long name is name.
func specByLong(specs []flagSpec, name string) (flagSpec, bool) {
	for _, s := range specs {
		if s.long == name {
			return s, true
		}
	}
	return flagSpec{}, false
}

// isTrue reports whether a file's value means true.
func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "yes", "1", "on":
		return true
	}
	return false
}

// setFromFile sets option s from a file's entry: a list item by item
// for the options that take several values, otherwise its text as on
// the command line.
func setFromFile(s flagSpec, e confEntry) error {
	switch v := s.value.(type) {
	case thresholdsValue:
		if !e.isList {
			return v.setList(e.value)
		}
		for _, it := range e.list {
			if err := v.Set(it); err != nil {
				return err
			}
		}
		return nil
	case listValue:
		if e.isList {
			return v.Set(strings.Join(e.list, ","))
		}
	}
	if e.isList {
		return fmt.Errorf("a list %s for an option of one value", clipText(fmt.Sprint(e.list)))
	}
	if b, ok := s.value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return setBool(s.value, e.value)
	}
	return s.value.Set(e.value)
}

// setBool sets a boolean option from a file's true, false, yes, no, on,
// off, 1 or 0.
func setBool(v interface{ Set(string) error }, text string) error {
	switch strings.ToLower(text) {
	case "true", "yes", "1", "on":
		return v.Set("true")
	case "false", "no", "0", "off":
		return v.Set("false")
	}
	return fmt.Errorf("%s is not true or false", quoteClipped(text))
}
