package protocol

import (
	"errors"
	"math"
	"time"
)

// SpawnMessage tells the worker how many users of each class to run
// ("spawn", master to worker). It is sent on every dispatch step, changed or
// not, and holds absolute targets, never deltas. A worker answers with
// SpawningMessage, drops the message when !m.After(previous), and otherwise
// applies it and answers with SpawningCompleteMessage.
type SpawnMessage struct {
	// Timestamp is the master's clock (Python's time.time()) when it sent
	// the message, converted to a time.Time in UTC. It is derived from
	// TimestampSeconds on decode; use After for staleness checks.
	Timestamp time.Time
	// TimestampSeconds is the timestamp exactly as it was on the wire, in
	// seconds since the epoch. Encode writes it when it is non-zero and
	// otherwise converts Timestamp.
	TimestampSeconds float64
	// UserClassesCount is the absolute target number of users per class;
	// every class of the test is listed, zeros included.
	UserClassesCount map[string]int64
	// Host is the target host; a nil host decodes as "" and "" is encoded
	// as nil.
	Host string
	// StopTimeout is how long stopping users may take. nil (Locust 2.12's
	// default) decodes as 0; ints and floats are seconds, rounded to the
	// nanosecond and clamped to about ±11.6 days. Encode writes float
	// seconds.
	StopTimeout time.Duration
	// ParsedOptions is the master's whole command-line namespace, opaque.
	// Values are nil, bool, int64, float64, string, []any or map[string]any
	// (see Decode's generic rules). nil data decodes as an empty map.
	ParsedOptions map[string]any
}

// Type returns "spawn".
func (SpawnMessage) Type() string { return TypeSpawn }

// Seconds returns the message's timestamp in seconds since the epoch:
// TimestampSeconds when it is non-zero, otherwise Timestamp converted (0 for
// the zero time). The zero SpawnMessage has Seconds 0, which is also a
// Python worker's initial "last received" timestamp.
func (m SpawnMessage) Seconds() float64 {
	if m.TimestampSeconds != 0 || m.Timestamp.IsZero() {
		return m.TimestampSeconds
	}
	return float64(m.Timestamp.Unix()) + float64(m.Timestamp.Nanosecond())/1e9
}

// After reports whether m is newer than prev and so must be applied. It
// mirrors the Python worker, which discards a spawn whose timestamp is <=
// the last applied one, comparing the exact float values from the wire.
func (m SpawnMessage) After(prev SpawnMessage) bool {
	return !(m.Seconds() <= prev.Seconds())
}

func (m SpawnMessage) appendData(w *writer) error {
	w.writeMapLen(5)
	w.writeStr("timestamp")
	w.writeFloat(m.Seconds())
	w.writeStr("user_classes_count")
	if err := w.writeCounts(m.UserClassesCount); err != nil {
		return fieldErr("user_classes_count", err)
	}
	w.writeStr("host")
	if m.Host == "" {
		w.writeNil()
	} else {
		w.writeStr(m.Host)
	}
	w.writeStr("stop_timeout")
	w.writeFloat(m.StopTimeout.Seconds())
	w.writeStr("parsed_options")
	if m.ParsedOptions == nil {
		w.writeMapLen(0)
		return nil
	}
	return fieldErr("parsed_options", w.writeAny(m.ParsedOptions, 1))
}

func decodeSpawn(r *reader) (Message, error) {
	var m SpawnMessage
	var haveTS, haveCounts bool
	err := r.readObject(func(key string) error {
		var err error
		switch key {
		case "timestamp":
			m.TimestampSeconds, err = r.readFloat()
			m.Timestamp = secondsToTime(m.TimestampSeconds)
			haveTS = true
		case "user_classes_count":
			m.UserClassesCount, err = r.readCounts()
			haveCounts = true
		case "host":
			m.Host, err = r.readOptStr()
		case "stop_timeout":
			m.StopTimeout, err = readOptSeconds(r)
		case "parsed_options":
			m.ParsedOptions, err = readOptions(r)
		default:
			return r.skip(1)
		}
		return fieldErr(key, err)
	})
	switch {
	case err != nil:
		return nil, err
	case !haveTS:
		return nil, missing("timestamp")
	case !haveCounts:
		return nil, missing("user_classes_count")
	}
	if m.ParsedOptions == nil {
		m.ParsedOptions = map[string]any{}
	}
	return m, nil
}

// secondsToTime converts epoch seconds to a UTC time.Time, rounding to the
// nanosecond. Zero (which Seconds then keeps as is, sign included), values
// that are not finite and values beyond year ±30 million give the zero
// time.
func secondsToTime(f float64) time.Time {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e15 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
}

// maxStopTimeout bounds decoded stop timeouts. Within it every duration
// survives the trip to float seconds and back exactly.
const maxStopTimeout = 1e6 * time.Second // about 11.6 days

// readOptSeconds consumes nil (0) or a number of seconds. Values beyond
// ±maxStopTimeout (infinity included) are clamped to it; NaN is an error.
func readOptSeconds(r *reader) (time.Duration, error) {
	f, err := r.readOptFloat()
	if err != nil || f == nil {
		return 0, err
	}
	switch {
	case math.IsNaN(*f):
		return 0, errors.New("NaN is not a duration")
	case *f > maxStopTimeout.Seconds():
		return maxStopTimeout, nil
	case *f < -maxStopTimeout.Seconds():
		return -maxStopTimeout, nil
	}
	return time.Duration(math.Round(*f * 1e9)), nil
}

// readOptions consumes nil (nil) or a map with str keys of generic values.
func readOptions(r *reader) (map[string]any, error) {
	if r.isNil() {
		r.off++
		return nil, nil
	}
	k, err := r.peekKind()
	if err != nil {
		return nil, err
	}
	if k != kindMap {
		return nil, &typeError{"map or nil", k}
	}
	v, err := r.readAny(1)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("map keys must all be str")
	}
	return m, nil
}
