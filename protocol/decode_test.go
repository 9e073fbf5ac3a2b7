package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func heartbeatWithMemory(mem []byte) []byte {
	return body("heartbeat", mapv(str("state"), str("running"), str("current_cpu_usage"), f64(12.5), str("current_memory_usage"), mem))
}

func spawnBody(kv ...[]byte) []byte { return body("spawn", mapv(kv...)) }

func spawnWith(ts, stopTimeout, options []byte) []byte {
	return spawnBody(
		str("timestamp"), ts,
		str("user_classes_count"), mapv(str("ApiUser"), posfix(2), str("WebUser"), posfix(3)),
		str("host"), str("http://127.0.0.1:9"),
		str("stop_timeout"), stopTimeout,
		str("parsed_options"), options,
	)
}

var testCounts = map[string]int64{"ApiUser": 2, "WebUser": 3}

func TestDecode(t *testing.T) {
	const ts = 1795691000.7652893
	tests := []struct {
		name string
		body []byte
		want Message
	}{
		// Every int width, in an int64 field.
		{"mem positive fixint", heartbeatWithMemory(posfix(127)), HeartbeatMessage{"running", 12.5, 127}},
		{"mem uint8", heartbeatWithMemory(u8(255)), HeartbeatMessage{"running", 12.5, 255}},
		{"mem uint16", heartbeatWithMemory(u16(65535)), HeartbeatMessage{"running", 12.5, 65535}},
		{"mem uint32", heartbeatWithMemory(u32(56229888)), HeartbeatMessage{"running", 12.5, 56229888}},
		{"mem uint64", heartbeatWithMemory(u64(math.MaxInt64)), HeartbeatMessage{"running", 12.5, math.MaxInt64}},
		{"mem negative fixint", heartbeatWithMemory(negfix(-32)), HeartbeatMessage{"running", 12.5, -32}},
		{"mem int8", heartbeatWithMemory(i8(-128)), HeartbeatMessage{"running", 12.5, -128}},
		{"mem int16", heartbeatWithMemory(i16(-32768)), HeartbeatMessage{"running", 12.5, -32768}},
		{"mem int32", heartbeatWithMemory(i32(math.MinInt32)), HeartbeatMessage{"running", 12.5, math.MinInt32}},
		{"mem int64", heartbeatWithMemory(i64(math.MinInt64)), HeartbeatMessage{"running", 12.5, math.MinInt64}},
		{"mem int8 positive", heartbeatWithMemory(i8(5)), HeartbeatMessage{"running", 12.5, 5}},
		{"mem integral float64", heartbeatWithMemory(f64(4096)), HeartbeatMessage{"running", 12.5, 4096}},
		{"mem integral float32", heartbeatWithMemory(f32(-2)), HeartbeatMessage{"running", 12.5, -2}},
		{"heartbeat memory missing", body("heartbeat", mapv(str("state"), str("ready"), str("current_cpu_usage"), f64(0))), HeartbeatMessage{State: "ready"}},
		{"heartbeat cpu as int", body("heartbeat", mapv(str("state"), str("ready"), str("current_cpu_usage"), posfix(3))), HeartbeatMessage{State: "ready", CPUUsage: 3}},
		{"heartbeat unknown key ignored", body("heartbeat", mapv(str("state"), str("ready"), str("current_cpu_usage"), f64(1), str("extra"), arr(nilv), posfix(1), str("non-str key"))), HeartbeatMessage{State: "ready", CPUUsage: 1}},
		{"heartbeat nil data is the master's", body("heartbeat", nilv), MasterHeartbeatMessage{}},

		// client_ready.
		{"client_ready version", body("client_ready", str("2.46.3")), ClientReadyMessage{"2.46.3"}},
		{"client_ready -1", body("client_ready", negfix(-1)), ClientReadyMessage{}},
		{"client_ready -1 as int8", body("client_ready", i8(-1)), ClientReadyMessage{}},
		{"client_ready -1 as int64", body("client_ready", i64(-1)), ClientReadyMessage{}},
		{"client_ready empty str", body("client_ready", str("")), ClientReadyMessage{}},
		{"client_ready str8", body("client_ready", str8("2.12.1")), ClientReadyMessage{"2.12.1"}},
		{"client_ready str16", body("client_ready", str16("2.12.1")), ClientReadyMessage{"2.12.1"}},
		{"client_ready str32", body("client_ready", str32("2.12.1")), ClientReadyMessage{"2.12.1"}},

		// ack.
		{"ack index", body("ack", mapv(str("index"), posfix(3))), AckMessage{3, true}},
		{"ack index uint16", body("ack", mapv(str("index"), u16(300))), AckMessage{300, true}},
		{"ack nil", body("ack", nilv), AckMessage{}},
		{"ack without index", body("ack", mapv()), AckMessage{}},

		// spawn: timestamps, stop_timeout and parsed_options forms.
		{"spawn float64 timestamp, nil stop_timeout, nil options", spawnWith(f64(ts), nilv, nilv), SpawnMessage{
			Timestamp: secondsToTime(ts), TimestampSeconds: ts, UserClassesCount: testCounts,
			Host: "http://127.0.0.1:9", ParsedOptions: map[string]any{},
		}},
		{"spawn float32 timestamp", spawnWith(f32(1.5), nilv, mapv()), SpawnMessage{
			Timestamp: time.Unix(1, 5e8).UTC(), TimestampSeconds: 1.5, UserClassesCount: testCounts,
			Host: "http://127.0.0.1:9", ParsedOptions: map[string]any{},
		}},
		{"spawn int timestamp, int stop_timeout", spawnWith(u32(1795691000), posfix(5), mapv()), SpawnMessage{
			Timestamp: time.Unix(1795691000, 0).UTC(), TimestampSeconds: 1795691000, UserClassesCount: testCounts,
			Host: "http://127.0.0.1:9", StopTimeout: 5 * time.Second, ParsedOptions: map[string]any{},
		}},
		{"spawn float stop_timeout", spawnWith(f64(ts), f64(2.5), mapv()), SpawnMessage{
			Timestamp: secondsToTime(ts), TimestampSeconds: ts, UserClassesCount: testCounts,
			Host: "http://127.0.0.1:9", StopTimeout: 2500 * time.Millisecond, ParsedOptions: map[string]any{},
		}},
		{"spawn huge stop_timeout is clamped", spawnWith(f64(ts), f64(1e12), mapv()), SpawnMessage{
			Timestamp: secondsToTime(ts), TimestampSeconds: ts, UserClassesCount: testCounts,
			Host: "http://127.0.0.1:9", StopTimeout: maxStopTimeout, ParsedOptions: map[string]any{},
		}},
		{"spawn -inf stop_timeout is clamped", spawnWith(f64(ts), f64(math.Inf(-1)), mapv()), SpawnMessage{
			Timestamp: secondsToTime(ts), TimestampSeconds: ts, UserClassesCount: testCounts,
			Host: "http://127.0.0.1:9", StopTimeout: -maxStopTimeout, ParsedOptions: map[string]any{},
		}},
		{"spawn zero float stop_timeout", spawnWith(f64(ts), f64(0), mapv()), SpawnMessage{
			Timestamp: secondsToTime(ts), TimestampSeconds: ts, UserClassesCount: testCounts,
			Host: "http://127.0.0.1:9", ParsedOptions: map[string]any{},
		}},
		{"spawn options with nil, list, nested and every scalar", spawnWith(f64(ts), nilv, mapv(
			str("tags"), nilv,
			str("exclude_tags"), arr(str("slow"), str("admin")),
			str("user_classes"), arr(),
			str("headless"), fal,
			str("master"), tru,
			str("web_port"), u16(38089),
			str("autoquit"), negfix(-1),
			str("spawn_rate"), f64(5),
			str("big"), u64(math.MaxUint64),
			str("nested"), mapv(str("a"), arr(posfix(1), nilv), posfix(7), str("int key")),
		)), SpawnMessage{
			Timestamp: secondsToTime(ts), TimestampSeconds: ts, UserClassesCount: testCounts,
			Host: "http://127.0.0.1:9",
			ParsedOptions: map[string]any{
				"tags":         nil,
				"exclude_tags": []any{"slow", "admin"},
				"user_classes": []any{},
				"headless":     false,
				"master":       true,
				"web_port":     int64(38089),
				"autoquit":     int64(-1),
				"spawn_rate":   5.0,
				"big":          uint64(math.MaxUint64),
				"nested":       map[any]any{"a": []any{int64(1), nil}, int64(7): "int key"},
			},
		}},
		{"spawn nil host", spawnBody(str("timestamp"), f64(1), str("user_classes_count"), mapv(), str("host"), nilv), SpawnMessage{
			Timestamp: time.Unix(1, 0).UTC(), TimestampSeconds: 1, UserClassesCount: map[string]int64{}, ParsedOptions: map[string]any{},
		}},
		{"spawn map16 and map32 counts", spawnBody(str("timestamp"), f64(1), str("user_classes_count"), map16(str("A"), u8(200)), str("parsed_options"), map32(str("x"), posfix(1))), SpawnMessage{
			Timestamp: time.Unix(1, 0).UTC(), TimestampSeconds: 1, UserClassesCount: map[string]int64{"A": 200}, ParsedOptions: map[string]any{"x": int64(1)},
		}},

		// spawning_complete in both directions.
		{"spawning_complete from a worker", body("spawning_complete", mapv(str("user_classes_count"), mapv(str("WebUser"), posfix(3)), str("user_count"), posfix(3))),
			SpawningCompleteMessage{map[string]int64{"WebUser": 3}, 3}},
		{"spawning_complete from a master", body("spawning_complete", mapv(str("user_count"), posfix(5))), SpawningCompleteMessage{UserCount: 5}},

		// Payload-less messages ignore their data.
		{"stop", body("stop", nilv), StopMessage{}},
		{"stop with data", body("stop", mapv(str("reason"), str("x"))), StopMessage{}},
		{"quit", body("quit", nilv), QuitMessage{}},
		{"reconnect", body("reconnect", nilv), ReconnectMessage{}},
		{"spawning", body("spawning", nilv), SpawningMessage{}},
		{"client_stopped", body("client_stopped", nilv), ClientStoppedMessage{}},

		{"exception", body("exception", mapv(str("msg"), str("boom"), str("traceback"), str("  File x"))), ExceptionMessage{"boom", "  File x"}},
		{"logs", body("logs", mapv(str("worker_id"), str(testNode), str("logs"), arr(str("a"), str("b")))), LogsMessage{testNode, []string{"a", "b"}}},
		{"update_user_class", body("update_user_class", mapv(str("user_class_name"), str("WebUser"), str("host"), str("http://h"), str("tasks"), arr(str("t1")), str("weight"), posfix(2))),
			UpdateUserClassMessage{"WebUser", map[string]any{"host": "http://h", "tasks": []any{"t1"}, "weight": int64(2)}}},

		// Unknown types.
		{"unknown type -> custom", body("worker_hello", mapv(str("n"), posfix(1), str("f"), f64(1.5), str("s"), str("hi"), str("l"), arr(posfix(1), posfix(2)))),
			CustomMessage{"worker_hello", map[string]any{"n": int64(1), "f": 1.5, "s": "hi", "l": []any{int64(1), int64(2)}}}},
		{"custom with bin and nil", body("blob", arr(bin8("\x00\xff"), nilv)), CustomMessage{"blob", []any{[]byte{0, 0xff}, nil}}},
		{"custom scalar", body("n", posfix(1)), CustomMessage{"n", int64(1)}},
		{"custom float and bool keys", body("k", mapv(f64(1.5), str("x"), tru, str("y"), nilv, str("z"))),
			CustomMessage{"k", map[any]any{1.5: "x", true: "y", nil: "z"}}},
		{"locustfile request", body("locustfile", mapv(str("version"), str("2.46.3"))), CustomMessage{"locustfile", map[string]any{"version": "2.46.3"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Decode(tt.body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if env.NodeID != testNode {
				t.Errorf("NodeID = %q", env.NodeID)
			}
			if !reflect.DeepEqual(env.Message, tt.want) {
				t.Errorf("got  %#v\nwant %#v", env.Message, tt.want)
			}
		})
	}
}

func TestDecodeStatsFields(t *testing.T) {
	entry := mapv(
		str("name"), str("/api"),
		str("method"), nilv,
		str("last_request_timestamp"), f64(1795691001.8271003),
		str("start_time"), u32(1795691000), // an int where a float is expected
		str("num_requests"), posfix(3),
		str("num_none_requests"), f64(0), // an integral float where an int is expected
		str("num_failures"), posfix(1),
		str("total_response_time"), u16(1307),
		str("max_response_time"), u16(1050),
		str("min_response_time"), f64(0.4),
		str("total_content_length"), posfix(84),
		str("response_times"), mapv(posfix(7), posfix(1), f64(250), posfix(1), u16(1000), posfix(1)),
		str("num_reqs_per_sec"), mapv(u32(1795691000), posfix(2)),
		str("num_fail_per_sec"), mapv(),
	)
	total := mapv(str("name"), str("Aggregated"), str("method"), str(""), str("last_request_timestamp"), nilv, str("min_response_time"), nilv)
	b := body("stats", mapv(
		str("stats"), arr(entry),
		str("stats_total"), total,
		str("errors"), mapv(str("k1"), mapv(str("name"), str("/api"), str("method"), str("POST"), str("error"), str("E"), str("occurrences"), posfix(1), str("first_seen"), f64(5), str("last_seen"), f64(6))),
		str("user_classes_count"), mapv(str("WebUser"), posfix(0)),
		str("user_count"), posfix(0),
	))
	env, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := StatsMessage{
		Stats: []StatsEntry{{
			Name: "/api", Method: "", LastRequestTimestamp: ptr(1795691001.8271003), StartTime: 1795691000,
			NumRequests: 3, NumFailures: 1, TotalResponseTime: 1307, MaxResponseTime: 1050,
			MinResponseTime: ptr(0.4), TotalContentLength: 84,
			ResponseTimes: map[int64]int64{7: 1, 250: 1, 1000: 1},
			NumReqsPerSec: map[int64]int64{1795691000: 2}, NumFailPerSec: map[int64]int64{},
		}},
		Total:            StatsEntry{Name: "Aggregated"},
		Errors:           map[string]StatsError{"k1": {"/api", "POST", "E", 1, ptr(5.0), ptr(6.0)}},
		UserClassesCount: map[string]int64{"WebUser": 0},
	}
	if !reflect.DeepEqual(env.Message, want) {
		t.Errorf("got  %#v\nwant %#v", env.Message, want)
	}
}

func TestDecodeErrors(t *testing.T) {
	hb := heartbeatWithMemory(posfix(1))
	tests := []struct {
		name      string
		body      []byte
		wantType  string // DecodeError.MessageType
		wantField string // DecodeError.Field
		wantErr   string // substring of the cause
		wantIs    error  // optional errors.Is target
	}{
		{"empty body", nil, "", "", "body", io.ErrUnexpectedEOF},
		{"not an array (map)", mapv(str("a"), posfix(1)), "", "", "expected array, got map", nil},
		{"not an array (str)", str("heartbeat"), "", "", "expected array, got str", nil},
		{"not an array (nil)", nilv, "", "", "expected array, got nil", nil},
		{"2-element array", arr(str("quit"), nilv), "", "", "array of 2 elements, want 3", nil},
		{"4-element array", arr(str("quit"), nilv, str(testNode), nilv), "", "", "array of 4 elements, want 3", nil},
		{"array16 header of 3 is fine but 2 is not", arr16(str("quit"), nilv), "", "", "array of 2 elements", nil},
		{"bin type string", arr(bin8("heartbeat"), nilv, str(testNode)), "", "type", "expected str, got bin", nil},
		{"int type", arr(posfix(1), nilv, str(testNode)), "", "type", "expected str, got int", nil},
		{"empty type", arr(str(""), nilv, str(testNode)), "", "type", "empty", nil},
		{"invalid UTF-8 type", arr(fixstr("a\xff"), nilv, str(testNode)), "", "type", "UTF-8", nil},
		{"bin node_id", arr(str("quit"), nilv, bin8(testNode)), "quit", "node_id", "expected str, got bin", nil},
		{"nil node_id", arr(str("quit"), nilv, nilv), "quit", "node_id", "expected str, got nil", nil},
		{"empty node_id", arr(str("quit"), nilv, str("")), "quit", "node_id", "empty", nil},
		{"node_id starting with NUL", arr(str("quit"), nilv, str("\x00abc")), "quit", "node_id", "NUL", nil},
		{"node_id too long", arr(str("quit"), nilv, str16(strings.Repeat("a", 256))), "quit", "node_id", "limit is 255", nil},
		{"truncated in node_id", hb[:len(hb)-3], "heartbeat", "node_id", "", io.ErrUnexpectedEOF},
		{"truncated in data", hb[:12], "heartbeat", "data", "", io.ErrUnexpectedEOF},
		{"trailing bytes", append(append([]byte{}, hb...), 0xc0, 0xc0), "heartbeat", "", "2 trailing bytes", nil},
		{"reserved byte 0xc1", body("x", []byte{0xc1}), "x", "data", "0xc1", nil},
		{"array32 claiming 4G elements", cat([]byte{mpArray32, 0xff, 0xff, 0xff, 0xff}), "", "", "body", io.ErrUnexpectedEOF},
		{"map32 claiming 4G entries in data", body("x", []byte{mpMap32, 0xff, 0xff, 0xff, 0xff}), "x", "data", "", io.ErrUnexpectedEOF},
		{"str32 claiming 4 GB", arr(str("x"), []byte{mpStr32, 0xff, 0xff, 0xff, 0xff}, str(testNode)), "x", "data", "", io.ErrUnexpectedEOF},
		{"too deep", body("x", cat([]byte(strings.Repeat("\x91", 300)), nilv)), "x", "data", "nesting", nil},
		{"invalid UTF-8 in data", body("x", fixstr("\xc3\x28")), "x", "data", "UTF-8", nil},

		// Wrong field types name the field.
		{"client_ready int 2", body("client_ready", posfix(2)), "client_ready", "data", "expected str or -1, got number 2", nil},
		{"client_ready bool", body("client_ready", tru), "client_ready", "data", "expected str or -1, got bool", nil},
		{"client_ready nil", body("client_ready", nilv), "client_ready", "data", "expected str or -1, got nil", nil},
		{"heartbeat array data", body("heartbeat", arr()), "heartbeat", "data", "expected map, got array", nil},
		{"heartbeat state bin", body("heartbeat", mapv(str("state"), bin8("ready"), str("current_cpu_usage"), f64(0))), "heartbeat", "state", "expected str, got bin", nil},
		{"heartbeat missing state", body("heartbeat", mapv(str("current_cpu_usage"), f64(0))), "heartbeat", "state", "missing", nil},
		{"heartbeat missing cpu", body("heartbeat", mapv(str("state"), str("ready"))), "heartbeat", "current_cpu_usage", "missing", nil},
		{"heartbeat cpu str", body("heartbeat", mapv(str("state"), str("ready"), str("current_cpu_usage"), str("1"))), "heartbeat", "current_cpu_usage", "expected number, got str", nil},
		{"heartbeat memory fraction", heartbeatWithMemory(f64(1.5)), "heartbeat", "current_memory_usage", "non-integral float 1.5", nil},
		{"heartbeat memory uint64 overflow", heartbeatWithMemory(u64(math.MaxUint64)), "heartbeat", "current_memory_usage", "overflows int64", nil},
		{"heartbeat memory float overflow", heartbeatWithMemory(f64(1e19)), "heartbeat", "current_memory_usage", "non-integral", nil},
		{"spawn timestamp str", spawnWith(str("now"), nilv, nilv), "spawn", "timestamp", "expected number, got str", nil},
		{"spawn timestamp nil", spawnWith(nilv, nilv, nilv), "spawn", "timestamp", "expected number, got nil", nil},
		{"spawn missing timestamp", spawnBody(str("user_classes_count"), mapv()), "spawn", "timestamp", "missing", nil},
		{"spawn missing user_classes_count", spawnBody(str("timestamp"), f64(1)), "spawn", "user_classes_count", "missing", nil},
		{"spawn stop_timeout str", spawnWith(f64(1), str("5"), nilv), "spawn", "stop_timeout", "expected number or nil, got str", nil},
		{"spawn stop_timeout NaN", spawnWith(f64(1), f64(math.NaN()), nilv), "spawn", "stop_timeout", "NaN", nil},
		{"spawn host int", spawnBody(str("timestamp"), f64(1), str("user_classes_count"), mapv(), str("host"), posfix(1)), "spawn", "host", "expected str or nil, got int", nil},
		{"spawn counts value str", spawnBody(str("timestamp"), f64(1), str("user_classes_count"), mapv(str("WebUser"), str("3"))), "spawn", "user_classes_count.WebUser", "expected int, got str", nil},
		{"spawn counts key int", spawnBody(str("timestamp"), f64(1), str("user_classes_count"), mapv(posfix(1), posfix(3))), "spawn", "user_classes_count", "map key: expected str, got int", nil},
		{"spawn options list", spawnWith(f64(1), nilv, arr()), "spawn", "parsed_options", "expected map or nil, got array", nil},
		{"spawn options int key", spawnWith(f64(1), nilv, mapv(posfix(1), nilv)), "spawn", "parsed_options", "keys must all be str", nil},
		{"spawn options ext value", spawnWith(f64(1), nilv, mapv(str("t"), []byte{0xd4, 0x01, 0x00})), "spawn", "parsed_options.t", "ext", nil},
		{"spawn options datetime map", spawnWith(f64(1), nilv, mapv(str("t"), mapv(str("__datetime__"), tru, str("as_str"), str("x")))), "spawn", "parsed_options.t", "reserved", nil},
		{"ack index str", body("ack", mapv(str("index"), str("0"))), "ack", "index", "expected int, got str", nil},
		{"ack data list", body("ack", arr()), "ack", "data", "expected map, got array", nil},
		{"stats entry count str", body("stats", mapv(str("stats"), arr(mapv(), mapv(str("num_requests"), str("3"))))), "stats", "stats[1].num_requests", "expected int, got str", nil},
		{"stats histogram key str", body("stats", mapv(str("stats_total"), mapv(str("response_times"), mapv(str("10"), posfix(1))))), "stats", "stats_total.response_times", "map key: expected int, got str", nil},
		{"stats histogram key fraction", body("stats", mapv(str("stats_total"), mapv(str("response_times"), mapv(f64(150.5), posfix(1))))), "stats", "stats_total.response_times", "non-integral float 150.5", nil},
		{"stats histogram value float", body("stats", mapv(str("stats_total"), mapv(str("num_reqs_per_sec"), mapv(posfix(5), f64(0.5))))), "stats", "stats_total.num_reqs_per_sec.5", "non-integral", nil},
		{"stats nil stats", body("stats", mapv(str("stats"), nilv)), "stats", "stats", "expected array, got nil", nil},
		{"stats nil errors", body("stats", mapv(str("errors"), nilv)), "stats", "errors", "expected map, got nil", nil},
		{"stats error occurrences nil", body("stats", mapv(str("errors"), mapv(str("k"), mapv(str("occurrences"), nilv)))), "stats", "errors.k.occurrences", "expected int, got nil", nil},
		{"stats reserved user class", body("stats", mapv(str("user_classes_count"), mapv(str("__ObjectId__"), posfix(1)))), "stats", "user_classes_count", "reserved", nil},
		{"spawning_complete missing user_count", body("spawning_complete", mapv(str("user_classes_count"), mapv())), "spawning_complete", "user_count", "missing", nil},
		{"exception msg int", body("exception", mapv(str("msg"), posfix(1), str("traceback"), str(""))), "exception", "msg", "expected str, got int", nil},
		{"exception missing traceback", body("exception", mapv(str("msg"), str("x"))), "exception", "traceback", "missing", nil},
		{"logs line int", body("logs", mapv(str("worker_id"), str("w"), str("logs"), arr(str("a"), posfix(1)))), "logs", "logs[1]", "expected str, got int", nil},
		{"update_user_class missing name", body("update_user_class", mapv(str("host"), str("x"))), "update_user_class", "user_class_name", "missing", nil},
		{"custom with datetime map", body("master_hello", mapv(str("when"), mapv(str("__datetime__"), tru, str("as_str"), str("20260101T00:00:00.000000")))), "master_hello", "when", "reserved", nil},
		{"custom with array key", body("x", mapv(arr(), posfix(1))), "x", "data", "map key", nil},
		{"custom with bin key", body("x", mapv(bin8("k"), posfix(1))), "x", "data", "map key", nil},
		{"custom with ext", body("x", []byte{0xd4, 0x01, 0x00}), "x", "data", "ext types are not supported", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Decode(tt.body)
			if err == nil {
				t.Fatalf("Decode succeeded: %#v", env)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			if de.MessageType != tt.wantType || de.Field != tt.wantField {
				t.Errorf("MessageType, Field = %q, %q; want %q, %q (%v)", de.MessageType, de.Field, tt.wantType, tt.wantField, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v is not %v", err, tt.wantIs)
			}
			if tt.wantField != "" && !strings.Contains(err.Error(), `field "`+tt.wantField+`"`) {
				t.Errorf("error %q does not name field %q", err, tt.wantField)
			}
		})
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	_, err := Decode(spawnWith(str("now"), nilv, nilv))
	const want = `protocol: spawn: field "timestamp": expected number, got str`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	_, err = Decode(arr(str("quit"), nilv))
	const want2 = `protocol: envelope: body is an array of 2 elements, want 3`
	if err == nil || err.Error() != want2 {
		t.Errorf("error = %v, want %s", err, want2)
	}
}

// TestDecodeTruncations feeds every proper prefix of real messages: all
// must fail with a *DecodeError, none may panic.
func TestDecodeTruncations(t *testing.T) {
	for _, c := range loadCaptures(t) {
		if c.typ != TypeStats && c.typ != TypeSpawn && c.typ != "master_hello" {
			continue
		}
		for n := 0; n < len(c.body); n++ {
			_, err := Decode(c.body[:n])
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("%s[:%d]: error %v is not a *DecodeError", c.path, n, err)
			}
		}
	}
}

func TestSpawnAfter(t *testing.T) {
	const a, b = 1795691000.7652893, 1795691000.7652895 // adjacent-ish floats
	older := SpawnMessage{TimestampSeconds: a}
	newer := SpawnMessage{TimestampSeconds: b}
	tests := []struct {
		name      string
		cur, prev SpawnMessage
		want      bool
	}{
		{"newer", newer, older, true},
		{"older", older, newer, false},
		{"equal", older, older, false},
		{"first spawn after the zero value", older, SpawnMessage{}, true},
		{"zero timestamp after zero value", SpawnMessage{}, SpawnMessage{}, false},
		{"NaN is never discarded, like Python", SpawnMessage{TimestampSeconds: math.NaN()}, older, true},
		{"from time.Time only", SpawnMessage{Timestamp: time.Unix(1795691001, 0)}, older, true},
	}
	for _, tt := range tests {
		if got := tt.cur.After(tt.prev); got != tt.want {
			t.Errorf("%s: After = %v, want %v", tt.name, got, tt.want)
		}
	}
	if a == b {
		t.Fatal("test floats are equal")
	}
}

// TestSpawnTimestampExact checks that the wire float survives decode and
// encode bit for bit, whatever time.Time can represent.
func TestSpawnTimestampExact(t *testing.T) {
	for _, ts := range []float64{1795691000.7652893, 1795691030.0828145, 0.1, 1e-9, 123456789.123456789, math.Nextafter(1795691000, 2e9), math.Copysign(0, -1)} {
		env, err := Decode(spawnWith(f64(ts), nilv, nilv))
		if err != nil {
			t.Fatal(err)
		}
		m := env.Message.(SpawnMessage)
		if math.Float64bits(m.Seconds()) != math.Float64bits(ts) {
			t.Errorf("Seconds() = %v, want %v", m.Seconds(), ts)
		}
		re, err := Encode(env.NodeID, m)
		if err != nil {
			t.Fatal(err)
		}
		env2, _ := Decode(re)
		if got := env2.Message.(SpawnMessage).TimestampSeconds; math.Float64bits(got) != math.Float64bits(ts) {
			t.Errorf("re-encoded timestamp = %v, want %v", got, ts)
		}
		if ts > 1 && math.Abs(float64(m.Timestamp.UnixNano())/1e9-ts) > 1e-6 {
			t.Errorf("Timestamp %v is far from %v", m.Timestamp, ts)
		}
	}
}

// TestStopTimeoutRoundTrip checks that every duration in range survives
// Encode and Decode exactly, so re-encoding is a fixed point.
func TestStopTimeoutRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []time.Duration{0, 1, -1, time.Millisecond, 1500 * time.Millisecond, maxStopTimeout, -maxStopTimeout, maxStopTimeout - 1}
	for range 20000 {
		values = append(values, time.Duration(rng.Int64N(int64(2*maxStopTimeout)+1))-maxStopTimeout)
	}
	for _, d := range values {
		b, err := Encode(testNode, SpawnMessage{TimestampSeconds: 1, StopTimeout: d})
		if err != nil {
			t.Fatal(err)
		}
		env, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := env.Message.(SpawnMessage).StopTimeout; got != d {
			t.Fatalf("StopTimeout %d came back as %d", d, got)
		}
	}
}

// arr32Of builds an array32 of n copies of elem.
func arr32Of(n int, elem []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{mpArray32}, uint32(n)), bytes.Repeat(elem, n)...)
}

