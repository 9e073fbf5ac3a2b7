package protocol

// StopMessage tells the worker to stop all users ("stop", master to worker,
// nil data). The worker answers with ClientStoppedMessage and then
// ClientReadyMessage. Decode ignores any data it carries, like Locust does.
type StopMessage struct{}

// Type returns "stop".
func (StopMessage) Type() string { return TypeStop }

func (StopMessage) appendData(w *writer) error {
	w.writeNil()
	return nil
}
