package worker

import (
	"io"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
)

// fuzzValidTS is the timestamp of the valid spawns a fuzz run ends with;
// fuzzed spawns at or after it are left out, since they would rightly make
// the worker discard the valid ones.
const fuzzValidTS = 4e9

// fuzzSession registers a fresh worker with a fake master, feeds it bodies
// and then checks that it is still a sound worker: everything it sent
// decodes and is something a master survives, and a valid spawn that
// follows is obeyed exactly.
func fuzzSession(t *testing.T, bodies [][]byte) {
	m, done := startSessionWith(t, func(w *Worker) {
		w.NodeID = testNode
		w.MaxUsers = 20
		w.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}, Class("A", func() *idleUser { return &idleUser{} }), Class("B", func() *idleUser { return &idleUser{} }))
	m.nodeID = testNode
	m.expect("client_ready")
	m.send(protocol.AckMessage{Index: 0, HasIndex: true})
	for _, b := range bodies {
		if env, err := protocol.Decode(b); err == nil {
			switch msg := env.Message.(type) {
			case protocol.QuitMessage, protocol.ReconnectMessage:
				continue // tested on their own; they end or reset the session
			case protocol.SpawnMessage:
				if msg.Seconds() >= fuzzValidTS || msg.StopTimeout > 100*time.Millisecond {
					continue
				}
			}
		}
		m.conn.recv <- b
	}

	allowed := []string{"client_ready", "heartbeat", "stats", "spawning", "spawning_complete", "client_stopped", "exception"}
	ts := float64(fuzzValidTS)
	resend := time.NewTicker(300 * time.Millisecond)
	defer resend.Stop()
	deadline := time.After(6 * time.Second) // the fuzzing engine calls 10 s a hang
	m.conn.recv <- spawnBody(ts, map[string]int64{"A": 3, "B": 1})
	for {
		select {
		case err := <-done:
			t.Fatalf("the worker returned (%v) on input it should survive", err)
		case body := <-m.conn.sent:
			env, err := protocol.Decode(body)
			if err != nil {
				t.Fatalf("the worker sent an undecodable message: %v", err)
			}
			typ := env.Message.Type()
			if !slices.Contains(allowed, typ) || env.NodeID != testNode {
				t.Fatalf("the worker sent %s as %q", typ, env.NodeID)
			}
			switch msg := env.Message.(type) {
			case protocol.HeartbeatMessage:
				if !slices.Contains([]string{stateReady, stateSpawning, stateRunning}, msg.State) {
					t.Fatalf("heartbeat state %q", msg.State)
				}
			case protocol.ClientReadyMessage:
				m.send(protocol.AckMessage{Index: 0, HasIndex: true})
			case protocol.SpawningCompleteMessage:
				if msg.UserClassesCount["A"] == 3 && msg.UserClassesCount["B"] == 1 && msg.UserCount == 4 {
					return
				}
			}
		case <-resend.C:
			ts++
			select { // a stuck worker must not block the test
			case m.conn.recv <- spawnBody(ts, map[string]int64{"A": 3, "B": 1}):
			default:
			}
		case <-deadline:
			buf := make([]byte, 1<<20)
			t.Fatalf("the worker did not obey a valid spawn within 6 s after the fuzzed input; goroutines:\n%s",
				buf[:runtime.Stack(buf, true)])
		}
	}
}

// FuzzSessionInput feeds arbitrary message bodies to a registered worker.
func FuzzSessionInput(f *testing.F) {
	for _, seed := range [][3][]byte{
		{spawnBody(10, map[string]int64{"A": 2}), mpArr(mpStr("stop"), mpNil, mpStr(testNode)), spawnBody(11, map[string]int64{"A": 1, "B": 2})},
		{spawnBody(10, map[string]int64{"A": -1}), spawnBody(11, map[string]int64{"A": 1 << 40}), spawnBody(12, map[string]int64{"Nope": 5})},
		{mpArr(mpStr("ack"), mpNil), mpArr(mpStr("heartbeat"), mpNil, mpStr(testNode)), mpArr(mpStr("x"), mpNil, mpStr(testNode), mpNil)},
		{[]byte{}, []byte("\xff\xfe"), mpArr(mpStr("spawn"), mpStr("no"), mpStr(testNode))},
		{mpArr(mpStr("ack"), mpMap(mpStr("index"), mpInt(3)), mpStr(testNode)), mpArr(mpStr("spawning_complete"), mpMap(mpStr("user_count"), mpInt(9)), mpStr(testNode)), mpArr(mpStr("update_user_class"), mpMap(), mpStr(testNode))},
		{mpArr(mpStr("stop"), mpNil, mpStr(testNode)), mpArr(mpStr("stop"), mpNil, mpStr(testNode)), spawnBody(9, map[string]int64{"B": 20})},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		fuzzSession(t, [][]byte{a, b, c})
	})
}

// FuzzSessionSpawn feeds a registered worker spawn messages with arbitrary
// fields: counts (negative, huge, unknown classes), timestamps, stop
// timeouts, hosts and tag options.
func FuzzSessionSpawn(f *testing.F) {
	f.Add(10.0, "A", int64(2), int64(1), 0.0, "http://127.0.0.1:1", "")
	f.Add(10.0, "A", int64(-3), int64(0), 0.05, "", "a,b")
	f.Add(-1e300, "B", int64(1)<<62, int64(1)<<62, -5.0, "\x00", "")
	f.Add(1e-9, "", int64(0), int64(21), 1e300, "x", "zz")
	f.Add(5.5, "Nope", int64(20), int64(20), 0.0, "", "")
	f.Fuzz(func(t *testing.T, ts float64, class string, n, nb int64, stopTimeout float64, host, tags string) {
		if len(class) > 200 || len(host) > 200 || len(tags) > 200 {
			return
		}
		body := mpArr(mpStr("spawn"), mpMap(
			mpStr("timestamp"), mpFloat(ts),
			mpStr("user_classes_count"), mpMap(mpStr(class), mpInt(n), mpStr("B"), mpInt(nb)),
			mpStr("host"), mpStr(host),
			mpStr("stop_timeout"), mpFloat(stopTimeout),
			mpStr("parsed_options"), mpMap(mpStr("tags"), mpStr(tags)),
		), mpStr(testNode))
		fuzzSession(t, [][]byte{body, body})
	})
}