// map32Of builds a map32 of n entries, the i-th from kv(i).
func map32Of(n int, kv func(i int) []byte) []byte {
	b := binary.BigEndian.AppendUint32([]byte{mpMap32}, uint32(n))
	for i := range n {
		b = append(b, kv(i)...)
	}
	return b
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecodeCostBomb decodes bodies that are small on the wire and huge
// in memory: 16 MiB of empty maps in parsed_options (which cost about
// 1 GiB and 6.6 s before the limit), a map header claiming millions of
// entries, an array of nils in a custom message. Each fails before
// decoding anything, with an error naming the field.
func TestDecodeCostBomb(t *testing.T) {
	const size = 16 << 20
	tests := []struct {
		name      string
		body      []byte
		wantField string
	}{
		{"empty maps in parsed_options", spawnWith(f64(1), nilv, mapv(str("bomb"), arr32Of(size-64, []byte{0x80}))), "parsed_options.bomb["},
		{"map entries of nils", spawnWith(f64(1), nilv, mapv(str("m"), map32Of(size/8, func(int) []byte { return []byte{mpNil, mpNil} }))), "parsed_options.m"},
		{"nils in a custom message", body("greeting", mapv(str("list"), arr32Of(size/4, nilv))), "list["},
		{"empty arrays under a long key", body("greeting", mapv(str(strings.Repeat("k", 100)), arr32Of(size/4, []byte{0x90}))), strings.Repeat("k", 64) + "...["},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			alloc := allocated(func() { _, err = Decode(tt.body) })
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, errTooCostly) {
				t.Fatalf("Decode: %v, want a *DecodeError for errTooCostly", err)
			}
			if !strings.HasPrefix(de.Field, tt.wantField) {
				t.Errorf("field %q, want it to start with %q (error %v)", de.Field, tt.wantField, err)
			}
			if alloc > 64<<10 {
				t.Errorf("decoding a %d MiB bomb allocated %d bytes, want under 64 KiB", len(tt.body)>>20, alloc)
			}
			t.Logf("%v; %d bytes allocated", err, alloc)
		})
	}
}

