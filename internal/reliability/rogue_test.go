package reliability

// This file owns the rogue-peer test: hostile bytes on the master's port
// played against the worker binary.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/internal/locusttest"
	"github.com/golocust/golocust/protocol"
)

// rogue is one hostile peer: play talks to the worker's connection until
// it is done or the worker hangs up; cause is the text of the one log line
// the worker must write about it. A rogue that keeps the connection
// (keeps) is hung up on once that line is written.
type rogue struct {
	name  string
	play  func(c net.Conn)
	cause string
	keeps bool
}

// ZMTP pieces a rogue peer needs, spelled out by hand.
var (
	rogueGreeting = func() []byte {
		g := make([]byte, 64)
		g[0], g[9], g[10], g[11] = 0xff, 0x7f, 3, 1
		copy(g[12:], "NULL")
		return g
	}()
	rogueReady = command(append(append([]byte{5}, "READY"...), property("Socket-Type", "ROUTER")...))
)

func property(name, value string) []byte {
	b := append([]byte{byte(len(name))}, name...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

func command(body []byte) []byte { return append([]byte{0x04, byte(len(body))}, body...) }

// longFrame is the header of a frame declaring n bytes.
func longFrame(flags byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{flags | 0x02}, n)
}

// writeAll writes chunks until one fails (the worker hung up).
func writeAll(c net.Conn, chunks ...[]byte) {
	for _, b := range chunks {
		if _, err := c.Write(b); err != nil {
			return
		}
	}
}

func rogues() []rogue {
	truncated := append([]byte{5}, "READY"...)
	truncated = append(truncated, property("Socket-Type", "ROUTER")...)
	truncated = append(truncated, 8)
	truncated = append(truncated, "Identity"...)
	truncated = binary.BigEndian.AppendUint32(truncated, 1000)
	moreFrame := append([]byte{0x01, 255}, bytes.Repeat([]byte{'m'}, 255)...)
	return []rogue{
		{"truncated READY", func(c net.Conn) { writeAll(c, rogueGreeting, command(truncated)) },
			"value of 1000 bytes, only 0 left", false},
		{"frame of 2^62 bytes", func(c net.Conn) { writeAll(c, rogueGreeting, rogueReady, longFrame(0, 1<<62)) },
			"frame of 4611686018427387904 bytes", false},
		{"frame of 2^40 bytes", func(c net.Conn) { writeAll(c, rogueGreeting, rogueReady, longFrame(0, 1<<40)) },
			"frame of 1099511627776 bytes", false},
		{"endless MORE frames", func(c net.Conn) {
			writeAll(c, rogueGreeting, rogueReady)
			for {
				if _, err := c.Write(moreFrame); err != nil {
					return
				}
			}
		}, "more than 16 frames", false},
		{"greeting one byte every 2 s", func(c net.Conn) {
			for _, b := range rogueGreeting {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				if waitClosed(c, 2*time.Second) {
					return
				}
			}
		}, "no ZMTP handshake within 10s", false},
		{"random bytes", func(c net.Conn) {
			junk := bytes.Repeat([]byte{0x5a, 0x13, 0xc7, 0x00, 0x99}, 200)
			writeAll(c, junk)
		}, "not a ZMTP peer", false},
		{"map bomb in a spawn", func(c net.Conn) {
			writeAll(c, rogueGreeting, rogueReady)
			body := mapBomb(workerIdentity(c), 8<<20)
			writeAll(c, longFrame(0, uint64(len(body))), body)
		}, "cannot be decoded", true},
	}
}

// workerIdentity reads the worker's greeting and READY and returns its
// Identity property ("" if it cannot be read).
func workerIdentity(c net.Conn) string {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	head := make([]byte, 64+2)
	if _, err := io.ReadFull(c, head); err != nil || head[64] != 0x04 {
		return ""
	}
	cmd := make([]byte, head[65])
	if _, err := io.ReadFull(c, cmd); err != nil {
		return ""
	}
	_, id, _ := bytes.Cut(cmd, []byte("\x08Identity"))
	if len(id) < 4 {
		return ""
	}
	n := binary.BigEndian.Uint32(id)
	return string(id[4 : 4+min(int(n), len(id)-4)])
}

// mapBomb returns a well-formed spawn for node whose parsed_options hold
// an array of n empty maps: a few bytes each on the wire, a hundred in
// memory once decoded.
func mapBomb(node string, n int) []byte {
	body, err := protocol.Encode(node, protocol.SpawnMessage{
		TimestampSeconds: 1e9, UserClassesCount: map[string]int64{"Steady": 1},
		ParsedOptions: map[string]any{"bomb": "PLACEHOLDER"},
	})
	if err != nil {
		panic(err)
	}
	bomb := binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(n))
	bomb = append(bomb, bytes.Repeat([]byte{0x80}, n)...)
	return bytes.Replace(body, []byte("\xabPLACEHOLDER"), bomb, 1)
}

// waitClosed reports whether the worker hung up within d.
func waitClosed(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestRoguePeers plays each hostile peer of issue 10 on the master's port
// against the worker binary, one per connection: after each the worker
// hangs up, logs one line naming the cause and connects again; it never
// exits, and its peak RSS stays under 150 MiB.
func TestRoguePeers(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "testworker")
	// No race detector: its shadow memory would swamp the RSS bound.
	if out, err := exec.Command("go", "build", "-o", bin, testWorkerPkg).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	w := locusttest.Start(t, ".", bin, "--master-host", "127.0.0.1", "--master-port", strconv.Itoa(port))
	accept := func() net.Conn {
		t.Helper()
		_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(15 * time.Second))
		c, err := l.Accept()
		if err != nil {
			t.Fatalf("the worker did not connect again: %v", err)
		}
		return c
	}
	for _, r := range rogues() {
		c := accept()
		start := time.Now()
		r.play(c)
		if r.keeps {
			w.Output.WaitFor(t, r.cause, 1, 15*time.Second)
		} else if !waitClosed(c, 15*time.Second) {
			t.Errorf("%s: the worker kept the connection open", r.name)
		}
		c.Close()
		select {
		case <-w.Done():
			t.Fatalf("%s: the worker exited:\n%s", r.name, w.Output.String())
		default:
		}
		w.Output.WaitFor(t, r.cause, 1, 5*time.Second)
		if n := w.Output.Count(r.cause); n != 1 {
			t.Errorf("%s: %d log lines name the cause %q, want 1", r.name, n, r.cause)
		}
		t.Logf("%s: hung up after %s", r.name, time.Since(start).Round(time.Millisecond))
	}
	accept().Close() // still retrying after the last one
	hwm := peakRSS(t, w.Cmd.Process.Pid)
	t.Logf("peak RSS of the worker: %.1f MiB", float64(hwm)/(1<<20))
	if hwm >= 150<<20 {
		t.Errorf("peak RSS %d MiB, want under 150 MiB", hwm>>20)
	}
	if regexp.MustCompile(`(?m)^goroutine \d+ \[`).MatchString(w.Output.String()) {
		t.Errorf("the worker printed a stack trace:\n%s", w.Output.String())
	}
}

// peakRSS returns VmHWM of pid in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
