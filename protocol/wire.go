package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// This file holds the msgpack reader used by Decode. It is a small,
// allocation-bounded reader that knows the exact wire family of every value,
// so decoding can reject what Python would reject (bin where str is required,
// invalid UTF-8) and report the field that was wrong.

// msgpack format bytes (https://github.com/msgpack/msgpack/blob/master/spec.md).
const (
	mpNil      = 0xc0
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpExt8     = 0xc7
	mpExt16    = 0xc8
	mpExt32    = 0xc9
	mpFloat32  = 0xca
	mpFloat64  = 0xcb
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpFixExt1  = 0xd4
	mpFixExt16 = 0xd8
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpMap16    = 0xde
	mpMap32    = 0xdf
)

// maxDepth bounds the nesting of arrays and maps accepted by the reader, so a
// hostile body cannot drive the decoder into deep recursion.
const maxDepth = 256

// What decoding one message may allocate beyond the bytes of its strings
// (which the body holds already), as skip adds it up: every value costs
// costValue (the interface or slice slot that holds it, its boxing and
// rounding), every array or map costContainer more, a map with entries
// costMapGroup more (the first group of slots) and each entry costMapEntry
// more (its slots, twice over: readAnyMap may make a map[string]any and
// then a map[any]any for the same entries). The costs are at least what
// the decoders allocate (TestDecodeCostCoversAllocations checks it), so
// refusing a message whose sum passes maxDecodeCost, before decoding it,
// bounds the memory any message takes: a body of 16 MiB of empty maps
// would take a gigabyte.
const (
	costValue     = 40
	costContainer = 64
	costMapGroup  = 320
	costMapEntry  = 112
	maxDecodeCost = 32 << 20
)

// wireKind is the msgpack family of a value as it appears on the wire.
type wireKind uint8

const (
	kindInvalid wireKind = iota
	kindNil
	kindBool
	kindInt   // signed families: negative fixint, int8..int64
	kindUint  // unsigned families: positive fixint, uint8..uint64
	kindFloat // float32, float64
	kindStr
	kindBin
	kindArray
	kindMap
	kindExt
)

func (k wireKind) String() string {
	switch k {
	case kindNil:
		return "nil"
	case kindBool:
		return "bool"
	case kindInt, kindUint:
		return "int"
	case kindFloat:
		return "float"
	case kindStr:
		return "str"
	case kindBin:
		return "bin"
	case kindArray:
		return "array"
	case kindMap:
		return "map"
	case kindExt:
		return "ext"
	}
	return "invalid byte"
}

func kindOf(b byte) wireKind {
	switch {
	case b <= 0x7f:
		return kindUint
	case b <= 0x8f:
		return kindMap
	case b <= 0x9f:
		return kindArray
	case b <= 0xbf:
		return kindStr
	case b >= 0xe0:
		return kindInt
	}
	switch b {
	case mpNil:
		return kindNil
	case mpFalse, mpTrue:
		return kindBool
	case mpBin8, mpBin16, mpBin32:
		return kindBin
	case mpExt8, mpExt16, mpExt32, mpFixExt1, mpFixExt1 + 1, mpFixExt1 + 2, mpFixExt1 + 3, mpFixExt16:
		return kindExt
	case mpFloat32, mpFloat64:
		return kindFloat
	case mpUint8, mpUint16, mpUint32, mpUint64:
		return kindUint
	case mpInt8, mpInt16, mpInt32, mpInt64:
		return kindInt
	case mpStr8, mpStr16, mpStr32:
		return kindStr
	case mpArray16, mpArray32:
		return kindArray
	case mpMap16, mpMap32:
		return kindMap
	}
	return kindInvalid // 0xc1, never used
}

// typeError reports a value whose wire family is not the one expected.
type typeError struct {
	want string
	got  wireKind
}

func (e *typeError) Error() string {
	return "expected " + e.want + ", got " + e.got.String()
}

var (
	errInvalidUTF8  = errors.New("str is not valid UTF-8")
	errTooDeep      = fmt.Errorf("nesting deeper than %d levels", maxDepth)
	errTooCostly    = fmt.Errorf("values would take more than %d MiB to decode", maxDecodeCost>>20)
	errReservedByte = errors.New("reserved msgpack byte 0xc1")
)

