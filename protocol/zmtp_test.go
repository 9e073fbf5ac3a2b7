package protocol

// Tests of the ZMTP codec (zmtp.go): the handshake and frame reader against
// hostile peer bytes, and a fuzz target whose seeds run with go test.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// peerGreeting is a ROUTER's greeting as libzmq 4.3 sends it (ZMTP 3.1,
// as-server set).
func peerGreeting() []byte {
	g := greeting()
	g[11], g[32] = 1, 1
	return g
}

// peerReady is the master's READY command.
func peerReady() []byte { return readyCommand("ROUTER", "") }

// frame returns a data frame.
func frame(flags byte, body []byte) []byte {
	return append(appendFrameHeader(nil, flags, len(body)), body...)
}

// longHeader returns a frame header declaring n bytes.
func longHeader(flags byte, n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{flags | flagLong}, n)
}

// endlessMore returns count 255-byte frames, all with MORE set.
func endlessMore(count int) []byte {
	f := frame(flagMore, bytes.Repeat([]byte{'m'}, 255))
	return bytes.Repeat(f, count)
}

// truncatedReady is a READY whose Identity property announces a value
// longer than the command.
func truncatedReady() []byte {
	body := append([]byte{5}, "READY"...)
	body = appendProperty(body, "Socket-Type", "ROUTER")
	body = append(body, 8)
	body = append(body, "Identity"...)
	body = binary.BigEndian.AppendUint32(body, 1000)
	body = append(body, "abc"...)
	return append(appendFrameHeader(nil, flagCommand, len(body)), body...)
}

var testLimits = zmtpLimits{maxMessage: 1 << 20, maxFrames: maxFramesPerMessage, maxCommand: maxCommandBytes}

// playPeer runs the handshake against the peer bytes, then reads messages
// until an error, and returns the bodies read and that error.
func playPeer(peer []byte, lim zmtpLimits) ([][]byte, error) {
	r := bufio.NewReader(bytes.NewReader(peer))
	if _, err := handshake(r, io.Discard, socketType, "worker_1", lim); err != nil {
		return nil, err
	}
	var bodies [][]byte
	for {
		b, err := readMessage(r, lim)
		if err != nil {
			return bodies, err
		}
		bodies = append(bodies, b)
	}
}

func TestZMTPValidPeer(t *testing.T) {
	ping := append([]byte{4}, "PING\x00\x0a"...)
	big := bytes.Repeat([]byte("b"), 70_000)
	peer := cat(peerGreeting(), peerReady(),
		frame(0, []byte("one")),
		frame(flagCommand, ping), // commands between messages are skipped
		frame(flagMore, []byte("two")), frame(0, []byte("extra frame")),
		frame(0, big),
		frame(0, nil),
	)
	bodies, err := playPeer(peer, testLimits)
	if err != io.EOF {
		t.Fatalf("err = %v, want io.EOF after the last message", err)
	}
	want := [][]byte{[]byte("one"), []byte("two"), big, {}}
	if len(bodies) != len(want) {
		t.Fatalf("got %d messages, want %d", len(bodies), len(want))
	}
	for i := range want {
		if !bytes.Equal(bodies[i], want[i]) {
			t.Errorf("message %d = %.20q (%d bytes), want %.20q", i, bodies[i], len(bodies[i]), want[i])
		}
	}
}

