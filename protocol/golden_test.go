package protocol

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// expectedGoType maps a capture's wire type (and direction) to the Go type
// Decode must produce.
func expectedGoType(c capture) reflect.Type {
	switch c.typ {
	case TypeClientReady:
		return reflect.TypeFor[ClientReadyMessage]()
	case TypeHeartbeat:
		if c.dir == "m2w" {
			return reflect.TypeFor[MasterHeartbeatMessage]()
		}
		return reflect.TypeFor[HeartbeatMessage]()
	case TypeStats:
		return reflect.TypeFor[StatsMessage]()
	case TypeSpawning:
		return reflect.TypeFor[SpawningMessage]()
	case TypeSpawningComplete:
		return reflect.TypeFor[SpawningCompleteMessage]()
	case TypeClientStopped:
		return reflect.TypeFor[ClientStoppedMessage]()
	case TypeQuit:
		return reflect.TypeFor[QuitMessage]()
	case TypeException:
		return reflect.TypeFor[ExceptionMessage]()
	case TypeLogs:
		return reflect.TypeFor[LogsMessage]()
	case TypeAck:
		return reflect.TypeFor[AckMessage]()
	case TypeSpawn:
		return reflect.TypeFor[SpawnMessage]()
	case TypeStop:
		return reflect.TypeFor[StopMessage]()
	case TypeReconnect:
		return reflect.TypeFor[ReconnectMessage]()
	case TypeUpdateUserClass:
		return reflect.TypeFor[UpdateUserClassMessage]()
	}
	return reflect.TypeFor[CustomMessage]()
}

// TestCapturesCopied checks that testdata/captures is a complete, identical
// copy of shared/captures when the latter is present beside the repository.
func TestCapturesCopied(t *testing.T) {
	if _, err := os.Stat(sharedCaptureDir); err != nil {
		t.Skipf("%s not present: %v", sharedCaptureDir, err)
	}
	shared, err := readCaptures(sharedCaptureDir)
	if err != nil {
		t.Fatal(err)
	}
	local := loadCaptures(t)
	if len(shared) != len(local) {
		t.Fatalf("%d captures in %s, %d in %s", len(shared), sharedCaptureDir, len(local), captureDir)
	}
	for i := range shared {
		if shared[i].path != local[i].path || !bytes.Equal(shared[i].body, local[i].body) {
			t.Errorf("%s differs from its copy %s", filepath.Join(sharedCaptureDir, shared[i].path), local[i].path)
		}
	}
}

// TestDecodeCaptures decodes every captured body into its typed message and
// checks that no field is lost: the original and the re-encoded body,
// decoded by an independent generic decoder, must have the same structure
// up to the documented normalizations (see the norm* constants).
func TestDecodeCaptures(t *testing.T) {
	used := map[normalization]map[string]bool{}
	for _, c := range loadCaptures(t) {
		t.Run(c.path, func(t *testing.T) {
			env, err := Decode(c.body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got, want := reflect.TypeOf(env.Message), expectedGoType(c); got != want {
				t.Fatalf("decoded %v, want %v", got, want)
			}
			if env.Message.Type() != c.typ {
				t.Errorf("Type() = %q, want %q", env.Message.Type(), c.typ)
			}
			re, err := Encode(env.NodeID, env.Message)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			d := differ{msgType: c.typ}
			d.compareEnvelope(genericDecode(t, c.body), genericDecode(t, re))
			for _, diff := range d.diffs {
				t.Error(diff)
			}
			for n := range d.used {
				if used[n] == nil {
					used[n] = map[string]bool{}
				}
				used[n][c.path] = true
			}
			env2, err := Decode(re)
			if err != nil {
				t.Fatalf("Decode(re-encoded): %v", err)
			}
			// Idempotence: decoding the re-encoded body gives the same typed
			// message, except that a missing user_classes_count (nil) has
			// become an empty map (normAddedClassesCount).
			if sc, ok := env.Message.(SpawningCompleteMessage); ok && sc.UserClassesCount == nil {
				sc.UserClassesCount = map[string]int64{}
				env.Message = sc
			}
			if !reflect.DeepEqual(env, env2) {
				t.Errorf("re-decoded message differs:\n got %#v\nwant %#v", env2, env)
			}
		})
	}
	for n, files := range used {
		t.Logf("normalization %q used in %d captures", n, len(files))
	}
}