// reader decodes msgpack values from a byte slice. Every method either
// consumes one whole value and returns nil, or returns an error; after an
// error the reader must not be used any more.
type reader struct {
	b    []byte
	off  int
	cost int // what the values skipped so far would cost to decode
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) peek() (byte, error) {
	if r.off >= len(r.b) {
		return 0, io.ErrUnexpectedEOF
	}
	return r.b[r.off], nil
}

func (r *reader) peekKind() (wireKind, error) {
	b, err := r.peek()
	if err != nil {
		return kindInvalid, err
	}
	return kindOf(b), nil
}

// isNil reports whether the next value is nil, without consuming it.
func (r *reader) isNil() bool {
	return r.off < len(r.b) && r.b[r.off] == mpNil
}

func (r *reader) next(n int) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, io.ErrUnexpectedEOF
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p, nil
}

func (r *reader) uintN(n int) (uint64, error) {
	p, err := r.next(n)
	if err != nil {
		return 0, err
	}
	switch n {
	case 1:
		return uint64(p[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), nil
	default:
		return binary.BigEndian.Uint64(p), nil
	}
}

// length reads an n-byte big-endian length and checks that at least
// length*unit bytes remain, so callers never allocate for data that is not
// there.
func (r *reader) length(n, unit int) (int, error) {
	v, err := r.uintN(n)
	if err != nil {
		return 0, err
	}
	if v > uint64(r.remaining()/unit) {
		return 0, io.ErrUnexpectedEOF
	}
	return int(v), nil
}

// readBool consumes a bool.
func (r *reader) readBool() (bool, error) {
	b, err := r.peek()
	if err != nil {
		return false, err
	}
	switch b {
	case mpTrue:
		r.off++
		return true, nil
	case mpFalse:
		r.off++
		return false, nil
	}
	return false, &typeError{"bool", kindOf(b)}
}

// number is a decoded numeric value: exactly one of the three forms is set,
// as told by kind.
type number struct {
	kind wireKind // kindInt, kindUint or kindFloat
	i    int64
	u    uint64
	f    float64
}

// readNumber consumes an int, uint or float of any width.
func (r *reader) readNumber(want string) (number, error) {
	b, err := r.peek()
	if err != nil {
		return number{}, err
	}
	switch {
	case b <= 0x7f:
		r.off++
		return number{kind: kindUint, u: uint64(b)}, nil
	case b >= 0xe0:
		r.off++
		return number{kind: kindInt, i: int64(int8(b))}, nil
	}
	switch b {
	case mpUint8, mpUint16, mpUint32, mpUint64:
		r.off++
		v, err := r.uintN(1 << (b - mpUint8))
		return number{kind: kindUint, u: v}, err
	case mpInt8, mpInt16, mpInt32, mpInt64:
		r.off++
		n := 1 << (b - mpInt8)
		v, err := r.uintN(n)
		if err != nil {
			return number{}, err
		}
		var i int64
		switch n {
		case 1:
			i = int64(int8(v))
		case 2:
			i = int64(int16(v))
		case 4:
			i = int64(int32(v))
		default:
			i = int64(v)
		}
		return number{kind: kindInt, i: i}, nil
	case mpFloat32:
		r.off++
		v, err := r.uintN(4)
		return number{kind: kindFloat, f: float64(math.Float32frombits(uint32(v)))}, err
	case mpFloat64:
		r.off++
		v, err := r.uintN(8)
		return number{kind: kindFloat, f: math.Float64frombits(v)}, err
	}
	return number{}, &typeError{want, kindOf(b)}
}

// readInt consumes an integer of any width. A float is accepted when it is
// integral and in range, because Python code may send 5.0 for a count.
func (r *reader) readInt() (int64, error) {
	n, err := r.readNumber("int")
	if err != nil {
		return 0, err
	}
	return n.int64()
}

func (n number) int64() (int64, error) {
	switch n.kind {
	case kindUint:
		if n.u > math.MaxInt64 {
			return 0, fmt.Errorf("integer %d overflows int64", n.u)
		}
		return int64(n.u), nil
	case kindInt:
		return n.i, nil
	}
	// -2^63 is exactly representable; 2^63 is the first float out of range.
	if n.f != math.Trunc(n.f) || n.f < -(1<<63) || n.f >= 1<<63 {
		return 0, fmt.Errorf("expected int, got non-integral float %v", n.f)
	}
	return int64(n.f), nil
}

// readFloat consumes a float or an integer (Python sends ints for integral
// response times) and returns it as float64.
func (r *reader) readFloat() (float64, error) {
	n, err := r.readNumber("number")
	if err != nil {
		return 0, err
	}
	switch n.kind {
	case kindUint:
		return float64(n.u), nil
	case kindInt:
		return float64(n.i), nil
	}
	return n.f, nil
}

// readOptFloat consumes nil or a number.
func (r *reader) readOptFloat() (*float64, error) {
	if r.isNil() {
		r.off++
		return nil, nil
	}
	f, err := r.readFloat()
	if err != nil {
		if te, ok := err.(*typeError); ok {
			te.want = "number or nil"
		}
		return nil, err
	}
	return &f, nil
}

// strLen reads the header of a str value.
func (r *reader) strLen(want string) (int, error) {
	b, err := r.peek()
	if err != nil {
		return 0, err
	}
	switch {
	case b >= 0xa0 && b <= 0xbf:
		r.off++
		n := int(b & 0x1f)
		if n > r.remaining() {
			return 0, io.ErrUnexpectedEOF
		}
		return n, nil
	case b >= mpStr8 && b <= mpStr32:
		r.off++
		return r.length(1<<(b-mpStr8), 1)
	}
	return 0, &typeError{want, kindOf(b)}
}

// readStr consumes a str value; bin is rejected (Python would see bytes) and
// so is invalid UTF-8 (Python's raw=False raises).
func (r *reader) readStr() (string, error) {
	n, err := r.strLen("str")
	if err != nil {
		return "", err
	}
	p, err := r.next(n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(p) {
		return "", errInvalidUTF8
	}
	return string(p), nil
}

// readOptStr consumes nil (returned as "") or a str.
func (r *reader) readOptStr() (string, error) {
	if r.isNil() {
		r.off++
		return "", nil
	}
	s, err := r.readStr()
	if te, ok := err.(*typeError); ok {
		te.want = "str or nil"
	}
	return s, err
}

// readBin consumes a bin value and returns a copy of its bytes.
func (r *reader) readBin() ([]byte, error) {
	b, err := r.peek()
	if err != nil {
		return nil, err
	}
	if b < mpBin8 || b > mpBin32 {
		return nil, &typeError{"bin", kindOf(b)}
	}
	r.off++
	n, err := r.length(1<<(b-mpBin8), 1)
	if err != nil {
		return nil, err
	}
	p, _ := r.next(n)
	return append([]byte{}, p...), nil
}

// readArrayLen consumes an array header. The returned length never exceeds
// the number of bytes left, so it is safe to preallocate.
func (r *reader) readArrayLen() (int, error) {
	b, err := r.peek()
	if err != nil {
		return 0, err
	}
	switch {
	case b >= 0x90 && b <= 0x9f:
		r.off++
		n := int(b & 0x0f)
		if n > r.remaining() {
			return 0, io.ErrUnexpectedEOF
		}
		return n, nil
	case b == mpArray16:
		r.off++
		return r.length(2, 1)
	case b == mpArray32:
		r.off++
		return r.length(4, 1)
	}
	return 0, &typeError{"array", kindOf(b)}
}

// readMapLen consumes a map header. The returned length never exceeds half
// the number of bytes left.
func (r *reader) readMapLen() (int, error) {
	b, err := r.peek()
	if err != nil {
		return 0, err
	}
	switch {
	case b >= 0x80 && b <= 0x8f:
		r.off++
		n := int(b & 0x0f)
		if n > r.remaining()/2 {
			return 0, io.ErrUnexpectedEOF
		}
		return n, nil
	case b == mpMap16:
		r.off++
		return r.length(2, 2)
	case b == mpMap32:
		r.off++
		return r.length(4, 2)
	}
	return 0, &typeError{"map", kindOf(b)}
}

// skip consumes one value of any type, checking that it is well formed
// (including UTF-8 validity of str values, which Python enforces), and adds
// what decoding it would cost to r.cost: it fails with errTooCostly, under
// the path of the value where the sum passes maxDecodeCost, before anything
// is decoded.
func (r *reader) skip(depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	b, err := r.peek()
	if err != nil {
		return err
	}
	if r.cost += costValue; r.cost > maxDecodeCost {
		return errTooCostly
	}
	switch kindOf(b) {
	case kindNil, kindBool:
		r.off++
		return nil
	case kindInt, kindUint, kindFloat:
		_, err := r.readNumber("number")
		return err
	case kindStr:
		_, err := r.readStr()
		return err
	case kindBin:
		r.off++
		n, err := r.length(1<<(b-mpBin8), 1)
		if err != nil {
			return err
		}
		_, err = r.next(n)
		return err
	case kindExt:
		return r.skipExt(b)
	case kindArray:
		return r.skipArray(depth)
	case kindMap:
		return r.skipMap(depth)
	}
	return errReservedByte
}

// skipArray is skip for an array.
func (r *reader) skipArray(depth int) error {
	n, err := r.readArrayLen()
	if err != nil {
		return err
	}
	if r.cost += costContainer; r.cost > maxDecodeCost {
		return errTooCostly
	}
	for i := 0; i < n; i++ {
		if err := r.skip(depth + 1); err != nil {
			if isCostError(err) {
				return indexErr(i, err)
			}
			return err
		}
	}
	return nil
}

// skipMap is skip for a map. A map's slots are made for all its entries
// at once, so their cost is added first.
func (r *reader) skipMap(depth int) error {
	n, err := r.readMapLen()
	if err != nil {
		return err
	}
	r.cost += costContainer + n*costMapEntry
	if n > 0 {
		r.cost += costMapGroup
	}
	if r.cost > maxDecodeCost {
		return errTooCostly
	}
	for i := 0; i < n; i++ {
		key := r.off
		if err := r.skip(depth + 1); err != nil {
			return err
		}
		if err := r.skip(depth + 1); err != nil {
			if isCostError(err) {
				return fieldErr(r.keyName(key), err)
			}
			return err
		}
	}
	return nil
}

// isCostError reports whether err is errTooCostly, with or without a path.
func isCostError(err error) bool {
	pe, ok := err.(*pathError)
	return err == errTooCostly || ok && pe.err == errTooCostly
}

// keyName returns the map key at offset off, already checked by skip,
// for an error's path: a str as it is (cut to 64 bytes), anything else
// as "<kind>".
func (r *reader) keyName(off int) string {
	k := reader{b: r.b, off: off}
	if kind, _ := k.peekKind(); kind != kindStr {
		return "<" + kind.String() + ">"
	}
	s, _ := k.readStr()
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "..."
	}
	return s
}

func (r *reader) skipExt(b byte) error {
	r.off++
	var n int
	var err error
	switch b {
	case mpExt8, mpExt16, mpExt32:
		n, err = r.length(1<<(b-mpExt8), 1)
		if err != nil {
			return err
		}
	default: // fixext 1, 2, 4, 8, 16
		n = 1 << (b - mpFixExt1)
	}
	_, err = r.next(n + 1) // type byte + data
	return err
}

// Keys that Locust's latest msgpack decode hook turns into Python objects
// (datetime, bson ObjectId): a map holding one of them must never be sent,
// and is rejected on decode too so that whatever decodes can be re-encoded.
const (
	reservedKeyDatetime = "__datetime__"
	reservedKeyObjectID = "__ObjectId__"
)

func isReservedKey(k string) bool {
	return len(k) == 12 && (k == reservedKeyDatetime || k == reservedKeyObjectID)
}

func reservedKeyError(k string) error {
	return fmt.Errorf("map key %q is reserved by Locust's msgpack hooks", k)
}

// readAny consumes one value into its generic Go form:
//
//	nil -> nil, bool -> bool, int -> int64 (uint64 above MaxInt64),
//	float -> float64, str -> string, bin -> []byte, array -> []any,
//	map with only str keys -> map[string]any,
//	any other map -> map[any]any (keys string, int64, uint64, float64, bool or nil).
//
// ext values, array, map or bin map keys, and the reserved keys are rejected:
// nothing Locust sends uses them, and each of them could not be re-encoded
// faithfully.
func (r *reader) readAny(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	b, err := r.peek()
	if err != nil {
		return nil, err
	}
	switch k := kindOf(b); k {
	case kindNil:
		r.off++
		return nil, nil
	case kindBool:
		return r.readBool()
	case kindInt, kindUint, kindFloat:
		n, err := r.readNumber("number")
		if err != nil {
			return nil, err
		}
		switch n.kind {
		case kindUint:
			if n.u > math.MaxInt64 {
				return n.u, nil
			}
			return int64(n.u), nil
		case kindInt:
			return n.i, nil
		}
		return n.f, nil
	case kindStr:
		return r.readStr()
	case kindBin:
		return r.readBin()
	case kindArray:
		n, err := r.readArrayLen()
		if err != nil {
			return nil, err
		}
		s := make([]any, n)
		for i := range s {
			v, err := r.readAny(depth + 1)
			if err != nil {
				return nil, indexErr(i, err)
			}
			s[i] = v
		}
		return s, nil
	case kindMap:
		return r.readAnyMap(depth)
	case kindExt:
		return nil, errors.New("msgpack ext types are not supported")
	default:
		return nil, errReservedByte
	}
}

func (r *reader) readAnyMap(depth int) (any, error) {
	n, err := r.readMapLen()
	if err != nil {
		return nil, err
	}
	sm := make(map[string]any, n)
	var am map[any]any // switched to when a non-str key shows up
	for i := 0; i < n; i++ {
		kk, err := r.peekKind()
		if err != nil {
			return nil, err
		}
		var key any
		switch kk {
		case kindStr:
			s, err := r.readStr()
			if err != nil {
				return nil, keyErr(err)
			}
			if isReservedKey(s) {
				return nil, reservedKeyError(s)
			}
			key = s
		case kindNil, kindBool, kindInt, kindUint, kindFloat:
			if key, err = r.readAny(depth + 1); err != nil {
				return nil, keyErr(err)
			}
		default:
			return nil, keyErr(&typeError{"str, number, bool or nil", kk})
		}
		v, err := r.readAny(depth + 1)
		if err != nil {
			return nil, fieldErr(fmt.Sprint(key), err)
		}
		if s, ok := key.(string); ok && am == nil {
			sm[s] = v
			continue
		}
		if am == nil {
			am = make(map[any]any, n)
			for k, v := range sm {
				am[k] = v
			}
		}
		am[key] = v
	}
	if am != nil {
		return am, nil
	}
	return sm, nil
}

// readObject consumes a map whose keys are field names and calls fn for each
// str key; fn must consume the value. Entries whose key is not a str are
// skipped, like unknown keys (Python looks fields up by str key only).
func (r *reader) readObject(fn func(key string) error) error {
	n, err := r.readMapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		kk, err := r.peekKind()
		if err != nil {
			return err
		}
		if kk != kindStr {
			if err := r.skip(1); err != nil {
				return keyErr(err)
			}
			if err := r.skip(1); err != nil {
				return err
			}
			continue
		}
		key, err := r.readStr()
		if err != nil {
			return keyErr(err)
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	return nil
}

// readCounts consumes a {str: int} map (user_classes_count).
func (r *reader) readCounts() (map[string]int64, error) {
	n, err := r.readMapLen()
	if err != nil {
		return nil, err
	}
	m := make(map[string]int64, n)
	for i := 0; i < n; i++ {
		k, err := r.readStr()
		if err != nil {
			return nil, keyErr(err)
		}
		if isReservedKey(k) {
			return nil, reservedKeyError(k)
		}
		v, err := r.readInt()
		if err != nil {
			return nil, fieldErr(k, err)
		}
		m[k] = v
	}
	return m, nil
}

// readIntKeyed consumes a {number: int} map (histograms and per-second
// counters). Keys may be ints or integral floats (Locust 2.12 sends 150.0).
func (r *reader) readIntKeyed() (map[int64]int64, error) {
	n, err := r.readMapLen()
	if err != nil {
		return nil, err
	}
	m := make(map[int64]int64, n)
	for i := 0; i < n; i++ {
		k, err := r.readInt()
		if err != nil {
			return nil, keyErr(err)
		}
		v, err := r.readInt()
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("%d", k), err)
		}
		m[k] = v
	}
	return m, nil
}

// readStrings consumes an array of str.
func (r *reader) readStrings() ([]string, error) {
	n, err := r.readArrayLen()
	if err != nil {
		return nil, err
	}
	s := make([]string, n)
	for i := range s {
		if s[i], err = r.readStr(); err != nil {
			return nil, indexErr(i, err)
		}
	}
	return s, nil
}
