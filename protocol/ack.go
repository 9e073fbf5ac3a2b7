package protocol

import (
	"fmt"
	"math"
)

// AckMessage is the master's answer to ClientReadyMessage ("ack", master to
// worker). Masters since 2.11 send {"index": int}; older ones send no index.
type AckMessage struct {
	// Index is the worker's 0-based ordinal, stable per node id for the
	// master's lifetime. It is meaningful only when HasIndex is true.
	Index int
	// HasIndex reports whether the master sent an index. When false, Encode
	// writes nil data.
	HasIndex bool
}

// Type returns "ack".
func (AckMessage) Type() string { return TypeAck }

func (m AckMessage) appendData(w *writer) error {
	if !m.HasIndex {
		w.writeNil()
		return nil
	}
	w.writeMapLen(1)
	w.writeStr("index")
	w.writeInt(int64(m.Index))
	return nil
}

func decodeAck(r *reader) (Message, error) {
	var m AckMessage
	if r.isNil() {
		return m, nil
	}
	err := r.readObject(func(key string) error {
		if key != "index" {
			return r.skip(1)
		}
		i, err := r.readInt()
		if err == nil && (i < math.MinInt || i > math.MaxInt) {
			err = fmt.Errorf("index %d overflows int", i)
		}
		m.Index, m.HasIndex = int(i), true
		return fieldErr(key, err)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
