package protocol

// This file owns the ZMTP 3.0 codec of the transport: the subset of
// https://rfc.zeromq.org/spec/23/ a Locust worker needs (NULL security, a
// DEALER talking to the master's ROUTER). It knows nothing of connections
// or retries (zmq.go). Every length read from the peer is checked before
// anything is allocated for it, and memory follows the bytes actually
// received, so no peer can make the worker allocate beyond zmtpLimits.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// ZMTP constants.
const (
	greetingLen = 64
	// Frame flags.
	flagMore     = 0x01
	flagLong     = 0x02
	flagCommand  = 0x04
	flagReserved = 0xf8
	// maxShortFrame is the largest body of a frame with a one-byte size.
	maxShortFrame = 255
	// socketType is what this end announces in its READY command.
	socketType = "DEALER"
)

// ErrZMTP is wrapped by every violation of ZMTP a peer commits; the errors
// name the field at fault and never quote the peer's bytes at length.
var ErrZMTP = errors.New("protocol: zmtp")

// zmtpErr returns an error wrapping ErrZMTP that names the field.
func zmtpErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrZMTP, field, fmt.Sprintf(format, args...))
}

// Default limits on what a peer may send.
const (
	// DefaultMaxMessageBytes is the default DialOptions.MaxMessageBytes.
	DefaultMaxMessageBytes = 16 << 20
	// maxFramesPerMessage bounds the frames of one message: a master's
	// message to a DEALER has one.
	maxFramesPerMessage = 16
	// maxCommandBytes bounds one command frame (READY and the like).
	maxCommandBytes = 64 << 10
	// maxPreallocate is the most allocated ahead of the bytes received.
	maxPreallocate = 64 << 10
)

// zmtpLimits bounds what a peer may send.
type zmtpLimits struct {
	maxMessage int // bytes of all data frames of one message
	maxFrames  int // data frames of one message
	maxCommand int // bytes of one command frame
}

func defaultLimits(maxMessage int) zmtpLimits {
	return zmtpLimits{maxMessage: maxMessage, maxFrames: maxFramesPerMessage, maxCommand: maxCommandBytes}
}

// greeting returns this end's greeting: ZMTP 3.0, NULL mechanism, not a
// server.
func greeting() []byte {
	g := make([]byte, greetingLen)
	g[0], g[9] = 0xff, 0x7f
	g[10], g[11] = 3, 0
	copy(g[12:32], "NULL")
	return g
}

