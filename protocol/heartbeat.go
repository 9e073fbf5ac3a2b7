package protocol

// HeartbeatMessage is the worker's periodic liveness report ("heartbeat",
// worker to master, every second). The master requires state and
// current_cpu_usage.
type HeartbeatMessage struct {
	// State is the worker state: "ready", "spawning" or "running". The
	// master stores whatever it gets; any other value makes the worker
	// invisible to dispatch.
	State string
	// CPUUsage is the worker process's CPU usage in percent
	// ("current_cpu_usage", always a float on the wire).
	CPUUsage float64
	// MemoryUsage is the worker process's resident memory in bytes
	// ("current_memory_usage").
	MemoryUsage int64
}

// Type returns "heartbeat".
func (HeartbeatMessage) Type() string { return TypeHeartbeat }

func (m HeartbeatMessage) appendData(w *writer) error {
	w.writeMapLen(3)
	w.writeStr("state")
	w.writeStr(m.State)
	w.writeStr("current_cpu_usage")
	w.writeFloat(m.CPUUsage)
	w.writeStr("current_memory_usage")
	w.writeInt(m.MemoryUsage)
	return nil
}

func decodeHeartbeat(r *reader) (Message, error) {
	var m HeartbeatMessage
	var haveState, haveCPU bool
	err := r.readObject(func(key string) error {
		var err error
		switch key {
		case "state":
			m.State, err = r.readStr()
			haveState = true
		case "current_cpu_usage":
			m.CPUUsage, err = r.readFloat()
			haveCPU = true
		case "current_memory_usage":
			m.MemoryUsage, err = r.readInt()
		default:
			return r.skip(1)
		}
		return fieldErr(key, err)
	})
	switch {
	case err != nil:
		return nil, err
	case !haveState:
		return nil, missing("state")
	case !haveCPU:
		return nil, missing("current_cpu_usage")
	}
	return m, nil
}

// MasterHeartbeatMessage is the master's reply to each worker heartbeat
// ("heartbeat" with nil data, master to worker; Locust 2.19 and later).
// Decode tells it from HeartbeatMessage by its nil data.
type MasterHeartbeatMessage struct{}

// Type returns "heartbeat".
func (MasterHeartbeatMessage) Type() string { return TypeHeartbeat }

func (MasterHeartbeatMessage) appendData(w *writer) error {
	w.writeNil()
	return nil
}
