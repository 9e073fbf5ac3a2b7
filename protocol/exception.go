package protocol

// ExceptionMessage reports an unhandled exception in user code ("exception",
// worker to master). The master groups them by traceback.
type ExceptionMessage struct {
	// Msg is the exception's message (Python's str(exc)).
	Msg string
	// Traceback is the formatted stack, without the "Traceback" header and
	// the final exception line.
	Traceback string
}

// Type returns "exception".
func (ExceptionMessage) Type() string { return TypeException }

func (m ExceptionMessage) appendData(w *writer) error {
	w.writeMapLen(2)
	w.writeStr("msg")
	w.writeStr(m.Msg)
	w.writeStr("traceback")
	w.writeStr(m.Traceback)
	return nil
}

func decodeException(r *reader) (Message, error) {
	var m ExceptionMessage
	var haveMsg, haveTB bool
	err := r.readObject(func(key string) error {
		var err error
		switch key {
		case "msg":
			m.Msg, err = r.readStr()
			haveMsg = true
		case "traceback":
			m.Traceback, err = r.readStr()
			haveTB = true
		default:
			return r.skip(1)
		}
		return fieldErr(key, err)
	})
	switch {
	case err != nil:
		return nil, err
	case !haveMsg:
		return nil, missing("msg")
	case !haveTB:
		return nil, missing("traceback")
	}
	return m, nil
}
