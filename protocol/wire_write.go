package protocol

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ugorji/go/codec"
)

// writer appends msgpack values to a byte slice, the way Python's
// msgpack.dumps(use_bin_type=True) does: str for strings, bin for bytes,
// the smallest int encoding (unsigned families for non-negative values) and
// float64 for every float.
type writer struct {
	b []byte
}

func (w *writer) writeNil() { w.b = append(w.b, mpNil) }

func (w *writer) writeBool(v bool) {
	if v {
		w.b = append(w.b, mpTrue)
	} else {
		w.b = append(w.b, mpFalse)
	}
}

func (w *writer) writeInt(v int64) {
	if v >= 0 {
		w.writeUint(uint64(v))
		return
	}
	switch {
	case v >= -32:
		w.b = append(w.b, byte(int8(v)))
	case v >= math.MinInt8:
		w.b = append(w.b, mpInt8, byte(int8(v)))
	case v >= math.MinInt16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, mpInt16), uint16(int16(v)))
	case v >= math.MinInt32:
		w.b = binary.BigEndian.AppendUint32(append(w.b, mpInt32), uint32(int32(v)))
	default:
		w.b = binary.BigEndian.AppendUint64(append(w.b, mpInt64), uint64(v))
	}
}

func (w *writer) writeUint(v uint64) {
	switch {
	case v <= 0x7f:
		w.b = append(w.b, byte(v))
	case v <= math.MaxUint8:
		w.b = append(w.b, mpUint8, byte(v))
	case v <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, mpUint16), uint16(v))
	case v <= math.MaxUint32:
		w.b = binary.BigEndian.AppendUint32(append(w.b, mpUint32), uint32(v))
	default:
		w.b = binary.BigEndian.AppendUint64(append(w.b, mpUint64), v)
	}
}

func (w *writer) writeFloat(v float64) {
	w.b = binary.BigEndian.AppendUint64(append(w.b, mpFloat64), math.Float64bits(v))
}

func (w *writer) writeOptFloat(v *float64) {
	if v == nil {
		w.writeNil()
		return
	}
	w.writeFloat(*v)
}

// writeStr writes s as a msgpack str. Bytes that are not valid UTF-8 are
// replaced with U+FFFD: Python's decoder (raw=False) rejects the whole
// message otherwise, and the master answers with "reconnect".
func (w *writer) writeStr(s string) {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	n := len(s)
	switch {
	case n <= 31:
		w.b = append(w.b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		w.b = append(w.b, mpStr8, byte(n))
	case n <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, mpStr16), uint16(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, mpStr32), uint32(n))
	}
	w.b = append(w.b, s...)
}

func (w *writer) writeBin(p []byte) {
	n := len(p)
	switch {
	case n <= math.MaxUint8:
		w.b = append(w.b, mpBin8, byte(n))
	case n <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, mpBin16), uint16(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, mpBin32), uint32(n))
	}
	w.b = append(w.b, p...)
}

func (w *writer) writeArrayLen(n int) {
	switch {
	case n <= 15:
		w.b = append(w.b, 0x90|byte(n))
	case n <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, mpArray16), uint16(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, mpArray32), uint32(n))
	}
}

func (w *writer) writeMapLen(n int) {
	switch {
	case n <= 15:
		w.b = append(w.b, 0x80|byte(n))
	case n <= math.MaxUint16:
		w.b = binary.BigEndian.AppendUint16(append(w.b, mpMap16), uint16(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, mpMap32), uint32(n))
	}
}

// checkLen rejects values too long for msgpack's 32-bit lengths.
func checkLen(n int) error {
	if uint64(n) > math.MaxUint32 {
		return fmt.Errorf("length %d exceeds the msgpack limit", n)
	}
	return nil
}

// writeKey writes a str map key, refusing the keys Locust's decode hooks
// would turn into objects.
func (w *writer) writeKey(k string) error {
	if isReservedKey(k) {
		return reservedKeyError(k)
	}
	w.writeStr(k)
	return nil
}

