package protocol

// LogsMessage carries the worker's recent log lines ("logs", worker to
// master; Locust 2.29 and later only — older masters log a warning for every
// one received).
type LogsMessage struct {
	// WorkerID is the worker's node id.
	WorkerID string
	// Logs is the whole in-memory log buffer; the master replaces what it
	// had with it. nil is encoded as an empty array.
	Logs []string
}

// Type returns "logs".
func (LogsMessage) Type() string { return TypeLogs }

func (m LogsMessage) appendData(w *writer) error {
	w.writeMapLen(2)
	w.writeStr("worker_id")
	w.writeStr(m.WorkerID)
	w.writeStr("logs")
	if err := checkLen(len(m.Logs)); err != nil {
		return fieldErr("logs", err)
	}
	w.writeStrings(m.Logs)
	return nil
}

func decodeLogs(r *reader) (Message, error) {
	var m LogsMessage
	err := r.readObject(func(key string) error {
		var err error
		switch key {
		case "worker_id":
			m.WorkerID, err = r.readStr()
		case "logs":
			m.Logs, err = r.readStrings()
		default:
			return r.skip(1)
		}
		return fieldErr(key, err)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
