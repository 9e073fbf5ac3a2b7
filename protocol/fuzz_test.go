package protocol

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode checks that Decode never panics, that every failure is a
// *DecodeError, and that whatever decodes can be encoded again and decodes
// again, with the second encoding a fixed point (Decode and Encode apply
// their normalizations once).
func FuzzDecode(f *testing.F) {
	caps, err := readCaptures(captureDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range caps {
		f.Add(c.body)
	}
	goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.msgpack"))
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(arr(str("quit"), nilv))
	f.Add(body("x", mapv(f64(1.5), str("x"), tru, nilv, nilv, arr(bin8("b")))))
	f.Add(spawnWith(f32(1.5), f64(2.5), mapv(str("big"), u64(1<<63))))
	// Cheap on the wire, dear in memory: refused by the decode cost limit.
	f.Add(spawnWith(f64(1), nilv, mapv(str("bomb"), arr32Of(700_000, []byte{0x80}))))
	f.Add(body("c", map32Of(400_000, func(int) []byte { return []byte{mpNil, mpNil} })))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			_ = de.Error()
			return
		}
		re, err := Encode(env.NodeID, env.Message)
		if err != nil {
			t.Fatalf("Encode(Decode(x)) failed: %v\nmessage: %#v", err, env.Message)
		}
		env2, err := Decode(re)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(x))) failed: %v", err)
		}
		if env2.NodeID != env.NodeID || env2.Message.Type() != env.Message.Type() {
			t.Fatalf("type or node id changed: %q %q -> %q %q", env.Message.Type(), env.NodeID, env2.Message.Type(), env2.NodeID)
		}
		re2, err := Encode(env2.NodeID, env2.Message)
		if err != nil {
			t.Fatalf("second Encode failed: %v", err)
		}
		if !bytes.Equal(re, re2) {
			t.Fatalf("encoding is not a fixed point: %s", hexDiff(re, re2))
		}
	})
}
