package reliability

import (
	"context"
	"io"
	"log"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/golocust/golocust/protocol"
)

// fakeMaster is a go-zeromq ROUTER on 127.0.0.1 standing in for a master
// that misbehaves on purpose. Every message the worker sends is decoded
// (an undecodable one fails the test: it would kill a real master's
// receive loop) and handed to the test with its arrival time.
type fakeMaster struct {
	t    *testing.T
	sock zmq4.Socket
	port int
	in   chan arrival
	done chan struct{}
	node string // the worker's identity, once it has spoken
}

type arrival struct {
	at  time.Time
	env protocol.Envelope
}

func startFakeMaster(t *testing.T) *fakeMaster {
	t.Helper()
	sock := zmq4.NewRouter(context.Background(), zmq4.WithLogger(log.New(io.Discard, "", 0)))
	if err := sock.Listen("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := strings.Cut(sock.Addr().String(), ":")
	port, _ := strconv.Atoi(portStr)
	m := &fakeMaster{t: t, sock: sock, port: port, in: make(chan arrival, 1<<16), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			msg, err := sock.Recv()
			if err != nil {
				return
			}
			at := time.Now()
			if len(msg.Frames) != 2 {
				t.Errorf("worker sent %d frames, want identity and body", len(msg.Frames))
				continue
			}
			env, err := protocol.Decode(msg.Frames[1])
			if err != nil {
				t.Errorf("worker sent an undecodable body: %v", err)
				continue
			}
			if env.NodeID != string(msg.Frames[0]) {
				t.Errorf("worker's node_id %q differs from its identity %q", env.NodeID, msg.Frames[0])
			}
			m.in <- arrival{at: at, env: env}
		}
	}()
	t.Cleanup(func() {
		_ = sock.Close()
		<-m.done
	})
	return m
}

// expect returns the next message of type typ, passing every other one to
// seen (which may be nil).
func (m *fakeMaster) expect(typ string, timeout time.Duration, seen func(arrival)) arrival {
	m.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case a := <-m.in:
			if a.env.Message.Type() == typ {
				m.node = a.env.NodeID
				return a
			}
			if seen != nil {
				seen(a)
			}
		case <-deadline.C:
			m.t.Fatalf("the worker sent no %s within %s", typ, timeout)
		}
	}
}

// sendFrames sends raw frames to the worker.
func (m *fakeMaster) sendFrames(frames ...[]byte) {
	m.t.Helper()
	if err := m.sock.Send(zmq4.NewMsgFrom(append([][]byte{[]byte(m.node)}, frames...)...)); err != nil {
		m.t.Fatalf("fake master send: %v", err)
	}
}

func (m *fakeMaster) send(msg protocol.Message) {
	m.t.Helper()
	body, err := protocol.Encode(m.node, msg)
	if err != nil {
		m.t.Fatal(err)
	}
	m.sendFrames(body)
}

// heartbeatWatch records the gaps between heartbeats and their CPU usage.
type heartbeatWatch struct {
	last   time.Time
	gaps   []time.Duration
	cpu    []float64
	states []string
}

func (h *heartbeatWatch) see(a arrival) {
	hb, ok := a.env.Message.(protocol.HeartbeatMessage)
	if !ok {
		return
	}
	if !h.last.IsZero() {
		h.gaps = append(h.gaps, a.at.Sub(h.last))
	}
	h.last = a.at
	h.cpu = append(h.cpu, hb.CPUUsage)
	h.states = append(h.states, hb.State)
}

func (h *heartbeatWatch) maxGap() time.Duration {
	if len(h.gaps) == 0 {
		return 0
	}
	return slices.Max(h.gaps)
}

