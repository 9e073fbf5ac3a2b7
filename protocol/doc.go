// Package protocol speaks the wire protocol between a Locust master and its
// workers, so that Go workers can join an unmodified Python Locust master
// (versions 2.12.1 to 2.46.x).
//
// A message body is a msgpack array [type, data, node_id]. Encode and
// Decode convert between bodies and typed messages, one Go type per message
// type (SpawnMessage, HeartbeatMessage, StatsMessage, ...), with
// CustomMessage for every other type. Encoding follows the rules that keep
// masters alive: strings as msgpack str, never nil maps or lists, int keys
// in histograms, float64 floats, no maps with the keys Locust's decode hooks
// intercept. Decoding accepts everything the supported masters send (every
// int width, ints where floats are expected, nil where Locust allows it,
// Locust 2.12's float histogram keys) and rejects the rest with a
// *DecodeError that names the message type and the field.
//
// Conn is the transport: a supervised connection to the master that
// carries whole bodies. DialZMQ implements it with a pure-Go ZeroMQ DEALER
// socket; it reconnects by itself and reports Connected and Disconnected
// events, on which the worker re-registers with ClientReadyMessage.
//
// The protocol as golocust speaks it, message by message, is described in
// docs/protocol.md at the root of the repository (§2 encoding, §3 messages,
// §7 what a worker must never send); testdata/captures holds real traffic
// between Python masters and workers, which the tests decode and re-encode.
package protocol
