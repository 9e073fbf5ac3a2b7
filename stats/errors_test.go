package stats

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

func TestErrorIDExample(t *testing.T) {
	// The example key of docs/protocol.md §5.4, seen in captures of both versions.
	e := Error{Key: Key{Method: "POST", Name: "/api"}, Text: "Exception('synthetic failure: HTTP 503')"}
	const want = "babdaa54cddbc70e14faacdbd85a4610b1d2e0502828085f4fc4ad72316b249e"
	if got := e.ID(); got != want {
		t.Errorf("ID() = %s, want %s", got, want)
	}
}

// reprCases are strings whose Python repr is tricky.
var reprCases = []string{
	"",
	"plain",
	"it's",
	`say "hi"`,
	`both ' and "`,
	`back\slash`,
	"tab\tnew\nline\rcr",
	"nul\x00bell\x07esc\x1bdel\x7f",
	"c1 \u0080 \u009f nbsp\u00a0 soft\u00ad",
	"latin é ñ ü ß ÿ",
	"cjk 日本語 한국어",
	"emoji 😀 🇸🇪",
	"zero width \u200b joiner \u200d bom \ufeff",
	"line sep \u2028 para sep \u2029 ideographic space \u3000",
	"private \ue000 \U000f0000",
	"unassigned \u0378 \U000e0080",
	"combining e\u0301",
	"math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
	"HTTPError('503 Server Error: Service Unavailable for url: /api')",
	`ConnectionError(MaxRetryError("HTTPConnectionPool(host='localhost', port=1): Max retries exceeded"))`,
	"Exception('synthetic failure: HTTP 503')",
	"'",
	`"`,
	`'"'`,
	"\\'",
}

func TestPyReprMatchesPython(t *testing.T) {
	var got []string
	runLocust(t, `json.dump([repr(s) for s in json.load(sys.stdin)], sys.stdout)`, reprCases, &got)
	for i, s := range reprCases {
		if r := PyRepr(s); r != got[i] {
			t.Errorf("PyRepr(%q) = %s, Python %s", s, r, got[i])
		}
	}
}

func TestPyReprInvalidUTF8(t *testing.T) {
	if got, want := PyRepr("a\xffb"), `'a\udcffb'`; got != want {
		t.Errorf("PyRepr = %s, want %s", got, want)
	}
}

func TestErrorIDMatchesLocust(t *testing.T) {
	type tc struct{ Method, Name, Text string }
	var cases []tc
	for i, s := range reprCases {
		cases = append(cases, tc{[]string{"GET", "POST", "grpc", ""}[i%4], "/path/" + fmt.Sprint(i), s})
	}
	var ids []string
	// StatsError.create_key reprs the error object, then the result; an
	// object whose repr is the text gives exactly the Go side's input.
	runLocust(t, `
class E:
    def __init__(self, text): self.text = text
    def __repr__(self): return self.text
json.dump([ls.StatsError.create_key(c["Method"], c["Name"], E(c["Text"])) for c in json.load(sys.stdin)], sys.stdout)
`, cases, &ids)
	for i, c := range cases {
		e := Error{Key: Key{Method: c.Method, Name: c.Name}, Text: c.Text}
		if got := e.ID(); got != ids[i] {
			t.Errorf("%+v: ID() = %s, Locust %s", c, got, ids[i])
		}
	}
}

type locustErr struct{ text string }

