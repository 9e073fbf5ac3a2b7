package worker

// This file owns the configuration files: which ones are read
// (~/.locust.conf, ./locust.conf, then --config or LOCUST_CONFIG), their
// two formats (locust.conf's key = value lines as ConfigArgParse reads
// them, and the [tool.locust] table of a .toml file such as
// pyproject.toml), and setting the options they name. flags.go layers
// them under the environment and the command line.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unicode"

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
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(filepath.Ext(path), ".toml") {
		return parseTOMLConfig(path, data)
	}
	return parseConf(path, data)
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
		return e, false, fmt.Errorf("unexpected line %q: want key = value", line)
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
		return e, false, fmt.Errorf("unexpected line %q: want key = value", line)
	default:
		e.value = confValue(afterSpace)
	}
	if e.key == "" {
		return e, false, fmt.Errorf("unexpected line %q: want key = value", line)
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
	for i, r := range s {
		if unicode.IsSpace(r) && commentOrEnd(s[i:]) {
			return s[:i]
		}
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
				return e, fmt.Errorf("%s: an item %v is not a string, number or boolean", key, it)
			}
			e.list = append(e.list, text)
		}
		return e, nil
	}
	text, ok := scalarText(v)
	if !ok {
		return e, fmt.Errorf("%s = %v: want a string, number, boolean or an array of them", key, v)
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
	return fmt.Errorf("%s: unknown key %q: not an option of golocust, of Locust or of a user class%s", e.where, e.key, hint)
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
		return fmt.Errorf("a list %v for an option of one value", e.list)
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
	return fmt.Errorf("%q is not true or false", text)
}
