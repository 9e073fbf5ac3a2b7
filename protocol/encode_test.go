package protocol

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenMessages are encoded and compared byte for byte with
// testdata/golden/<name>.msgpack (go test -run TestEncodeGolden -update
// rewrites them).
func goldenMessages() []struct {
	name string
	msg  Message
} {
	entry := StatsEntry{
		Name: "/api", Method: "POST",
		LastRequestTimestamp: ptr(1795691001.8271003), StartTime: 1795691000.8239725,
		NumRequests: 3, NumFailures: 1, TotalResponseTime: 1307, MaxResponseTime: 1050,
		MinResponseTime: ptr(7.0), TotalContentLength: 84,
		ResponseTimes: map[int64]int64{7: 1, 250: 1, 1000: 1},
		NumReqsPerSec: map[int64]int64{1795691000: 2, 1795691001: 1},
		NumFailPerSec: map[int64]int64{1795691000: 1},
	}
	total := entry
	total.Name, total.Method = "Aggregated", ""
	return []struct {
		name string
		msg  Message
	}{
		{"client_ready_version", ClientReadyMessage{Version: "2.46.3"}},
		{"client_ready_minus1", ClientReadyMessage{}},
		{"heartbeat", HeartbeatMessage{State: "running", CPUUsage: 0, MemoryUsage: 56229888}},
		{"master_heartbeat", MasterHeartbeatMessage{}},
		{"stats_empty", StatsMessage{Total: StatsEntry{Name: "Aggregated", StartTime: 1795690996.7831514}}},
		{"stats", StatsMessage{
			Stats: []StatsEntry{entry},
			Total: total,
			Errors: map[string]StatsError{
				"babdaa54cddbc70e14faacdbd85a4610b1d2e0502828085f4fc4ad72316b249e": {
					Name: "/api", Method: "POST", Error: "Exception('synthetic failure: HTTP 503')", Occurrences: 1,
					FirstSeen: ptr(1795691030.1510508), LastSeen: ptr(1795691030.1510508),
				},
			},
			UserClassesCount: map[string]int64{"WebUser": 3, "ApiUser": 2},
			UserCount:        5,
		}},
		{"spawning", SpawningMessage{}},
		{"spawning_complete", SpawningCompleteMessage{UserClassesCount: map[string]int64{"WebUser": 3, "ApiUser": 2}, UserCount: 5}},
		{"client_stopped", ClientStoppedMessage{}},
		{"quit", QuitMessage{}},
		{"exception", ExceptionMessage{Msg: "synthetic user exception", Traceback: "  File \"x.go\", line 1, in run\n"}},
		{"logs", LogsMessage{WorkerID: testNode, Logs: []string{"line 1", "line 2"}}},
		{"ack", AckMessage{Index: 0, HasIndex: true}},
		{"ack_without_index", AckMessage{}},
		{"spawn", SpawnMessage{
			TimestampSeconds: 1795691030.0828145,
			UserClassesCount: map[string]int64{"ApiUser": 2, "WebUser": 3},
			Host:             "http://127.0.0.1:9",
			StopTimeout:      1500 * time.Millisecond,
			ParsedOptions:    map[string]any{"tags": nil, "exclude_tags": []any{"slow"}, "web_port": int64(38089), "spawn_rate": 5.0, "headless": false},
		}},
		{"stop", StopMessage{}},
		{"reconnect", ReconnectMessage{}},
		{"update_user_class", UpdateUserClassMessage{UserClassName: "WebUser", Attributes: map[string]any{"host": "http://127.0.0.1:9", "weight": int64(2)}}},
		{"custom", CustomMessage{MessageType: "worker_hello", Data: map[string]any{"n": 1, "f": 1.5, "s": "hi", "l": []int{1, 2}}}},
	}
}

func TestEncodeGolden(t *testing.T) {
	for _, tt := range goldenMessages() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(testNode, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.name+".msgpack")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoding differs from %s: %s", path, hexDiff(want, got))
			}
			// Every golden body decodes back to the message it came from.
			env, err := Decode(got)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if env.NodeID != testNode || env.Message.Type() != tt.msg.Type() {
				t.Errorf("decoded %q from %q", env.Message.Type(), env.NodeID)
			}
		})
	}
}

