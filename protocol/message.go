package protocol

import (
	"errors"
	"fmt"
	"reflect"
	"unicode/utf8"
)

// Message is one Locust message body's payload; Type returns the wire type
// string.
//
// Every message type of this package implements Message with a value
// receiver. Decode returns values (never pointers); Encode accepts values
// and non-nil pointers.
type Message interface {
	Type() string
}

// Wire type strings of the messages this package knows.
const (
	// TypeClientReady is the wire type of ClientReadyMessage.
	TypeClientReady = "client_ready"
	// TypeHeartbeat is the wire type of HeartbeatMessage (worker to master)
	// and of MasterHeartbeatMessage (master to worker).
	TypeHeartbeat = "heartbeat"
	// TypeStats is the wire type of StatsMessage.
	TypeStats = "stats"
	// TypeSpawning is the wire type of SpawningMessage.
	TypeSpawning = "spawning"
	// TypeSpawningComplete is the wire type of SpawningCompleteMessage.
	TypeSpawningComplete = "spawning_complete"
	// TypeClientStopped is the wire type of ClientStoppedMessage.
	TypeClientStopped = "client_stopped"
	// TypeQuit is the wire type of QuitMessage.
	TypeQuit = "quit"
	// TypeException is the wire type of ExceptionMessage.
	TypeException = "exception"
	// TypeLogs is the wire type of LogsMessage.
	TypeLogs = "logs"
	// TypeAck is the wire type of AckMessage.
	TypeAck = "ack"
	// TypeSpawn is the wire type of SpawnMessage.
	TypeSpawn = "spawn"
	// TypeStop is the wire type of StopMessage.
	TypeStop = "stop"
	// TypeReconnect is the wire type of ReconnectMessage.
	TypeReconnect = "reconnect"
	// TypeUpdateUserClass is the wire type of UpdateUserClassMessage.
	TypeUpdateUserClass = "update_user_class"
)

// payload is implemented by every message type of this package.
type payload interface {
	Message
	appendData(w *writer) error
}

// Envelope is a decoded message body.
type Envelope struct {
	// Message is the typed payload; its dynamic type is one of this
	// package's message types (a value, not a pointer).
	Message Message
	// NodeID is the body's node_id: always the worker's id, in both
	// directions.
	NodeID string
}

// MaxNodeIDLen is the longest node id (and ZMQ identity) accepted, in bytes.
const MaxNodeIDLen = 255

// validateNodeID checks the rules shared by the body's node_id and the ZMQ
// routing id: 1..255 bytes of valid UTF-8, not starting with a NUL byte.
func validateNodeID(id string) error {
	switch {
	case id == "":
		return errors.New("node id is empty")
	case len(id) > MaxNodeIDLen:
		return fmt.Errorf("node id is %d bytes long, the limit is %d", len(id), MaxNodeIDLen)
	case id[0] == 0:
		return errors.New("node id starts with a NUL byte")
	case !utf8.ValidString(id):
		return errors.New("node id is not valid UTF-8")
	}
	return nil
}

// Encode returns the msgpack body [type, data, node_id] for m, encoded the
// way Locust's Python side does (str for strings, smallest ints, float64
// floats, no ext types) and following the rules that keep masters alive:
// nil maps and slices are written empty, histogram and per-second keys are
// ints, and no map carries the keys "__datetime__" or "__ObjectId__".
// Strings that are not valid UTF-8 are written with the bad bytes replaced by
// U+FFFD, since Python rejects the whole message otherwise. Maps are written
// with sorted keys, so the output is deterministic.
func Encode(nodeID string, m Message) ([]byte, error) {
	if m == nil {
		return nil, errors.New("protocol: encode: nil message")
	}
	if rv := reflect.ValueOf(m); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return nil, fmt.Errorf("protocol: encode: nil %T", m)
	}
	p, ok := m.(payload)
	if !ok {
		return nil, fmt.Errorf("protocol: encode: unsupported message type %T", m)
	}
	typ := m.Type()
	if typ == "" || !utf8.ValidString(typ) {
		return nil, fmt.Errorf("protocol: encode: invalid message type %q", typ)
	}
	if err := validateNodeID(nodeID); err != nil {
		return nil, fmt.Errorf("protocol: encode %s: %w", typ, err)
	}
	w := writer{b: make([]byte, 0, 128+len(nodeID))}
	w.b = append(w.b, 0x93) // fixarray of 3
	w.writeStr(typ)
	if err := p.appendData(&w); err != nil {
		if path, cause := splitPath(err); path != "" {
			return nil, fmt.Errorf("protocol: encode %s: field %q: %w", typ, path, cause)
		}
		return nil, fmt.Errorf("protocol: encode %s: %w", typ, err)
	}
	w.writeStr(nodeID)
	return w.b, nil
}

