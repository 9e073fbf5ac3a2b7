package protocol

import "fmt"

// ClientReadyMessage is sent by a worker to register with the master
// ("client_ready"), right after connecting and again after every stop. The
// master answers with an AckMessage.
type ClientReadyMessage struct {
	// Version is the worker's Locust version string, such as "2.46.3".
	// The empty string is encoded as the int -1, which every master
	// (2.0 and later) accepts without a version check; an empty str would be
	// rejected as a pre-2.0 worker. On decode, -1 gives "" and a str is
	// taken as is (including an empty one).
	Version string
}

// Type returns "client_ready".
func (ClientReadyMessage) Type() string { return TypeClientReady }

func (m ClientReadyMessage) appendData(w *writer) error {
	if m.Version == "" {
		w.writeInt(-1)
		return nil
	}
	w.writeStr(m.Version)
	return nil
}

func decodeClientReady(r *reader) (Message, error) {
	k, err := r.peekKind()
	if err != nil {
		return nil, err
	}
	switch k {
	case kindStr:
		s, err := r.readStr()
		if err != nil {
			return nil, err
		}
		return ClientReadyMessage{Version: s}, nil
	case kindInt, kindUint, kindFloat:
		n, err := r.readNumber("str or -1")
		if err != nil {
			return nil, err
		}
		if i, err := n.int64(); err == nil && i == -1 {
			return ClientReadyMessage{}, nil
		}
		return nil, fmt.Errorf("expected str or -1, got number %v", n.value())
	}
	return nil, &typeError{"str or -1", k}
}

// value returns the number as a Go value for error messages.
func (n number) value() any {
	switch n.kind {
	case kindUint:
		return n.u
	case kindInt:
		return n.i
	}
	return n.f
}
