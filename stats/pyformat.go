package stats

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"time"
)

// pyFloatRepr formats f like Python's repr(float): the shortest digits that
// round-trip, positional with at least one decimal ("12.0") for decimal
// exponents -4 to 15, scientific otherwise ("1e+16", "1.5e-05").
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX, at least two exponent digits like Python
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return sci
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// msRepr formats a response time the way Locust's CSV shows a float
// millisecond value; zero is the integer 0 Locust starts from.
func msRepr(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return pyFloatRepr(float64(d) / 1e6)
}

// pyRound6 is Python's round(f, 6) for a float.
func pyRound6(f float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 6, 64), 64)
	if err != nil {
		return f
	}
	return r
}

// csvBuffer writes rows like Python's csv.writer with the default dialect:
// comma separated, "\r\n" line ends, and a field quoted (with doubled
// quotes) only if it contains a comma, a quote, "\r" or "\n".
type csvBuffer struct {
	bytes.Buffer
}

func (b *csvBuffer) row(fields ...string) {
	if len(fields) == 1 && fields[0] == "" {
		// Python quotes a lone empty field so the line is not blank.
		b.WriteString("\"\"\r\n")
		return
	}
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		if !strings.ContainsAny(f, ",\"\r\n") {
			b.WriteString(f)
			continue
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(f, `"`, `""`))
		b.WriteByte('"')
	}
	b.WriteString("\r\n")
}