func TestZMTPHandshakeWrites(t *testing.T) {
	var out bytes.Buffer
	r := bufio.NewReader(bytes.NewReader(cat(peerGreeting(), peerReady())))
	props, err := handshake(r, &out, socketType, "worker_1", testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if props["Socket-Type"] != "ROUTER" {
		t.Errorf("peer properties %q", props)
	}
	// What this end wrote must be accepted by the same parser.
	back := bufio.NewReader(&out)
	props, err = handshake(back, io.Discard, "ROUTER", "", testLimits)
	if err != nil {
		t.Fatalf("own handshake does not parse: %v", err)
	}
	if props["Socket-Type"] != "DEALER" || props["Identity"] != "worker_1" {
		t.Errorf("own properties %q", props)
	}
}

// TestZMTPRoguePeers plays each hostile peer of issue 10 against the codec:
// every one ends in an error naming the cause, without a panic and without
// allocating what the peer announces.
func TestZMTPRoguePeers(t *testing.T) {
	hs := cat(peerGreeting(), peerReady())
	badMech := peerGreeting()
	copy(badMech[12:], "CURVE")
	tests := []struct {
		name string
		peer []byte
		want string
	}{
		{"truncated READY", cat(peerGreeting(), truncatedReady()), `"Identity": value of 1000 bytes, only 3 left`},
		{"READY cut mid-name", cat(peerGreeting(), frame(flagCommand, append([]byte{5}, "READY\x0bSock"...))), "READY property name: 11 bytes, only 4 left"},
		{"READY size cut", cat(peerGreeting(), frame(flagCommand, append([]byte{5}, "READY\x01x\x00\x00"...))), "value size truncated"},
		{"frame of 2^62 bytes", cat(hs, longHeader(0, 1<<62)), "frame of 4611686018427387904 bytes"},
		{"frame of 2^40 bytes", cat(hs, longHeader(0, 1<<40)), "frame of 1099511627776 bytes"},
		{"frame of 2^64-1 bytes", cat(hs, longHeader(flagMore, 1<<64-1)), "frame of 18446744073709551615 bytes"},
		{"endless MORE frames", cat(hs, endlessMore(10_000)), "more than 16 frames"},
		{"MORE frames beyond the size", cat(hs, frame(flagMore, make([]byte, 255)), longHeader(0, 1<<20)), "exceed 1048576 bytes"},
		{"random bytes", bytes.Repeat([]byte{0x5a, 0x13, 0xc7}, 40), "not a ZMTP peer"},
		{"HTTP server", []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + strings.Repeat(" ", 30)), "not a ZMTP peer"},
		{"ZMTP 2", func() []byte { g := peerGreeting(); g[10] = 1; return g }(), "ZMTP 1.1, want 3.0"},
		{"CURVE", badMech, `"CURVE", want NULL`},
		{"short greeting", peerGreeting()[:20], "greeting: unexpected EOF"},
		{"data before READY", cat(peerGreeting(), frame(0, []byte("x"))), "not a command"},
		{"huge READY", cat(peerGreeting(), longHeader(flagCommand, 1<<62)), "command of 4611686018427387904 bytes"},
		{"ERROR command", cat(peerGreeting(), frame(flagCommand, append([]byte{5}, "ERROR\x06denied"...))), `peer sent ERROR "denied"`},
		{"PUB peer", cat(peerGreeting(), readyCommand("PUB", "")), `"PUB" cannot talk to a DEALER`},
		{"reserved flags", cat(hs, []byte{0x80, 1, 'x'}), "reserved bits"},
		{"command inside a message", cat(hs, frame(flagMore, []byte("a")), frame(flagCommand, []byte("\x04PING"))), "command inside"},
		{"huge command", cat(hs, longHeader(flagCommand, 1<<40)), "command size"},
		{"frame cut short", cat(hs, longHeader(0, 1000), make([]byte, 10)), "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := playPeer(tt.peer, testLimits)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
				t.Errorf("allocated %d bytes for a %d-byte peer", grew, len(tt.peer))
			}
		})
	}
}

// TestZMTPMemoryFollowsBytes: a frame announcing nearly the limit but
// carrying few bytes costs about what arrived.
func TestZMTPMemoryFollowsBytes(t *testing.T) {
	lim := zmtpLimits{maxMessage: 1 << 30, maxFrames: 1, maxCommand: maxCommandBytes}
	peer := cat(peerGreeting(), peerReady(), longHeader(0, 1<<30-1), make([]byte, 100))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := playPeer(peer, lim)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want unexpected EOF", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("allocated %d bytes for 100 bytes received", grew)
	}
}

func TestDialLogLimiter(t *testing.T) {
	var l dialLogLimiter
	t0 := testTime(0)
	steps := []struct {
		key  string
		at   int // seconds
		want bool
	}{
		{"refused", 0, true},
		{"refused", 1, false},
		{"refused", 9, false},
		{"zmtp: greeting", 9, true},
		{"refused", 10, true},
		{"refused", 15, false},
		{"refused", 20, true},
	}
	for i, s := range steps {
		if got := l.allow(s.key, t0.Add(secs(s.at))); got != s.want {
			t.Errorf("step %d (%s at %ds): allow = %v, want %v", i, s.key, s.at, got, s.want)
		}
	}
}

// FuzzZMTPReader drives the handshake and the frame reader with arbitrary
// peer bytes: no panic, and no message beyond the limits.
func FuzzZMTPReader(f *testing.F) {
	hs := cat(peerGreeting(), peerReady())
	f.Add(cat(hs, frame(0, []byte("hello")), frame(flagMore, []byte("a")), frame(0, []byte("b"))))
	f.Add(cat(peerGreeting(), truncatedReady()))
	f.Add(cat(hs, longHeader(0, 1<<62)))
	f.Add(cat(hs, longHeader(0, 1<<40)))
	f.Add(cat(hs, endlessMore(20)))
	f.Add(cat(hs, frame(flagCommand, []byte("\x04PING\x00\x00")), frame(0, nil)))
	f.Add(bytes.Repeat([]byte{0xff}, 100))
	f.Add([]byte{})
	small := zmtpLimits{maxMessage: 4096, maxFrames: 4, maxCommand: 512}
	f.Fuzz(func(t *testing.T, peer []byte) {
		bodies, err := playPeer(peer, small)
		if err == nil {
			t.Fatal("reading ended without an error")
		}
		for _, b := range bodies {
			if len(b) > small.maxMessage {
				t.Fatalf("message of %d bytes beyond the limit %d", len(b), small.maxMessage)
			}
		}
	})
}

func testTime(s int) time.Time { return time.Unix(1_700_000_000+int64(s), 0) }

func secs(s int) time.Duration { return time.Duration(s) * time.Second }
