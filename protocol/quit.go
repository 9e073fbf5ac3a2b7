package protocol

// QuitMessage is sent in both directions ("quit", nil data): by the master
// when it shuts down, and by a worker when it exits. Decode ignores any data
// it carries, like Locust does.
type QuitMessage struct{}

// Type returns "quit".
func (QuitMessage) Type() string { return TypeQuit }

func (QuitMessage) appendData(w *writer) error {
	w.writeNil()
	return nil
}