// TestDecodeCostCoversAllocations decodes messages of each shape of value
// and checks that what skip charged covers what decoding allocated beyond
// the body's size: the limit bounds memory only if it does.
//
// The race detector's allocator rounds small objects up (no tiny
// allocator), so the sizes hold only without it.
func TestDecodeCostCoversAllocations(t *testing.T) {
	if raceEnabled() {
		t.Skip("the race detector's allocator takes more for small objects")
	}
	const n = 20000
	keyed := func(i int) []byte { return str(fmt.Sprintf("k%d", i)) }
	shapes := []struct {
		name string
		body []byte
	}{
		{"empty maps", body("c", arr32Of(n, []byte{0x80}))},
		{"empty arrays", body("c", arr32Of(n, []byte{0x90}))},
		{"nils", body("c", arr32Of(n, nilv))},
		{"floats", body("c", arr32Of(n, f64(1.5)))},
		{"big ints", body("c", arr32Of(n, u32(1<<30)))},
		{"short strings", body("c", arr32Of(n, str("ab")))},
		{"small dicts", body("c", arr32Of(n, mapv(str("user"), str("u1"), str("pass"), str("p1"))))},
		{"nil-keyed maps", body("c", arr32Of(n, mapv(nilv, nilv)))},
		{"one big map", body("c", map32Of(n, func(i int) []byte { return cat(keyed(i), posfix(1)) }))},
		{"int-keyed map", body("c", map32Of(n, func(i int) []byte { return cat(u32(uint32(i)), f64(1)) }))},
		{"parsed_options", spawnWith(f64(1), nilv, map32Of(n, func(i int) []byte { return cat(keyed(i), mapv()) }))},
		{"user_classes_count", spawnBody(str("timestamp"), f64(1), str("user_classes_count"), map32Of(n, func(i int) []byte { return cat(keyed(i), posfix(1)) }))},
		{"mixed-key map", body("c", map32Of(n, func(i int) []byte {
			if i == 0 {
				return cat(str("a"), nilv)
			}
			return cat(nilv, nilv)
		}))},
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			r := reader{b: s.body}
			if _, err := r.readArrayLen(); err != nil {
				t.Fatal(err)
			}
			if _, err := r.readStr(); err != nil {
				t.Fatal(err)
			}
			if err := r.skip(0); err != nil {
				t.Fatal(err)
			}
			var env Envelope
			var err error
			alloc := allocated(func() { env, err = Decode(s.body) })
			if err != nil {
				t.Fatal(err)
			}
			runtime.KeepAlive(env)
			if limit := uint64(r.cost + len(s.body)); alloc > limit {
				t.Errorf("decoding allocated %d bytes; the cost charged (%d) and the body (%d) cover only %d", alloc, r.cost, len(s.body), limit)
			}
			t.Logf("body %d B, cost %d, allocated %d", len(s.body), r.cost, alloc)
		})
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}
