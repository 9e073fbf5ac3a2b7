package protocol

import "fmt"

// CustomMessage is any message type this package has no typed message for,
// in either direction: messages sent with Locust's
// runner.send_message(type, data), the locustfile request and reply, and
// types added by future Locust versions. Decode returns a CustomMessage for
// every unknown type.
//
// Data decodes to generic values: nil, bool, int64 (uint64 above
// math.MaxInt64), float64, string (msgpack str), []byte (msgpack bin),
// []any, map[string]any when every key is a str and map[any]any otherwise.
// Encode accepts those and, more generally, any Go value made of scalars,
// slices, arrays, maps with scalar keys, pointers and structs (encoded with
// their codec or json tags); map keys are written as str when they are
// strings.
type CustomMessage struct {
	// MessageType is the wire type string. Encode refuses the types that
	// have a typed message in this package.
	MessageType string
	// Data is the payload. Encode refuses maps holding the keys
	// "__datetime__" or "__ObjectId__" (Locust's decode hooks would turn
	// them into objects, or crash the master's receive loop), msgpack ext
	// values and non-scalar map keys; Decode refuses them too.
	Data any
}

// Type returns m.MessageType.
func (m CustomMessage) Type() string { return m.MessageType }

func (m CustomMessage) appendData(w *writer) error {
	if isTypedMessageType(m.MessageType) {
		return fmt.Errorf("message type %q has a typed message in this package; use it instead of CustomMessage", m.MessageType)
	}
	return w.writeAny(m.Data, 0)
}

func decodeCustom(typ string, r *reader) (Message, error) {
	v, err := r.readAny(0)
	if err != nil {
		return nil, err
	}
	return CustomMessage{MessageType: typ, Data: v}, nil
}