func (e *locustErr) Error() string      { return "go: " + e.text }
func (e *locustErr) LocustText() string { return "HTTPError(" + PyRepr(e.text) + ")" }

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain", errors.New("boom"), "boom"},
		{"locust text", &locustErr{"503 Server Error"}, "HTTPError('503 Server Error')"},
		{"wrapped locust text", fmt.Errorf("task: %w", &locustErr{"x"}), "HTTPError('x')"},
		{"object address", errors.New("<Foo object at 0x7f3a2b1c> failed"), "<Foo object at 0x....> failed"},
		{"address repeated", errors.New("<A object at 0xab12> and 0xab12 again"), "<A object at 0x....> and 0x.... again"},
		{"only first address", errors.New("<A object at 0x1> <B object at 0x2>"), "<A object at 0x....> <B object at 0x2>"},
		{"no closing bracket", errors.New("object at 0x1234"), "object at 0x1234"},
		{"invalid utf-8", errors.New("bad \xff\xfe byte"), "bad \ufffd byte"},
		{"long text cut", errors.New(strings.Repeat("é", 3000)), strings.Repeat("é", (maxErrorText-15)/2) + " ...[truncated]"},
		{"4 KiB kept", errors.New(strings.Repeat("x", maxErrorText)), strings.Repeat("x", maxErrorText)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorText(tt.err); got != tt.want {
				t.Errorf("ErrorText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMaskObjectAddressMatchesLocust(t *testing.T) {
	cases := []string{
		"<Foo object at 0x7f3a2b1c>",
		"<A object at 0xab12> and 0xab12 again",
		"<A object at 0x1> <B object at 0x2>",
		"object at 0x1234",
		"object at 0x>",
		"x object at 0xdead> y",
		"nothing here",
	}
	var got []string
	runLocust(t, `
class E:
    def __init__(self, text): self.text = text
    def __repr__(self): return self.text
json.dump([ls.StatsError.parse_error(E(s)) for s in json.load(sys.stdin)], sys.stdout)
`, cases, &got)
	for i, s := range cases {
		if m := maskObjectAddress(s); m != got[i] {
			t.Errorf("maskObjectAddress(%q) = %q, Locust %q", s, m, got[i])
		}
	}
}

// connErr is the error Go's net package gives for a failed read on a
// connection from local to remote.
func connErr(op, network string, local, remote net.Addr) error {
	return &net.OpError{Op: op, Net: network, Source: local, Addr: remote, Err: syscall.ECONNRESET}
}

// TestErrorTextMasksLocalPorts checks that the ephemeral local port of a
// connection is masked out of error texts, and nothing else is.
func TestErrorTextMasksLocalPorts(t *testing.T) {
	lo := net.IPv4(127, 0, 0, 1)
	target := &net.TCPAddr{IP: lo, Port: 8080}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"tcp read", connErr("read", "tcp", &net.TCPAddr{IP: lo, Port: 40112}, target),
			"read tcp 127.0.0.1:....->127.0.0.1:8080: connection reset by peer"},
		{"tcp6 write", connErr("write", "tcp6", &net.TCPAddr{IP: net.IPv6loopback, Port: 51000}, &net.TCPAddr{IP: net.IPv6loopback, Port: 443}),
			"write tcp6 [::1]:....->[::1]:443: connection reset by peer"},
		{"udp", connErr("read", "udp", &net.UDPAddr{IP: lo, Port: 53012}, &net.UDPAddr{IP: lo, Port: 53}),
			"read udp 127.0.0.1:....->127.0.0.1:53: connection reset by peer"},
		{"wrapped in a URL error", fmt.Errorf(`Get "http://127.0.0.1:8080/x": %w`, connErr("read", "tcp4", &net.TCPAddr{IP: lo, Port: 1}, target)),
			`Get "http://127.0.0.1:8080/x": read tcp4 127.0.0.1:....->127.0.0.1:8080: connection reset by peer`},
		{"two connections", errors.New("read tcp 10.0.0.1:3->10.0.0.2:80: x; write tcp 10.0.0.1:4->10.0.0.2:80: y"),
			"read tcp 10.0.0.1:....->10.0.0.2:80: x; write tcp 10.0.0.1:....->10.0.0.2:80: y"},
		{"dial has no local port", &net.OpError{Op: "dial", Net: "tcp", Addr: target, Err: syscall.ECONNREFUSED},
			"dial tcp 127.0.0.1:8080: connection refused"},
		{"arrow in other text", errors.New("state a:1->b:2, tcpx h:5->x"), "state a:1->b:2, tcpx h:5->x"},
		{"no host", errors.New("read tcp :5->x"), "read tcp :5->x"},
		{"masked already", errors.New("read tcp 127.0.0.1:....->127.0.0.1:8080: x"), "read tcp 127.0.0.1:....->127.0.0.1:8080: x"},
		{"arrow at the start", errors.New("->"), "->"},
		{"object address and port", errors.New("<C object at 0x7f01> read tcp 1.2.3.4:5->6.7.8.9:80"), "<C object at 0x....> read tcp 1.2.3.4:....->6.7.8.9:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorText(tt.err); got != tt.want {
				t.Errorf("ErrorText = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzMaskLocalPorts(f *testing.F) {
	f.Add("read tcp 127.0.0.1:40112->127.0.0.1:8080: read: connection reset by peer")
	f.Add("a tcp b:1->c tcp d:2->e")
	f.Add("->->tcp :->")
	f.Fuzz(func(t *testing.T, s string) {
		m := maskLocalPorts(s)
		if again := maskLocalPorts(m); again != m {
			t.Errorf("not idempotent: %q -> %q -> %q", s, m, again)
		}
		if strings.Count(m, "->") != strings.Count(s, "->") {
			t.Errorf("%q -> %q changed the arrows", s, m)
		}
	})
}
