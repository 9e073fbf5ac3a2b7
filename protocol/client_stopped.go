package protocol

// ClientStoppedMessage tells the master that the worker has stopped all users
// after a stop message ("client_stopped", worker to master, nil data). The
// master then forgets the worker until its next ClientReadyMessage. Decode
// ignores any data it carries, like Locust does.
type ClientStoppedMessage struct{}

// Type returns "client_stopped".
func (ClientStoppedMessage) Type() string { return TypeClientStopped }

func (ClientStoppedMessage) appendData(w *writer) error {
	w.writeNil()
	return nil
}