// mapKeys returns the keys of the map at the reader's position, in wire
// order, and consumes the map.
func mapKeys(t *testing.T, r *reader) []string {
	t.Helper()
	n, err := r.readMapLen()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; i < n; i++ {
		k, err := r.readStr()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		if err := r.skip(0); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// dataReader returns a reader positioned on the data of an encoded body.
func dataReader(t *testing.T, b []byte) *reader {
	t.Helper()
	r := &reader{b: b}
	if n, err := r.readArrayLen(); err != nil || n != 3 {
		t.Fatalf("not a 3-array: %v", err)
	}
	if kindOf(b[r.off]) != kindStr {
		t.Fatalf("type is not a str")
	}
	if _, err := r.readStr(); err != nil {
		t.Fatal(err)
	}
	return r
}

var entryKeys = []string{
	"name", "method", "last_request_timestamp", "start_time", "num_requests", "num_none_requests",
	"num_failures", "total_response_time", "max_response_time", "min_response_time",
	"total_content_length", "response_times", "num_reqs_per_sec", "num_fail_per_sec",
}

// TestEncodeStatsWireRules checks the rules that crash masters when broken:
// key order, nil maps and slices written empty, int histogram keys and
// float64 floats.
func TestEncodeStatsWireRules(t *testing.T) {
	b, err := Encode(testNode, StatsMessage{Stats: []StatsEntry{{Name: "/x", Method: "GET"}}})
	if err != nil {
		t.Fatal(err)
	}
	r := dataReader(t, b)
	start := r.off
	if got, want := mapKeys(t, r), []string{"stats", "stats_total", "errors", "user_classes_count", "user_count"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stats keys = %v, want %v", got, want)
	}
	r.off = start
	r.readMapLen()
	for range 5 {
		k, _ := r.readStr()
		switch k {
		case "stats":
			n, err := r.readArrayLen()
			if err != nil || n != 1 {
				t.Fatalf("stats: %d entries, %v", n, err)
			}
			if got := mapKeys(t, r); !reflect.DeepEqual(got, entryKeys) {
				t.Errorf("entry keys = %v", got)
			}
		case "stats_total":
			sub := *r
			if got := mapKeys(t, &sub); !reflect.DeepEqual(got, entryKeys) {
				t.Errorf("total keys = %v", got)
			}
			// Walk the total and check each value's wire form.
			r.readMapLen()
			for _, key := range entryKeys {
				r.readStr()
				c := r.b[r.off]
				switch key {
				case "name", "method":
					if kindOf(c) != kindStr {
						t.Errorf("%s: wire %s, want str", key, kindOf(c))
					}
				case "last_request_timestamp", "min_response_time":
					if c != mpNil {
						t.Errorf("%s: wire %s, want nil", key, kindOf(c))
					}
				case "start_time", "total_response_time", "max_response_time":
					if c != mpFloat64 {
						t.Errorf("%s: wire 0x%02x, want float64", key, c)
					}
				case "response_times", "num_reqs_per_sec", "num_fail_per_sec":
					if c != 0x80 {
						t.Errorf("%s: wire 0x%02x, want empty fixmap", key, c)
					}
				default:
					if kindOf(c) != kindUint {
						t.Errorf("%s: wire %s, want int", key, kindOf(c))
					}
				}
				r.skip(0)
			}
		case "errors", "user_classes_count":
			if r.b[r.off] != 0x80 {
				t.Errorf("%s: wire 0x%02x, want empty fixmap (nil maps must not be sent as nil)", k, r.b[r.off])
			}
			r.skip(0)
		default:
			r.skip(0)
		}
	}

	// Histogram keys are ints whatever their size.
	b, _ = Encode(testNode, StatsMessage{Total: StatsEntry{ResponseTimes: map[int64]int64{7: 1, 250: 2, 59000: 3}, NumReqsPerSec: map[int64]int64{1795691000: 9}}})
	g := genericDecode(t, b).([]any)[1].(map[any]any)["stats_total"].(map[any]any)
	for _, f := range []string{"response_times", "num_reqs_per_sec"} {
		for k := range g[f].(map[any]any) {
			if _, ok := k.(tInt); !ok {
				t.Errorf("%s key %#v is not an int", f, k)
			}
		}
	}
}

func TestEncodeWireForms(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		data []byte // exact expected data bytes
	}{
		{"client_ready empty version is -1", ClientReadyMessage{}, []byte{0xff}},
		{"client_ready version is str", ClientReadyMessage{"2.12.1"}, fixstr("2.12.1")},
		{"heartbeat cpu is float64 even when zero", HeartbeatMessage{State: "ready"},
			mapv(str("state"), str("ready"), str("current_cpu_usage"), f64(0), str("current_memory_usage"), posfix(0))},
		{"heartbeat ints use Python's smallest forms", HeartbeatMessage{State: "ready", MemoryUsage: 56229888},
			mapv(str("state"), str("ready"), str("current_cpu_usage"), f64(0), str("current_memory_usage"), u32(56229888))},
		{"master heartbeat is nil", MasterHeartbeatMessage{}, nilv},
		{"ack with index", AckMessage{Index: 200, HasIndex: true}, mapv(str("index"), u8(200))},
		{"ack without index is nil", AckMessage{}, nilv},
		{"spawning_complete nil map is empty", SpawningCompleteMessage{UserCount: 0}, mapv(str("user_classes_count"), mapv(), str("user_count"), posfix(0))},
		{"logs nil is empty array", LogsMessage{WorkerID: "w"}, mapv(str("worker_id"), str("w"), str("logs"), arr())},
		{"spawn empty host is nil, stop_timeout float seconds, nil options empty", SpawnMessage{TimestampSeconds: 1.5, StopTimeout: 2 * time.Second},
			mapv(str("timestamp"), f64(1.5), str("user_classes_count"), mapv(), str("host"), nilv, str("stop_timeout"), f64(2), str("parsed_options"), mapv())},
		{"spawn timestamp from time.Time", SpawnMessage{Timestamp: time.Unix(10, 5e8)},
			mapv(str("timestamp"), f64(10.5), str("user_classes_count"), mapv(), str("host"), nilv, str("stop_timeout"), f64(0), str("parsed_options"), mapv())},
		{"stats error without first/last seen", StatsMessage{Errors: map[string]StatsError{"k": {Name: "n", Method: "GET", Error: "e", Occurrences: 2}}}, nil},
		{"invalid UTF-8 is replaced", ExceptionMessage{Msg: "a\xffb", Traceback: ""}, mapv(str("msg"), str("a\uFFFDb"), str("traceback"), str(""))},
		{"long strings use str8 and str16", ExceptionMessage{Msg: strings.Repeat("m", 40), Traceback: strings.Repeat("t", 300)},
			mapv(str("msg"), str8(strings.Repeat("m", 40)), str("traceback"), str16(strings.Repeat("t", 300)))},
		{"custom negative ints and bytes", CustomMessage{"c", []any{-1, -33, -200, int64(math.MinInt64), []byte{1}, uint64(math.MaxUint64)}},
			arr(negfix(-1), i8(-33), i16(-200), i64(math.MinInt64), bin8("\x01"), u64(math.MaxUint64))},
		{"custom float32 is written as float64", CustomMessage{"c", float32(1.5)}, f64(1.5)},
		{"custom struct via codec tags", CustomMessage{"c", struct {
			A int    `codec:"a"`
			B string `json:"b"`
		}{1, "x"}}, mapv(str("a"), posfix(1), str("b"), str("x"))},
		{"custom map with int keys", CustomMessage{"c", map[int]string{2: "b", 1: "a"}}, mapv(posfix(1), str("a"), posfix(2), str("b"))},
		{"custom mixed keys: str first, sorted", CustomMessage{"c", map[any]any{"b": 1, 3: 1, "a": 1}}, mapv(str("a"), posfix(1), str("b"), posfix(1), posfix(3), posfix(1))},
		{"custom pointer and nil slice", CustomMessage{"c", []any{ptr(5), []string(nil), (*int)(nil)}}, arr(posfix(5), arr(), nilv)},
		{"custom array of bytes is bin", CustomMessage{"c", [2]byte{1, 2}}, bin8("\x01\x02")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(testNode, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.data == nil {
				if _, err := Decode(b); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := cat([]byte{0x93}, str(tt.msg.Type()), tt.data, str(testNode))
			if !bytes.Equal(b, want) {
				t.Errorf("%s", hexDiff(want, b))
			}
		})
	}
}

type notAMessage struct{}

func (notAMessage) Type() string { return "x" }

func TestEncodeErrors(t *testing.T) {
	type withTag struct {
		T bool `codec:"__ObjectId__"`
	}
	tests := []struct {
		name   string
		nodeID string
		msg    Message
		want   string
	}{
		{"nil message", testNode, nil, "nil message"},
		{"nil pointer", testNode, (*StatsMessage)(nil), "nil *protocol.StatsMessage"},
		{"foreign Message", testNode, notAMessage{}, "unsupported message type protocol.notAMessage"},
		{"empty node id", "", QuitMessage{}, "node id is empty"},
		{"long node id", strings.Repeat("a", 256), QuitMessage{}, "limit is 255"},
		{"NUL node id", "\x00a", QuitMessage{}, "NUL"},
		{"invalid UTF-8 node id", "a\xff", QuitMessage{}, "UTF-8"},
		{"custom with empty type", testNode, CustomMessage{}, "invalid message type"},
		{"custom with a typed type", testNode, CustomMessage{MessageType: "spawning"}, `"spawning" has a typed message`},
		{"custom datetime key", testNode, CustomMessage{"c", map[string]any{"__datetime__": true, "as_str": "x"}}, `"__datetime__" is reserved`},
		{"custom nested ObjectId key", testNode, CustomMessage{"c", []any{1, map[string]any{"a": map[string]any{"__ObjectId__": 1}}}}, `field "[1].a": map key "__ObjectId__" is reserved`},
		{"custom map[any]any reserved key", testNode, CustomMessage{"c", map[any]any{"__datetime__": 1}}, "reserved"},
		{"custom struct tag reserved key", testNode, CustomMessage{"c", withTag{true}}, "reserved"},
		{"custom map[string]string reserved key", testNode, CustomMessage{"c", map[string]string{"__ObjectId__": ""}}, "reserved"},
		{"custom unsupported key", testNode, CustomMessage{"c", map[[2]int]int{{1, 2}: 3}}, "map key must be"},
		{"custom any key of slice type", testNode, CustomMessage{"c", map[any]any{[2]int{}: 1}}, "map key must be"},
		{"custom func", testNode, CustomMessage{"c", func() {}}, "cannot encode value of type func()"},
		{"custom chan", testNode, CustomMessage{"c", make(chan int)}, "cannot encode"},
		{"custom time.Time (would be an ext)", testNode, CustomMessage{"c", time.Unix(0, 0)}, "ext types are not supported"},
		{"custom self-referencing pointer", testNode, CustomMessage{"c", selfRef()}, "deeper"},
		{"stats reserved user class", testNode, StatsMessage{UserClassesCount: map[string]int64{"__datetime__": 1}}, `field "user_classes_count"`},
		{"stats reserved error key", testNode, StatsMessage{Errors: map[string]StatsError{"__ObjectId__": {}}}, `field "errors"`},
		{"spawn reserved option", testNode, SpawnMessage{ParsedOptions: map[string]any{"x": map[string]any{"__datetime__": 1}}}, `field "parsed_options.x"`},
		{"spawning_complete reserved class", testNode, SpawningCompleteMessage{UserClassesCount: map[string]int64{"__ObjectId__": 1}}, "reserved"},
		{"update_user_class duplicate name", testNode, UpdateUserClassMessage{UserClassName: "A", Attributes: map[string]any{"user_class_name": "B"}}, "must not hold"},
		{"update_user_class reserved attribute", testNode, UpdateUserClassMessage{UserClassName: "A", Attributes: map[string]any{"__datetime__": "B"}}, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(tt.nodeID, tt.msg)
			if err == nil {
				t.Fatalf("Encode succeeded: % x", b)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "protocol: encode") {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// selfRef returns a value that refers to itself through a map.
func selfRef() any {
	m := map[string]any{}
	m["self"] = m
	return m
}

func TestEncodePointerMessages(t *testing.T) {
	a, err := Encode(testNode, &HeartbeatMessage{State: "ready"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Encode(testNode, HeartbeatMessage{State: "ready"})
	if !bytes.Equal(a, b) {
		t.Error("pointer and value encode differently")
	}
}

func TestEncodeDoesNotMutate(t *testing.T) {
	m := StatsMessage{}
	if _, err := Encode(testNode, m); err != nil {
		t.Fatal(err)
	}
	if m.Stats != nil || m.Errors != nil {
		t.Error("Encode mutated its argument")
	}
}