// writeCounts writes a {str: int} map with sorted keys; nil is written as an
// empty map.
func (w *writer) writeCounts(m map[string]int64) error {
	keys := sortedKeys(m)
	w.writeMapLen(len(keys))
	for _, k := range keys {
		if err := w.writeKey(k); err != nil {
			return err
		}
		w.writeInt(m[k])
	}
	return nil
}

// writeIntKeyed writes a {int: int} map with sorted int keys; nil is written
// as an empty map.
func (w *writer) writeIntKeyed(m map[int64]int64) {
	keys := sortedKeys(m)
	w.writeMapLen(len(keys))
	for _, k := range keys {
		w.writeInt(k)
		w.writeInt(m[k])
	}
}

func (w *writer) writeStrings(s []string) {
	w.writeArrayLen(len(s))
	for _, v := range s {
		w.writeStr(v)
	}
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fallbackHandle encodes Go values that writeAny has no direct rule for
// (structs, for example). It is built once and never mutated; its output is
// decoded again and re-encoded by writeAny, so every rule still applies.
var fallbackHandle = func() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{WriteExt: true}
	h.RawToString = true
	h.SignedInteger = true
	h.CheckCircularRef = true
	return h
}()

var errUnsupportedKey = errors.New("map key must be a string, number, bool or nil")

// writeAny writes a generic value. Supported: nil, bool, all int, uint and
// float kinds (floats as float64), string, []byte (bin), slices and arrays,
// maps with scalar keys, pointers and interfaces to these; anything else
// (structs, for example) goes through ugorji's msgpack encoder and comes
// back through the same checks. Maps with str keys are written with sorted
// keys so the output is deterministic.
func (w *writer) writeAny(v any, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	switch x := v.(type) {
	case nil:
		w.writeNil()
	case bool:
		w.writeBool(x)
	case int:
		w.writeInt(int64(x))
	case int8:
		w.writeInt(int64(x))
	case int16:
		w.writeInt(int64(x))
	case int32:
		w.writeInt(int64(x))
	case int64:
		w.writeInt(x)
	case uint:
		w.writeUint(uint64(x))
	case uint8:
		w.writeUint(uint64(x))
	case uint16:
		w.writeUint(uint64(x))
	case uint32:
		w.writeUint(uint64(x))
	case uint64:
		w.writeUint(x)
	case float32:
		w.writeFloat(float64(x))
	case float64:
		w.writeFloat(x)
	case string:
		w.writeStr(x)
	case []byte:
		if err := checkLen(len(x)); err != nil {
			return err
		}
		w.writeBin(x)
	case []any:
		w.writeArrayLen(len(x))
		for i, e := range x {
			if err := w.writeAny(e, depth+1); err != nil {
				return indexErr(i, err)
			}
		}
	case []string:
		w.writeStrings(x)
	case map[string]any:
		keys := sortedKeys(x)
		w.writeMapLen(len(keys))
		for _, k := range keys {
			if err := w.writeKey(k); err != nil {
				return err
			}
			if err := w.writeAny(x[k], depth+1); err != nil {
				return fieldErr(k, err)
			}
		}
	case map[string]string:
		keys := sortedKeys(x)
		w.writeMapLen(len(keys))
		for _, k := range keys {
			if err := w.writeKey(k); err != nil {
				return err
			}
			w.writeStr(x[k])
		}
	case map[string]int64:
		return w.writeCounts(x)
	case map[int64]int64:
		w.writeIntKeyed(x)
	case map[any]any:
		return w.writeAnyKeyedMap(x, depth)
	default:
		return w.writeReflect(reflect.ValueOf(v), depth)
	}
	return nil
}

