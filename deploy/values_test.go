package deploy

// This file owns reading values out of the manifests and the guide: an
// option's value in a command line, the sizes of Kubernetes, Compose and
// GOMEMLIMIT, and a shell line's words.

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// optionValue returns the value of the long option --name in args, in
// either form (--name VALUE or --name=VALUE), the last one winning as in
// Go's flag package, and whether it is there.
func optionValue(args []string, name string) (string, bool) {
	value, found := "", false
	for i, a := range args {
		switch {
		case a == "--"+name || a == "-"+name:
			if i+1 < len(args) {
				value, found = args[i+1], true
			}
		case strings.HasPrefix(a, "--"+name+"="):
			value, found = strings.TrimPrefix(a, "--"+name+"="), true
		}
	}
	return value, found
}

// hasOption reports whether args hold the option --name (or -name).
func hasOption(args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name || a == "-"+name || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}

// sizeUnits are the byte multiples of Kubernetes quantities, GOMEMLIMIT
// and Compose sizes, by suffix.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
}

// parseSize reads a whole number of bytes with one of units' suffixes.
func parseSize(s string, units map[string]int64) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	unit, ok := units[s[i:]]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, s[i:])
	}
	return n * unit, nil
}

// quantityBytes reads a Kubernetes memory quantity (512Mi, 2Gi, 1G).
func quantityBytes(s string) (int64, error) {
	units := map[string]int64{}
	for _, u := range []string{"", "Ki", "Mi", "Gi", "Ti", "k", "M", "G", "T"} {
		units[u] = sizeUnits[u]
	}
	return parseSize(s, units)
}

// goMemLimitBytes reads GOMEMLIMIT (runtime/debug.SetMemoryLimit's
// syntax: bytes with B, KiB, MiB, GiB or TiB).
func goMemLimitBytes(s string) (int64, error) {
	units := map[string]int64{}
	for _, u := range []string{"", "B", "KiB", "MiB", "GiB", "TiB"} {
		units[u] = sizeUnits[u]
	}
	return parseSize(s, units)
}

// composeBytes reads a Compose byte value (2G, 512m, 1gb): the units of
// docker/go-units' RAMInBytes, which are powers of 1024 in any case.
func composeBytes(s string) (int64, error) {
	lower := strings.ToLower(s)
	for _, suffix := range []string{"ib", "b"} {
		if strings.HasSuffix(lower, suffix) && len(lower) > len(suffix) && !unicode.IsDigit(rune(lower[len(lower)-len(suffix)-1])) {
			lower = strings.TrimSuffix(lower, suffix)
			break
		}
	}
	units := map[string]int64{"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
	return parseSize(lower, units)
}

// shellWords splits one shell command line into words: blanks separate
// them, single and double quotes group them (no expansion is done).
func shellWords(line string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed quote in %q", line)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}
