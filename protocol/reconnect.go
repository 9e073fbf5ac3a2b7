package protocol

// ReconnectMessage tells the worker to recreate its connection ("reconnect",
// master to worker, nil data). Masters send it after failing to decode a
// message from the worker. Decode ignores any data it carries, like Locust
// does.
type ReconnectMessage struct{}

// Type returns "reconnect".
func (ReconnectMessage) Type() string { return TypeReconnect }

func (ReconnectMessage) appendData(w *writer) error {
	w.writeNil()
	return nil
}
