package protocol

import (
	"encoding/binary"
	"math"
)

// Test-only msgpack builders that spell out the exact wire family, so the
// decode tables can feed every int width, float width, str and bin form.

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func posfix(v uint8) []byte { return []byte{v & 0x7f} }
func negfix(v int8) []byte  { return []byte{byte(v)} }
func u8(v uint8) []byte     { return []byte{mpUint8, v} }
func u16(v uint16) []byte   { return binary.BigEndian.AppendUint16([]byte{mpUint16}, v) }
func u32(v uint32) []byte   { return binary.BigEndian.AppendUint32([]byte{mpUint32}, v) }
func u64(v uint64) []byte   { return binary.BigEndian.AppendUint64([]byte{mpUint64}, v) }
func i8(v int8) []byte      { return []byte{mpInt8, byte(v)} }
func i16(v int16) []byte    { return binary.BigEndian.AppendUint16([]byte{mpInt16}, uint16(v)) }
func i32(v int32) []byte    { return binary.BigEndian.AppendUint32([]byte{mpInt32}, uint32(v)) }
func i64(v int64) []byte    { return binary.BigEndian.AppendUint64([]byte{mpInt64}, uint64(v)) }
func f32(v float32) []byte {
	return binary.BigEndian.AppendUint32([]byte{mpFloat32}, math.Float32bits(v))
}
func f64(v float64) []byte {
	return binary.BigEndian.AppendUint64([]byte{mpFloat64}, math.Float64bits(v))
}

var (
	nilv = []byte{mpNil}
	tru  = []byte{mpTrue}
	fal  = []byte{mpFalse}
)

func fixstr(s string) []byte { return append([]byte{0xa0 | byte(len(s))}, s...) }
func str8(s string) []byte   { return append([]byte{mpStr8, byte(len(s))}, s...) }
func str16(s string) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{mpStr16}, uint16(len(s))), s...)
}
func str32(s string) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{mpStr32}, uint32(len(s))), s...)
}
func bin8(s string) []byte { return append([]byte{mpBin8, byte(len(s))}, s...) }

// str picks fixstr or str8 like Python does.
func str(s string) []byte {
	if len(s) < 32 {
		return fixstr(s)
	}
	return str8(s)
}

func arr(elems ...[]byte) []byte {
	return cat(append([][]byte{{0x90 | byte(len(elems))}}, elems...)...)
}
func arr16(elems ...[]byte) []byte {
	return cat(append([][]byte{binary.BigEndian.AppendUint16([]byte{mpArray16}, uint16(len(elems)))}, elems...)...)
}

// mapv builds a fixmap from alternating keys and values.
func mapv(kv ...[]byte) []byte { return cat(append([][]byte{{0x80 | byte(len(kv)/2)}}, kv...)...) }
func map16(kv ...[]byte) []byte {
	return cat(append([][]byte{binary.BigEndian.AppendUint16([]byte{mpMap16}, uint16(len(kv)/2))}, kv...)...)
}
func map32(kv ...[]byte) []byte {
	return cat(append([][]byte{binary.BigEndian.AppendUint32([]byte{mpMap32}, uint32(len(kv)/2))}, kv...)...)
}

const testNode = "vm_36e712c0174c483684bbd7e1661b24b1"

// body builds [type, data, node_id] with str type and node id.
func body(typ string, data []byte) []byte { return arr(str(typ), data, str(testNode)) }

func ptr[T any](v T) *T { return &v }
