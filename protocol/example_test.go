package protocol_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/golocust/golocust/protocol"
)

func ExampleEncode() {
	const nodeID = "vm_36e712c0174c483684bbd7e1661b24b1"
	body, err := protocol.Encode(nodeID, protocol.HeartbeatMessage{
		State:       "running",
		CPUUsage:    12.5,
		MemoryUsage: 56229888,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("% x\n", body[:11])
	fmt.Println(len(body), "bytes")
	// Output:
	// 93 a9 68 65 61 72 74 62 65 61 74
	// 116 bytes
}

func ExampleDecode() {
	// A master's spawn message, as Locust 2.12 sends it (abridged).
	body := []byte("\x93\xa5spawn\x85" +
		"\xa9timestamp\xcb\x41\xda\xc2\x04\x7e\x30\xfa\x80" +
		"\xb2user_classes_count\x82\xa7ApiUser\x02\xa7WebUser\x03" +
		"\xa4host\xb2http://127.0.0.1:9" +
		"\xacstop_timeout\xc0" +
		"\xaeparsed_options\x81\xa4tags\xc0" +
		"\xa2vm")
	env, err := protocol.Decode(body)
	if err != nil {
		log.Fatal(err)
	}
	switch m := env.Message.(type) {
	case protocol.SpawnMessage:
		fmt.Println("spawn for", env.NodeID)
		fmt.Println("timestamp:", m.Timestamp.Format("2006-01-02T15:04:05.000000Z07:00"))
		fmt.Println("users:", m.UserClassesCount)
		fmt.Println("host:", m.Host, "stop timeout:", m.StopTimeout)
		fmt.Println("newer than nothing:", m.After(protocol.SpawnMessage{}))
	default:
		fmt.Printf("other message %T\n", m)
	}

	// Malformed bodies give a *DecodeError naming the message and field.
	_, err = protocol.Decode([]byte("\x93\xa5spawn\x81\xa9timestamp\xa3now\xa2vm"))
	var de *protocol.DecodeError
	if errors.As(err, &de) {
		fmt.Println(de.MessageType, de.Field)
	}
	fmt.Println(err)
	// Output:
	// spawn for vm
	// timestamp: 2026-11-26T11:03:20.765289Z
	// users: map[ApiUser:2 WebUser:3]
	// host: http://127.0.0.1:9 stop timeout: 0s
	// newer than nothing: true
	// spawn timestamp
	// protocol: spawn: field "timestamp": expected number, got str
}

func ExampleSpawnMessage_After() {
	var last protocol.SpawnMessage // the zero value: nothing applied yet
	for _, ts := range []float64{100.5, 100.25, 100.5, 101} {
		m := protocol.SpawnMessage{TimestampSeconds: ts}
		if !m.After(last) {
			fmt.Println(ts, "stale, discarded")
			continue
		}
		fmt.Println(ts, "applied")
		last = m
	}
	// Output:
	// 100.5 applied
	// 100.25 stale, discarded
	// 100.5 stale, discarded
	// 101 applied
}

func ExampleCustomMessage() {
	body, err := protocol.Encode("vm_1", protocol.CustomMessage{
		MessageType: "worker_hello",
		Data:        map[string]any{"n": 1, "l": []int{1, 2}},
	})
	if err != nil {
		log.Fatal(err)
	}
	env, err := protocol.Decode(body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %v\n", env.Message.Type(), env.Message.(protocol.CustomMessage).Data)

	// Maps that Locust's decode hooks would turn into objects are refused.
	_, err = protocol.Encode("vm_1", protocol.CustomMessage{
		MessageType: "worker_hello",
		Data:        map[string]any{"__datetime__": true},
	})
	fmt.Println(err)
	// Output:
	// worker_hello map[l:[1 2] n:1]
	// protocol: encode worker_hello: map key "__datetime__" is reserved by Locust's msgpack hooks
}