// checkGreeting validates a peer's 64-byte greeting.
func checkGreeting(g []byte) error {
	switch {
	case len(g) != greetingLen:
		return zmtpErr("greeting", "%d bytes, want %d", len(g), greetingLen)
	case g[0] != 0xff || g[9]&0x01 != 0x01:
		return zmtpErr("greeting signature", "not a ZMTP peer (first bytes % x)", g[:min(len(g), 10)])
	case g[10] < 3:
		return zmtpErr("greeting version", "ZMTP %d.%d, want 3.0 or later", g[10], g[11])
	}
	mech := g[12:32]
	if string(mech[:4]) != "NULL" || !allZero(mech[4:]) {
		return zmtpErr("greeting mechanism", "%q, want NULL", trimZeros(mech))
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// appendFrameHeader appends the flags and size of a frame of n bytes.
func appendFrameHeader(dst []byte, flags byte, n int) []byte {
	if n <= maxShortFrame {
		return append(dst, flags, byte(n))
	}
	dst = append(dst, flags|flagLong)
	return binary.BigEndian.AppendUint64(dst, uint64(n))
}

// readyCommand returns the READY command frame announcing socketType and
// identity.
func readyCommand(sockType, identity string) []byte {
	body := []byte{5}
	body = append(body, "READY"...)
	body = appendProperty(body, "Socket-Type", sockType)
	body = appendProperty(body, "Identity", identity)
	return append(appendFrameHeader(nil, flagCommand, len(body)), body...)
}

func appendProperty(dst []byte, name, value string) []byte {
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}

// handshake runs the NULL handshake from this end: greeting, then READY,
// both ways. It returns the peer's properties. w gets this end's bytes, r
// the peer's; the caller bounds the time it takes.
func handshake(r *bufio.Reader, w io.Writer, sockType, identity string, lim zmtpLimits) (map[string]string, error) {
	out := append(greeting(), readyCommand(sockType, identity)...)
	if _, err := w.Write(out); err != nil {
		return nil, fmt.Errorf("protocol: handshake: write: %w", err)
	}
	g := make([]byte, greetingLen)
	if _, err := io.ReadFull(r, g); err != nil {
		return nil, fmt.Errorf("protocol: handshake: greeting: %w", readErr(err))
	}
	if err := checkGreeting(g); err != nil {
		return nil, err
	}
	flags, n, err := readFrameHeader(r)
	if err != nil {
		return nil, fmt.Errorf("protocol: handshake: READY: %w", err)
	}
	if flags&flagCommand == 0 || flags&flagMore != 0 {
		return nil, zmtpErr("handshake", "first frame after the greeting is not a command (flags %#x)", flags)
	}
	if n > uint64(lim.maxCommand) {
		return nil, zmtpErr("handshake", "command of %d bytes, limit %d", n, lim.maxCommand)
	}
	cmd := make([]byte, n)
	if _, err := io.ReadFull(r, cmd); err != nil {
		return nil, fmt.Errorf("protocol: handshake: READY: %w", readErr(err))
	}
	props, err := parseReady(cmd)
	if err != nil {
		return nil, err
	}
	if err := checkPeerType(props["Socket-Type"]); err != nil {
		return nil, err
	}
	return props, nil
}

// checkPeerType accepts the socket types a DEALER may talk to.
func checkPeerType(t string) error {
	switch t {
	case "ROUTER", "DEALER", "REP":
		return nil
	}
	return zmtpErr("READY Socket-Type", "%.40q cannot talk to a DEALER", t)
}

// parseReady parses the body of a READY command (or reports an ERROR
// command's reason). Every length is checked against what remains.
func parseReady(cmd []byte) (map[string]string, error) {
	name, rest, err := cutShort(cmd, "command name")
	if err != nil {
		return nil, err
	}
	switch string(name) {
	case "READY":
	case "ERROR":
		reason, _, err := cutShort(rest, "ERROR reason")
		if err != nil {
			return nil, err
		}
		return nil, zmtpErr("handshake", "peer sent ERROR %.100q", reason)
	default:
		return nil, zmtpErr("handshake", "command %.40q, want READY", name)
	}
	props := map[string]string{}
	for len(rest) > 0 {
		var pname []byte
		pname, rest, err = cutShort(rest, "READY property name")
		if err != nil {
			return nil, err
		}
		if len(pname) == 0 {
			return nil, zmtpErr("READY property name", "empty")
		}
		if len(rest) < 4 {
			return nil, zmtpErr("READY property "+safeName(pname), "value size truncated (%d bytes left)", len(rest))
		}
		vlen := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(vlen) > uint64(len(rest)) {
			return nil, zmtpErr("READY property "+safeName(pname), "value of %d bytes, only %d left", vlen, len(rest))
		}
		props[string(pname)] = string(rest[:vlen])
		rest = rest[vlen:]
	}
	return props, nil
}

// cutShort splits b after a one-byte length and that many bytes.
func cutShort(b []byte, field string) (value, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, zmtpErr(field, "missing")
	}
	n := int(b[0])
	if n > len(b)-1 {
		return nil, nil, zmtpErr(field, "%d bytes, only %d left", n, len(b)-1)
	}
	return b[1 : 1+n], b[1+n:], nil
}

// safeName quotes a peer-given property name, shortened.
func safeName(b []byte) string { return fmt.Sprintf("%.40q", b) }

// readErr turns a short read into io.ErrUnexpectedEOF.
func readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readFrameHeader reads a frame's flags and size, rejecting reserved flags.
func readFrameHeader(r *bufio.Reader) (flags byte, n uint64, err error) {
	flags, err = r.ReadByte()
	if err != nil {
		return 0, 0, err
	}
	if flags&flagReserved != 0 {
		return 0, 0, zmtpErr("frame flags", "reserved bits set (%#x)", flags)
	}
	if flags&flagLong == 0 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, 0, readErr(err)
		}
		return flags, uint64(b), nil
	}
	var size [8]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return 0, 0, readErr(err)
	}
	return flags, binary.BigEndian.Uint64(size[:]), nil
}

// readMessage reads the next message and returns its first frame; later
// frames are read and discarded, commands between messages skipped. It
// allocates no more than the bytes received and fails on a message beyond
// lim.
func readMessage(r *bufio.Reader, lim zmtpLimits) ([]byte, error) {
	var (
		first  []byte
		frames int
		total  uint64
	)
	for {
		flags, n, err := readFrameHeader(r)
		if err != nil {
			if frames > 0 {
				err = readErr(err)
			}
			return nil, err
		}
		if flags&flagCommand != 0 {
			if err := skipCommand(r, flags, n, frames, lim); err != nil {
				return nil, err
			}
			continue
		}
		frames++
		if frames > lim.maxFrames {
			return nil, zmtpErr("message", "more than %d frames", lim.maxFrames)
		}
		if n > uint64(lim.maxMessage)-total {
			return nil, zmtpErr("frame size", "frame of %d bytes makes the message exceed %d bytes", n, lim.maxMessage)
		}
		total += n
		if frames == 1 {
			if first, err = readBody(r, int(n)); err != nil {
				return nil, err
			}
		} else if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
			return nil, readErr(err)
		}
		if flags&flagMore == 0 {
			return first, nil
		}
	}
}

// skipCommand reads and ignores a command frame (PING and the like) that
// comes between messages.
func skipCommand(r *bufio.Reader, flags byte, n uint64, frames int, lim zmtpLimits) error {
	switch {
	case frames > 0:
		return zmtpErr("frame flags", "command inside a multi-frame message")
	case flags&flagMore != 0:
		return zmtpErr("frame flags", "command with the MORE flag")
	case n > uint64(lim.maxCommand):
		return zmtpErr("command size", "%d bytes, limit %d", n, lim.maxCommand)
	}
	if _, err := io.CopyN(io.Discard, r, int64(n)); err != nil {
		return readErr(err)
	}
	return nil
}

// readBody reads n bytes, growing the buffer as they arrive rather than
// trusting n up front.
func readBody(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, maxPreallocate))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(n-len(buf), cap(buf)))
		}
		m, err := r.Read(buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			return nil, readErr(err)
		}
	}
	return buf, nil
}
