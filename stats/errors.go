package stats

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is one row of the failure table: an error text seen for a request
// row, and how often.
type Error struct {
	Key
	// Text is the error as Locust shows it, see ErrorText.
	Text string
	// Occurrences is how many failures had this key and text.
	Occurrences int64
}

// ID returns Locust's key for the error: the lowercase hex SHA-256 of
// method + "." + name + "." + PyRepr(text). The Locust master uses it
// verbatim to merge the same error from different workers, and sorts the
// failures CSV by it.
func (e Error) ID() string {
	sum := sha256.Sum256([]byte(e.Method + "." + e.Name + "." + PyRepr(e.Text)))
	return hex.EncodeToString(sum[:])
}

// LocustTexter is implemented by errors that know how Locust would show
// them, for example HTTPError('404 Client Error: Not Found for url: /x').
type LocustTexter interface {
	// LocustText returns the error text for Locust's failure table.
	LocustText() string
}

// ErrorText returns the text Locust shows for err: the LocustText of the
// first error in err's chain that implements LocustTexter, else err.Error().
// Invalid UTF-8 is replaced by U+FFFD, so the text can go on the wire as a
// msgpack str, and an "object at 0x<address>" is masked as "object at
// 0x...." exactly as Locust's StatsError.parse_error does. The local port
// of a connection in Go's network errors is masked too ("read tcp
// 127.0.0.1:40112->127.0.0.1:8080: ..." becomes "read tcp
// 127.0.0.1:....->127.0.0.1:8080: ..."): it differs for every connection,
// and would make one failure row per connection. A text longer than 4 KiB
// is cut there, marked "...[truncated]", so that a failure row's memory
// is bounded. ErrorText(nil) is "".
func ErrorText(err error) string {
	if err == nil {
		return ""
	}
	var lt LocustTexter
	var text string
	if errors.As(err, &lt) {
		text = lt.LocustText()
	} else {
		text = err.Error()
	}
	return Truncate(maskLocalPorts(maskObjectAddress(strings.ToValidUTF8(text, "\uFFFD"))), maxErrorText)
}

// maxErrorText bounds the length of an error text.
const maxErrorText = 4 << 10

// Truncate returns s cut to at most n bytes at a character boundary, with
// a mark that it was cut. The worker cuts exception texts with it too.
func Truncate(s string, n int) string {
	const mark = " ...[truncated]"
	if len(s) <= n {
		return s
	}
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// maskLocalPorts replaces with "...." the local port of every connection
// named the way Go's net.OpError names one: "<op> <net> <local>-><remote>",
// where net is tcp, tcp4, tcp6, udp, udp4 or udp6 and local is host:port.
// Other text, the remote address included, is kept.
func maskLocalPorts(s string) string {
	if !strings.Contains(s, "->") {
		return s
	}
	var b strings.Builder
	done := 0 // s[:done] is in b
	for i := 0; ; {
		arrow := strings.Index(s[i:], "->")
		if arrow < 0 {
			break
		}
		arrow += i
		if port := localPort(s[:arrow]); port >= 0 {
			b.WriteString(s[done:port])
			b.WriteString("....")
			done = arrow
		}
		i = arrow + len("->")
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// localPort returns the index in s where the port starts when s ends with
// "<net> host:port" (net as in maskLocalPorts, port all digits), else -1.
func localPort(s string) int {
	colon := strings.LastIndexByte(s, ':')
	if colon < 0 || colon == len(s)-1 {
		return -1
	}
	for _, c := range []byte(s[colon+1:]) {
		if c < '0' || c > '9' {
			return -1
		}
	}
	space := strings.LastIndexByte(s[:colon], ' ')
	if space < 0 || space == colon-1 { // no host
		return -1
	}
	network := s[:space]
	network = network[strings.LastIndexByte(network, ' ')+1:]
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		return colon + 1
	}
	return -1
}

// maskObjectAddress reproduces the tail of Locust's StatsError.parse_error:
// it finds the first "object at 0x", takes everything from "0x" to the next
// ">" as the address, and replaces every occurrence of that address with
// "0x....". Without a following ">" the text is unchanged.
func maskObjectAddress(s string) string {
	const target = "object at 0x"
	i := strings.Index(s, target)
	if i < 0 {
		return s
	}
	start := i + len(target) - len("0x")
	end := strings.IndexByte(s[start:], '>')
	if end < 0 {
		return s
	}
	return strings.ReplaceAll(s, s[start:start+end], "0x....")
}

// PyRepr returns Python's repr of the string s: s in single quotes, or in
// double quotes when s contains a single quote and no double quote; the
// chosen quote and backslash escaped; \t, \n and \r as such; other ASCII
// control characters and DEL as \xNN; non-printable non-ASCII characters as
// \xNN, \uNNNN or \UNNNNNNNN; printable non-ASCII characters unchanged.
// "Printable" is Go's unicode.IsPrint, which is Python's str.isprintable up
// to the Unicode version of the two tables. A byte that is not valid UTF-8
// is written as \udcNN, the lone surrogate Python's surrogateescape error
// handler decodes it to.
func PyRepr(s string) string {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == quote || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\t':
				b.WriteString(`\t`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c < ' ' || c == 0x7f:
				writeHexEscape(&b, 'x', uint32(c), 2)
			default:
				b.WriteByte(c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeHexEscape(&b, 'u', 0xdc00|uint32(c), 4)
		case unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		case r <= 0xff:
			writeHexEscape(&b, 'x', uint32(r), 2)
		case r <= 0xffff:
			writeHexEscape(&b, 'u', uint32(r), 4)
		default:
			writeHexEscape(&b, 'U', uint32(r), 8)
		}
		i += size
	}
	b.WriteByte(quote)
	return b.String()
}

// writeHexEscape writes a backslash, kind and v as digits lowercase hex
// digits.
func writeHexEscape(b *strings.Builder, kind byte, v uint32, digits int) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('\\')
	b.WriteByte(kind)
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(v>>shift)&0xf])
	}
}