// Decode parses one message body. It accepts exactly a 3-element msgpack
// array [type: str, data, node_id: str] with nothing after it, and decodes
// data according to type: the types listed as Type* constants give their
// typed messages ("heartbeat" gives MasterHeartbeatMessage when data is nil
// and HeartbeatMessage when it is a map), any other type gives a
// CustomMessage. Messages whose payload is always nil (spawning, stop, quit,
// client_stopped, reconnect) ignore whatever data they carry.
//
// Decode never panics; every failure is a *DecodeError naming the message
// type and the field. Nor does it allocate much more than the body: a
// message whose values would take more than 32 MiB to decode is refused,
// before any is decoded, with an error naming the field where the sum
// passed the limit.
func Decode(body []byte) (Envelope, error) {
	r := reader{b: body}
	n, err := r.readArrayLen()
	if err != nil {
		return Envelope{}, &DecodeError{Err: fmt.Errorf("body: %w", err)}
	}
	if n != 3 {
		return Envelope{}, &DecodeError{Err: fmt.Errorf("body is an array of %d elements, want 3", n)}
	}
	typ, err := r.readStr()
	if err != nil {
		return Envelope{}, &DecodeError{Field: "type", Err: err}
	}
	if typ == "" {
		return Envelope{}, &DecodeError{Field: "type", Err: errors.New("message type is empty")}
	}
	start := r.off
	if err := r.skip(0); err != nil { // checks the cost of decoding data, too
		field := "data"
		if isCostError(err) {
			if path, cause := splitPath(err); path != "" {
				field, err = path, cause
			}
		}
		return Envelope{}, &DecodeError{MessageType: typ, Field: field, Err: err}
	}
	data := body[start:r.off]
	nodeID, err := r.readStr()
	if err == nil {
		err = validateNodeID(nodeID)
	}
	if err != nil {
		return Envelope{}, &DecodeError{MessageType: typ, Field: "node_id", Err: err}
	}
	if rest := r.remaining(); rest > 0 {
		return Envelope{}, &DecodeError{MessageType: typ, Err: fmt.Errorf("%d trailing bytes after the message", rest)}
	}
	msg, err := decodePayload(typ, &reader{b: data})
	if err != nil {
		path, cause := splitPath(err)
		if path == "" {
			path = "data"
		}
		return Envelope{}, &DecodeError{MessageType: typ, Field: path, Err: cause}
	}
	return Envelope{Message: msg, NodeID: nodeID}, nil
}

// decodePayload decodes data (one complete, already validated msgpack
// value) for the given message type.
func decodePayload(typ string, r *reader) (Message, error) {
	if decode := decoderFor(typ); decode != nil {
		return decode(r)
	}
	return decodeCustom(typ, r)
}

// decoderFor returns the decoder of a typed message, or nil when Decode
// maps typ to CustomMessage.
func decoderFor(typ string) func(*reader) (Message, error) {
	switch typ {
	case TypeClientReady:
		return asMessage(decodeClientReady)
	case TypeHeartbeat:
		return func(r *reader) (Message, error) {
			if r.isNil() {
				return MasterHeartbeatMessage{}, nil
			}
			return decodeHeartbeat(r)
		}
	case TypeStats:
		return asMessage(decodeStats)
	case TypeSpawning:
		return empty(SpawningMessage{})
	case TypeSpawningComplete:
		return asMessage(decodeSpawningComplete)
	case TypeClientStopped:
		return empty(ClientStoppedMessage{})
	case TypeQuit:
		return empty(QuitMessage{})
	case TypeException:
		return asMessage(decodeException)
	case TypeLogs:
		return asMessage(decodeLogs)
	case TypeAck:
		return asMessage(decodeAck)
	case TypeSpawn:
		return asMessage(decodeSpawn)
	case TypeStop:
		return empty(StopMessage{})
	case TypeReconnect:
		return empty(ReconnectMessage{})
	case TypeUpdateUserClass:
		return asMessage(decodeUpdateUserClass)
	}
	return nil
}

// asMessage adapts a decoder of one message type to decoderFor's type.
func asMessage[M Message](decode func(*reader) (M, error)) func(*reader) (Message, error) {
	return func(r *reader) (Message, error) { return decode(r) }
}

// empty is the decoder of a message without a payload.
func empty(m Message) func(*reader) (Message, error) {
	return func(*reader) (Message, error) { return m, nil }
}

// isTypedMessageType reports whether Decode maps typ to a typed message
// rather than to CustomMessage.
func isTypedMessageType(typ string) bool { return decoderFor(typ) != nil }

// missing reports a required payload key that is absent.
func missing(field string) error {
	return fieldErr(field, errors.New("missing"))
}