// writeAnyKeyedMap writes a map[any]any; keys must be scalars (Python needs
// hashable keys). Str keys come first in sorted order, then the others in
// their encoded byte order, so the output is deterministic.
func (w *writer) writeAnyKeyedMap(m map[any]any, depth int) error {
	type entry struct {
		key []byte
		str string
		raw any
		val any
	}
	entries := make([]entry, 0, len(m))
	for k, v := range m {
		kw := writer{}
		switch kk := k.(type) {
		case string:
			if isReservedKey(kk) {
				return reservedKeyError(kk)
			}
		case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		default:
			return keyErr(fmt.Errorf("%w, got %T", errUnsupportedKey, k))
		}
		if err := kw.writeAny(k, depth+1); err != nil {
			return keyErr(err)
		}
		s, _ := k.(string)
		entries = append(entries, entry{kw.b, s, k, v})
	}
	slices.SortFunc(entries, func(a, b entry) int {
		as, bs := len(a.key) > 0 && kindOf(a.key[0]) == kindStr, len(b.key) > 0 && kindOf(b.key[0]) == kindStr
		switch {
		case as && bs:
			return strings.Compare(a.str, b.str)
		case as:
			return -1
		case bs:
			return 1
		}
		return strings.Compare(string(a.key), string(b.key))
	})
	w.writeMapLen(len(entries))
	for _, e := range entries {
		w.b = append(w.b, e.key...)
		if err := w.writeAny(e.val, depth+1); err != nil {
			return fieldErr(fmt.Sprint(e.raw), err)
		}
	}
	return nil
}

func (w *writer) writeReflect(rv reflect.Value, depth int) error {
	switch rv.Kind() {
	case reflect.Invalid:
		w.writeNil()
		return nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			w.writeNil()
			return nil
		}
		return w.writeAny(rv.Elem().Interface(), depth+1)
	case reflect.Bool:
		w.writeBool(rv.Bool())
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		w.writeInt(rv.Int())
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		w.writeUint(rv.Uint())
		return nil
	case reflect.Float32, reflect.Float64:
		w.writeFloat(rv.Float())
		return nil
	case reflect.String:
		w.writeStr(rv.String())
		return nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			w.writeArrayLen(0)
			return nil
		}
		if rv.Type().Elem().Kind() == reflect.Uint8 {
			p := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(p), rv)
			w.writeBin(p)
			return nil
		}
		n := rv.Len()
		if err := checkLen(n); err != nil {
			return err
		}
		w.writeArrayLen(n)
		for i := 0; i < n; i++ {
			if err := w.writeAny(rv.Index(i).Interface(), depth+1); err != nil {
				return indexErr(i, err)
			}
		}
		return nil
	case reflect.Map:
		m := make(map[any]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key()
			for k.Kind() == reflect.Interface && !k.IsNil() {
				k = k.Elem()
			}
			var key any
			switch k.Kind() {
			case reflect.String:
				key = k.String()
			case reflect.Bool:
				key = k.Bool()
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
				key = k.Int()
			case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
				key = k.Uint()
			case reflect.Float32, reflect.Float64:
				key = k.Float()
			case reflect.Interface: // nil interface key
				key = nil
			default:
				return keyErr(fmt.Errorf("%w, got %s", errUnsupportedKey, k.Type()))
			}
			m[key] = it.Value().Interface()
		}
		return w.writeAnyKeyedMap(m, depth)
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return fmt.Errorf("cannot encode value of type %s", rv.Type())
	}
	// Structs and other named types: let ugorji encode them (honouring codec
	// and json struct tags), then decode the result generically and write it
	// again, so the reserved-key, ext and key-type rules still apply.
	var raw []byte
	if err := codec.NewEncoderBytes(&raw, fallbackHandle).Encode(rv.Interface()); err != nil {
		return fmt.Errorf("cannot encode value of type %s: %w", rv.Type(), err)
	}
	r := reader{b: raw}
	g, err := r.readAny(depth)
	if err != nil {
		return fmt.Errorf("cannot encode value of type %s: %w", rv.Type(), err)
	}
	return w.writeAny(g, depth)
}
