package protocol

// SpawningCompleteMessage is sent in both directions ("spawning_complete").
// A worker sends it after applying a spawn message, with both keys (the
// master requires user_classes_count). Masters since 2.29 send it to all
// workers once ramp-up has finished, with user_count only.
type SpawningCompleteMessage struct {
	// UserClassesCount is the number of running users per user class. It
	// is nil after decoding a master's message, which has no such key; Encode
	// always writes the key (nil as an empty map).
	UserClassesCount map[string]int64
	// UserCount is the total number of users.
	UserCount int64
}

// Type returns "spawning_complete".
func (SpawningCompleteMessage) Type() string { return TypeSpawningComplete }

func (m SpawningCompleteMessage) appendData(w *writer) error {
	w.writeMapLen(2)
	w.writeStr("user_classes_count")
	if err := w.writeCounts(m.UserClassesCount); err != nil {
		return fieldErr("user_classes_count", err)
	}
	w.writeStr("user_count")
	w.writeInt(m.UserCount)
	return nil
}

func decodeSpawningComplete(r *reader) (Message, error) {
	var m SpawningCompleteMessage
	var haveCount bool
	err := r.readObject(func(key string) error {
		var err error
		switch key {
		case "user_classes_count":
			m.UserClassesCount, err = r.readCounts()
		case "user_count":
			m.UserCount, err = r.readInt()
			haveCount = true
		default:
			return r.skip(1)
		}
		return fieldErr(key, err)
	})
	switch {
	case err != nil:
		return nil, err
	case !haveCount:
		return nil, missing("user_count")
	}
	return m, nil
}
