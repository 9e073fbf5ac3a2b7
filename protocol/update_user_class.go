package protocol

import "errors"

// UpdateUserClassMessage asks the worker to change attributes of a user class
// ("update_user_class", master to worker; Locust 2.25 and later), after the
// web UI's POST /user or --config-users.
type UpdateUserClassMessage struct {
	// UserClassName is the class to update.
	UserClassName string
	// Attributes holds every other key of the payload, such as "host",
	// "weight", "fixed_count" or "tasks" (a list of task names). Values
	// follow Decode's generic rules.
	Attributes map[string]any
}

// Type returns "update_user_class".
func (UpdateUserClassMessage) Type() string { return TypeUpdateUserClass }

func (m UpdateUserClassMessage) appendData(w *writer) error {
	if _, dup := m.Attributes["user_class_name"]; dup {
		return errors.New(`attributes must not hold "user_class_name"`)
	}
	keys := sortedKeys(m.Attributes)
	w.writeMapLen(1 + len(keys))
	w.writeStr("user_class_name")
	w.writeStr(m.UserClassName)
	for _, k := range keys {
		if err := w.writeKey(k); err != nil {
			return err
		}
		if err := w.writeAny(m.Attributes[k], 1); err != nil {
			return fieldErr(k, err)
		}
	}
	return nil
}

func decodeUpdateUserClass(r *reader) (Message, error) {
	m := UpdateUserClassMessage{Attributes: map[string]any{}}
	var haveName bool
	err := r.readObject(func(key string) error {
		var err error
		switch {
		case key == "user_class_name":
			m.UserClassName, err = r.readStr()
			haveName = true
		case isReservedKey(key):
			err = reservedKeyError(key)
		default:
			m.Attributes[key], err = r.readAny(1)
		}
		return fieldErr(key, err)
	})
	switch {
	case err != nil:
		return nil, err
	case !haveName:
		return nil, missing("user_class_name")
	}
	return m, nil
}
