package protocol

// SpawningMessage tells the master that the worker received a spawn message
// and is applying it ("spawning", worker to master, nil data). Decode
// ignores any data it carries, like Locust does.
type SpawningMessage struct{}

// Type returns "spawning".
func (SpawningMessage) Type() string { return TypeSpawning }

func (SpawningMessage) appendData(w *writer) error {
	w.writeNil()
	return nil
}
