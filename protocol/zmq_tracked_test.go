package protocol

// Tests of SendTracked against a peer that stops reading: the receipts
// must say exactly which bodies the peer can still read.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stallPeer is a ZMTP ROUTER in Go that completes the handshake and then
// reads nothing until drain is called.
type stallPeer struct {
	l    net.Listener
	conn chan net.Conn
}

func newStallPeer(t *testing.T) *stallPeer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallPeer{l: l, conn: make(chan net.Conn, 4)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(p.conn)
				return
			}
			p.conn <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
	return p
}

// accept returns the next connection after the handshake, and its reader.
func (p *stallPeer) accept(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	select {
	case c := <-p.conn:
		t.Cleanup(func() { c.Close() })
		r := bufio.NewReader(c)
		if _, err := handshake(r, c, "ROUTER", "", testLimits); err != nil {
			t.Fatalf("peer handshake: %v", err)
		}
		return c, r
	case <-time.After(eventTimeout):
		t.Fatal("the Conn did not connect")
	}
	return nil, nil
}

// drain reads every whole message left on the connection.
func drain(r *bufio.Reader) map[string]bool {
	got := map[string]bool{}
	lim := zmtpLimits{maxMessage: 1 << 30, maxFrames: 1, maxCommand: maxCommandBytes}
	for {
		b, err := readMessage(r, lim)
		if err != nil {
			return got
		}
		got[string(b[:strings.IndexByte(string(b), ':')])] = true
	}
}

// TestZMQSendTrackedStall queues 64 KiB bodies to a peer that stops
// reading until the send timeout tears the connection down: every body
// gets exactly one receipt, and those reported written are exactly the
// ones the peer reads once it drains the old connection.
func TestZMQSendTrackedStall(t *testing.T) {
	p := newStallPeer(t)
	opts := fastOptions("tcp://" + p.l.Addr().String())
	opts.SendTimeout = 300 * time.Millisecond
	c, err := DialZMQ(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn(t, c)
	tracker := c.(SendTracker)
	_, r := p.accept(t)
	waitEvent(t, c, Connected)

	var mu sync.Mutex
	receipts := map[string][]bool{}
	pad := strings.Repeat("x", 64<<10)
	sent := 0
	for i := range 400 {
		id := strconv.Itoa(i)
		err := tracker.SendTracked([]byte(id+":"+pad), func(w bool) {
			mu.Lock()
			receipts[id] = append(receipts[id], w)
			mu.Unlock()
		})
		if err != nil {
			break // the timeout may already have struck
		}
		sent++
	}
	ev := waitEvent(t, c, Disconnected)
	if !errors.Is(ev.Err, ErrSendTimeout) {
		t.Fatalf("cause %v, want ErrSendTimeout", ev.Err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(receipts) != sent {
		t.Fatalf("%d of %d bodies got a receipt", len(receipts), sent)
	}
	written := map[string]bool{}
	for id, rs := range receipts {
		if len(rs) != 1 {
			t.Fatalf("body %s got %d receipts", id, len(rs))
		}
		if rs[0] {
			written[id] = true
		}
	}
	got := drain(r)
	t.Logf("%d bodies queued, %d written, %d dropped with the connection", sent, len(written), sent-len(written))
	if len(written) == 0 || len(written) == sent {
		t.Fatalf("%d of %d written: the peer did not stall", len(written), sent)
	}
	if fmt.Sprint(got) != fmt.Sprint(written) {
		t.Errorf("the peer read %d bodies, the receipts say %d were written", len(got), len(written))
	}
}