// processCPU returns the CPU time pid has used, from /proc.
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 14th and 15th fields of the line.
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// TestFakeMasterBadInputAndSaturation drives the test worker from a fake
// master that sends every kind of malformed input (bad frames, bad bodies,
// wrong field types, unknown types, unknown classes, absurd counts): the
// worker logs each, keeps its heartbeat and then obeys a valid spawn of
// 2,000 CPU-bound users. Under that load the gap between heartbeats stays
// below 2 s and the CPU usage they report matches what the kernel counts.
func TestFakeMasterBadInputAndSaturation(t *testing.T) {
	m := startFakeMaster(t)
	w := startWorker(t, m.port)
	var hb heartbeatWatch
	m.expect("client_ready", 20*time.Second, nil)
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})

	node := m.node
	spawn := func(ts float64, counts map[string]int64) []byte {
		body, err := protocol.Encode(node, protocol.SpawnMessage{
			TimestampSeconds: ts, UserClassesCount: counts, ParsedOptions: map[string]any{},
		})
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	raw := func(typ string, data any) []byte {
		body, err := protocol.Encode(node, protocol.CustomMessage{MessageType: typ, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	valid := spawn(100, map[string]int64{"Steady": 1})
	for _, tc := range []struct {
		name   string
		frames [][]byte
		log    string
	}{
		{"two frames", [][]byte{valid, valid}, ""}, // the transport takes the first frame only
		{"empty frame", [][]byte{{}}, "cannot be decoded"},
		{"garbage", [][]byte{[]byte("\xc1\xc1\xc1 garbage")}, "cannot be decoded"},
		{"truncated", [][]byte{valid[:len(valid)/2]}, "cannot be decoded"},
		{"big garbage", [][]byte{make([]byte, 1<<20)}, "cannot be decoded"},
		{"not an array", [][]byte{{0xa3, 'a', 'b', 'c'}}, "cannot be decoded"},
		{"two elements", [][]byte{{0x92, 0xa4, 's', 't', 'o', 'p', 0xc0}}, "cannot be decoded"},
		{"spawn data not a map", [][]byte{append(append([]byte{0x93, 0xa5}, "spawn\xa1x\xd9"...), append([]byte{byte(len(node))}, node...)...)}, "cannot be decoded"},
		{"unknown type", [][]byte{raw("frobnicate", map[string]any{"x": 1})}, "unknown type"},
		{"unknown class", [][]byte{spawn(101, map[string]int64{"Ghost": 4})}, "class this worker does not have"},
		{"negative count", [][]byte{spawn(102, map[string]int64{"Steady": -1})}, "negative user count"},
		{"absurd count", [][]byte{spawn(103, map[string]int64{"Steady": 1_000_000_000_000})}, "more than 1000000 users"},
	} {
		before := w.Output.Count(tc.log)
		m.sendFrames(tc.frames...)
		if tc.log != "" {
			w.Output.WaitFor(t, tc.log, before+1, 10*time.Second)
		}
	}
	// The two-frame message carried a valid spawn of one Steady user, and
	// the spawn of an unknown class completes with none of it.
	m.expect("spawning_complete", 10*time.Second, hb.see)
	m.expect("spawning_complete", 10*time.Second, hb.see)
	if hb.maxGap() >= 2*time.Second {
		t.Errorf("heartbeat gaps during bad input: %v", hb.gaps)
	}

	// The master's reconnect: a new connection with the same identity, and
	// no second client_ready, since the master still knows the worker.
	m.send(protocol.ReconnectMessage{})
	w.Output.WaitFor(t, "protocol: connected to master", 2, 10*time.Second)
	noReady := func(a arrival) {
		if a.env.Message.Type() == "client_ready" {
			t.Errorf("the worker registered again after the master's reconnect")
		}
	}
	for range 2 {
		if a := m.expect("heartbeat", 5*time.Second, noReady); a.env.NodeID != node {
			t.Errorf("after reconnect the worker is %q, was %q", a.env.NodeID, node)
		}
	}

	// A valid spawn after all that: 2,000 users that burn CPU.
	m.sendFrames(spawn(200, map[string]int64{"Busy": 2000}))
	a := m.expect("spawning_complete", 30*time.Second, noReady)
	if got := a.env.Message.(protocol.SpawningCompleteMessage); got.UserClassesCount["Busy"] != 2000 {
		t.Fatalf("spawning_complete %+v, want Busy=2000", got)
	}
	pid := w.Cmd.Process.Pid
	hb = heartbeatWatch{}
	cpuStart, wallStart := processCPU(t, pid), time.Now()
	m.expect("heartbeat", 5*time.Second, nil)
	hb.last = time.Now()
	deadline := time.After(8 * time.Second)
watch:
	for {
		select {
		case a := <-m.in:
			hb.see(a)
		case <-deadline:
			break watch
		}
	}
	kernelCPU := 100 * float64(processCPU(t, pid)-cpuStart) / float64(time.Since(wallStart))
	var reported float64
	for _, c := range hb.cpu {
		reported += c
	}
	reported /= float64(max(len(hb.cpu), 1))
	t.Logf("2,000 busy users: %d heartbeats in 8 s, max gap %s, gaps %v; CPU reported %.0f%% on average, kernel %.0f%%",
		len(hb.cpu), hb.maxGap().Round(time.Millisecond), roundAll(hb.gaps), reported, kernelCPU)
	if hb.maxGap() >= 2*time.Second || len(hb.cpu) < 5 {
		t.Errorf("heartbeats under CPU saturation: %d in 8 s, max gap %s, want gaps below 2 s", len(hb.cpu), hb.maxGap())
	}
	if kernelCPU < 50 {
		t.Errorf("the busy worker used only %.0f%% CPU; the test did not saturate it", kernelCPU)
	}
	// Heartbeats report CPU as a share of the worker's cores (its
	// GOMAXPROCS, the same as this process's on this machine); the
	// kernel's figure is in percent of one core.
	share := kernelCPU / float64(runtime.GOMAXPROCS(0))
	if reported < share*0.6 || reported > share*1.4 {
		t.Errorf("heartbeats report %.0f%% CPU on average; the kernel counted %.0f%% of one core, %.0f%% of %d cores",
			reported, kernelCPU, share, runtime.GOMAXPROCS(0))
	}
	if slices.ContainsFunc(hb.states, func(s string) bool { return s != "running" }) {
		t.Errorf("heartbeat states under load: %v, want running", hb.states)
	}

	m.send(protocol.QuitMessage{})
	m.expect("quit", 5*time.Second, nil)
	if code := w.Wait(t, 10*time.Second); code != 0 {
		t.Errorf("worker exit code %d after quit, want 0", code)
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}
