package worker

// This file tests Feeder (feeder.go): the three orders, uniqueness under
// concurrency, CSV files good and bad, Fill while rows are held, and
// Receive with a real Python master's payload and with garbage.

import (
	"bytes"
	"context"
	"encoding/hex"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
)

// idRows returns n rows whose "id" is 0 … n-1.
func idRows(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = Row{"id": strconv.Itoa(i)}
	}
	return rows
}

// takeIDs takes n rows and returns their ids, "-" for a Take that failed.
func takeIDs(f *Feeder, n int) []string {
	var ids []string
	for range n {
		r, ok := f.Take()
		if !ok {
			ids = append(ids, "-")
			continue
		}
		ids = append(ids, r["id"])
	}
	return ids
}

func TestFeederUniqueNeverSharesARow(t *testing.T) {
	const rows, goroutines, rounds = 16, 64, 2000
	f := NewFeeder(Unique, idRows(rows)...)
	holders := make([]atomic.Int32, rows)
	taken := make([]atomic.Int64, rows)
	var refused, shared atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range rounds {
				r, ok := f.Take()
				if !ok {
					refused.Add(1)
					continue
				}
				i, _ := strconv.Atoi(r["id"])
				if holders[i].Add(1) != 1 {
					shared.Add(1)
				}
				taken[i].Add(1)
				holders[i].Add(-1)
				f.Return(r)
			}
		})
	}
	wg.Wait()
	if n := shared.Load(); n != 0 {
		t.Errorf("a row was held by two holders at once %d times", n)
	}
	total := refused.Load()
	for i := range taken {
		if taken[i].Load() == 0 {
			t.Errorf("row %d was never handed out", i)
		}
		total += taken[i].Load()
	}
	if total != goroutines*rounds {
		t.Errorf("%d takes counted, want %d", total, goroutines*rounds)
	}
	if f.Free() != rows || f.Len() != rows {
		t.Errorf("after all returned: Free %d, Len %d, want %d", f.Free(), f.Len(), rows)
	}
}

func TestFeederUniqueQueue(t *testing.T) {
	f := NewFeeder(Unique, idRows(4)...)
	var held []Row
	for range 4 {
		r, _ := f.Take()
		held = append(held, r)
	}
	if got := takeIDs(f, 1); got[0] != "-" {
		t.Fatalf("a fifth Take of four rows gave row %s", got[0])
	}
	f.Return(held[1])
	f.Return(held[3])
	f.Return(held[1])        // twice: ignored
	f.Return(Row{"id": "2"}) // equal values, not a row of f: ignored
	f.Return(nil)            // a user that got no row: ignored
	if got, want := takeIDs(f, 3), []string{"1", "3", "-"}; !slices.Equal(got, want) {
		t.Errorf("takes after returning 1 then 3: %v, want %v", got, want)
	}
	if f.Free() != 0 {
		t.Errorf("Free %d, want 0", f.Free())
	}
}

func TestFeederOrders(t *testing.T) {
	tests := []struct {
		name  string
		order FeedOrder
		rows  int
		want  []string
	}{
		{"unique", Unique, 3, []string{"0", "1", "2", "-", "-"}},
		{"cyclic", Cyclic, 3, []string{"0", "1", "2", "0", "1", "2", "0"}},
		{"empty unique", Unique, 0, []string{"-"}},
		{"empty cyclic", Cyclic, 0, []string{"-"}},
		{"empty random", Random, 0, []string{"-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFeeder(tt.order, idRows(tt.rows)...)
			if got := takeIDs(f, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("takes %v, want %v", got, tt.want)
			}
		})
	}
	var zero Feeder
	if _, ok := zero.Take(); ok {
		t.Error("the zero Feeder handed out a row")
	}
	zero.Fill(idRows(1))
	if got := takeIDs(&zero, 2); !slices.Equal(got, []string{"0", "-"}) {
		t.Errorf("the zero Feeder filled with one row: takes %v, want unique [0 -]", got)
	}
}

func TestFeederSharedOrdersIgnoreReturn(t *testing.T) {
	for _, order := range []FeedOrder{Cyclic, Random} {
		f := NewFeeder(order, idRows(2)...)
		r, _ := f.Take()
		f.Return(r)
		f.Return(r)
		if f.Free() != 2 || f.Len() != 2 {
			t.Errorf("%v: Free %d, Len %d, want 2 and 2", order, f.Free(), f.Len())
		}
	}
}

func TestFeederRandom(t *testing.T) {
	const rows, takes = 5, 500
	seeded := func() *Feeder {
		return NewFeeder(Random, idRows(rows)...).SetRand(rand.New(rand.NewPCG(1, 2)))
	}
	a, b := takeIDs(seeded(), takes), takeIDs(seeded(), takes)
	if !slices.Equal(a, b) {
		t.Error("two feeders with the same seed picked different rows")
	}
	counts := map[string]int{}
	for _, id := range a {
		counts[id]++
	}
	for i := range rows {
		// Each row's expected share is 100 of 500; 40 is more than 7 σ below.
		if n := counts[strconv.Itoa(i)]; n < 40 {
			t.Errorf("row %d picked %d times of %d", i, n, takes)
		}
	}
	if slices.Equal(a[:20], takeIDs(NewFeeder(Cyclic, idRows(rows)...), 20)) {
		t.Error("random picks are the cyclic order")
	}
	unseeded := takeIDs(NewFeeder(Random, idRows(rows)...), takes)
	if slices.Contains(unseeded, "-") {
		t.Error("an unseeded random feeder refused a Take")
	}
}

// TestFeederKeepsCopies: the feeder copies the rows it is given; equal
// rows are one row to Unique (an account listed twice is still held by
// one user at a time).
func TestFeederKeepsCopies(t *testing.T) {
	shared := Row{"id": "x"}
	f := NewFeeder(Unique, shared, shared)
	shared["id"] = "changed"
	a, ok := f.Take()
	if !ok || a["id"] != "x" {
		t.Fatalf("row %v, want the values given, not later changes", a)
	}
	if b, ok := f.Take(); ok {
		t.Fatalf("took %v while an equal row is held", b)
	}
	f.Return(a)
	if f.Free() != 1 {
		t.Errorf("Free %d after the return, want 1", f.Free())
	}
	if c, ok := f.Take(); !ok || c["id"] != "x" {
		t.Errorf("after the return: Take %v %v", c, ok)
	}
}

func BenchmarkFeederTakeReturn(b *testing.B) {
	for _, order := range []FeedOrder{Unique, Cyclic, Random} {
		b.Run(order.String(), func(b *testing.B) {
			f := NewFeeder(order, idRows(5000)...)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r, _ := f.Take()
					f.Return(r)
				}
			})
		})
	}
}

func TestFeederTakeReturnAllocateNothing(t *testing.T) {
	for _, order := range []FeedOrder{Unique, Cyclic, Random} {
		f := NewFeeder(order, idRows(8)...)
		allocs := testing.AllocsPerRun(1000, func() {
			r, _ := f.Take()
			f.Return(r)
		})
		if allocs != 0 {
			t.Errorf("%v: %.1f allocations per Take and Return, want 0", order, allocs)
		}
	}
}

func TestFeederFillWhileHeld(t *testing.T) {
	f := NewFeeder(Unique, Row{"id": "u1"}, Row{"id": "u2"}, Row{"id": "u3"})
	a, _ := f.Take() // u1
	b, _ := f.Take() // u2
	// u2 is held and sent again: it stays held; u1 is gone.
	f.Fill([]Row{{"id": "u2"}, {"id": "u4"}, {"id": "u5"}})
	if f.Len() != 3 || f.Free() != 2 {
		t.Fatalf("after Fill: Len %d, Free %d, want 3 and 2", f.Len(), f.Free())
	}
	if got, want := takeIDs(f, 3), []string{"u4", "u5", "-"}; !slices.Equal(got, want) {
		t.Fatalf("takes %v, want %v: the held u2 must not be handed out", got, want)
	}
	if a["id"] != "u1" || b["id"] != "u2" {
		t.Errorf("holders' rows changed to %v and %v", a, b)
	}
	f.Return(a) // u1 is no longer in the feeder
	if f.Free() != 0 {
		t.Errorf("returning a row Fill dropped: Free %d, want 0", f.Free())
	}
	f.Return(b) // the old u2 gives the new one back
	c, ok := f.Take()
	if !ok || c["id"] != "u2" {
		t.Fatalf("after returning the old u2: Take %v %v, want u2", c, ok)
	}
	f.Return(b) // twice: must not free the u2 c holds
	if f.Free() != 0 {
		t.Errorf("the old u2 returned twice freed the new holder's row: Free %d", f.Free())
	}
	// Carried over two Fills, still given back by its first holder.
	f.Fill([]Row{{"id": "u2"}})
	f.Fill([]Row{{"id": "u2"}, {"id": "u2"}})
	if f.Free() != 0 {
		t.Fatalf("u2 held, two u2 rows sent: Free %d, want 0", f.Free())
	}
	f.Return(c)
	if f.Free() != 1 {
		t.Errorf("after returning u2 carried over twice: Free %d, want 1", f.Free())
	}
}

func TestFeederFillRestartsCyclic(t *testing.T) {
	f := NewFeeder(Cyclic, idRows(3)...)
	takeIDs(f, 2)
	f.Fill(idRows(2))
	if got, want := takeIDs(f, 3), []string{"0", "1", "0"}; !slices.Equal(got, want) {
		t.Errorf("takes after Fill %v, want %v", got, want)
	}
}

func TestReadCSVFeeder(t *testing.T) {
	f, err := ReadCSVFeeder(filepath.Join("testdata", "feeder", "accounts.csv"), Cyclic)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{"username": "u1", "password": "p1", "note": "plain"},
		{"username": "u2", "password": "p2", "note": "with, comma"},
		{"username": "u3", "password": "p3", "note": "two\nlines"},
		{"username": "u4", "password": "p4", "note": ""},
	}
	if f.Len() != len(want) {
		t.Fatalf("Len %d, want %d", f.Len(), len(want))
	}
	for i, w := range want {
		got, _ := f.Take()
		if !maps.Equal(got, w) {
			t.Errorf("row %d: %q, want %q", i, got, w)
		}
	}
	rows, err := ReadCSVRows(filepath.Join("testdata", "feeder", "accounts.csv"))
	if err != nil || !slices.EqualFunc(rows, want, maps.Equal) {
		t.Errorf("ReadCSVRows: %q, error %v; want %q", rows, err, want)
	}
	bom, err := ReadCSVFeeder(filepath.Join("testdata", "feeder", "bom.csv"), Unique)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := bom.Take(); r["username"] != "u1" {
		t.Errorf("a file starting with a byte order mark: row %q, want username u1", r)
	}
}

func TestReadCSVFeederErrors(t *testing.T) {
	tests := []struct {
		file string
		want string // in the error, after the file's name
	}{
		{"empty.csv", "no header line"},
		{"header_only.csv", "no rows after the header line"},
		{"ragged.csv", "line 3: wrong number of fields"},
		{"duplicate_column.csv", `header on line 1: column "username" named twice`},
		{"nameless_column.csv", "header on line 1: column 2 has no name"},
		{"open_quote.csv", "line 3"},
		{"missing.csv", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "feeder", tt.file)
			f, err := ReadCSVFeeder(path, Unique)
			if err == nil {
				t.Fatalf("no error; %d rows", f.Len())
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want one naming %s and saying %q", msg, path, tt.want)
			}
			if rows, err := ReadCSVRows(path); err == nil {
				t.Errorf("ReadCSVRows: no error; %d rows", len(rows))
			}
		})
	}
}

// pythonAccounts is what a Locust 2.12.1 master sends (msgpack 1.0.3,
// msgpack.dumps((type, data, node_id))) for
//
//	runner.send_message("accounts", [
//	    {"username": "u1", "password": "p1", "id": 7, "score": 1.5, "vip": True, "note": None},
//	    {"username": "u2", "password": "p2", "id": 2**64-1, "score": -2.0, "vip": False, "note": b"raw"}])
const pythonAccounts = "93a86163636f756e74739286a8757365726e616d65a27531a870617373776f7264a27031a2696407a573636f7265cb3ff8000000000000a3766970c3a46e6f7465c086a8757365726e616d65a27532a870617373776f7264a27032a26964cfffffffffffffffffa573636f7265cbc000000000000000a3766970c2a46e6f7465c403726177ab6d61737465725f6e6f6465"

// pythonMessage decodes a master's message body given in hex.
func pythonMessage(t *testing.T, body string) Message {
	t.Helper()
	b, err := hex.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := env.Message.(protocol.CustomMessage)
	if !ok {
		t.Fatalf("decoded %T, want a custom message", env.Message)
	}
	return Message{Type: m.MessageType, Data: m.Data}
}

func TestFeederReceivePythonAccounts(t *testing.T) {
	f := NewFeeder(Unique)
	f.Receive(context.Background(), pythonMessage(t, pythonAccounts))
	if err := f.Err(); err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{"username": "u1", "password": "p1", "id": "7", "score": "1.5", "vip": "true", "note": ""},
		{"username": "u2", "password": "p2", "id": "18446744073709551615", "score": "-2", "vip": "false", "note": "raw"},
	}
	for i, w := range want {
		got, ok := f.Take()
		if !ok || !maps.Equal(got, w) {
			t.Errorf("row %d: %q %v, want %q", i, got, ok, w)
		}
	}
}

func TestFeederReceiveShapes(t *testing.T) {
	tests := []struct {
		name string
		data any
		want []string // usernames; nil when the message is refused
	}{
		{"generic values", []any{map[string]any{"username": "a"}, map[string]any{"username": "b"}}, []string{"a", "b"}},
		{"Go maps, standalone", []map[string]string{{"username": "a"}}, []string{"a"}},
		{"rows, standalone", []Row{{"username": "a"}, {"username": "b"}}, []string{"a", "b"}},
		{"structs, standalone", []struct {
			Username string `codec:"username"`
		}{{"a"}}, []string{"a"}},
		{"empty list", []any{}, []string{}},
		{"nil", nil, nil},
		{"a string", "accounts", nil},
		{"a number", int64(3), nil},
		{"a map", map[string]any{"username": "a"}, nil},
		{"a list of strings", []any{"a"}, nil},
		{"a None item", []any{nil}, nil},
		{"a list value", []any{map[string]any{"username": []any{"a"}}}, nil},
		{"a map value", []any{map[string]any{"username": map[string]any{"x": "a"}}}, nil},
		{"non-string keys", []any{map[any]any{int64(1): "a"}}, nil},
		{"a channel", make(chan int), nil},
		{"a func", func() {}, nil},
		{"bytes", []byte("accounts"), nil},
		{"a list of channels", []chan int{make(chan int)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFeeder(Cyclic, Row{"username": "before"})
			f.Receive(context.Background(), Message{Type: "accounts", Data: tt.data})
			if tt.want == nil {
				if f.Err() == nil {
					t.Error("no error")
				}
				if got := takeIDsBy(f, "username", 1); got[0] != "before" {
					t.Errorf("a refused message changed the rows: took %v", got)
				}
				return
			}
			if err := f.Err(); err != nil {
				t.Fatal(err)
			}
			if got := takeIDsBy(f, "username", f.Len()); !slices.Equal(got, tt.want) {
				t.Errorf("rows %v, want %v", got, tt.want)
			}
		})
	}
}

// takeIDsBy takes n rows and returns their values of column.
func takeIDsBy(f *Feeder, column string, n int) []string {
	out := []string{}
	for range n {
		r, ok := f.Take()
		if !ok {
			out = append(out, "-")
			continue
		}
		out = append(out, r[column])
	}
	return out
}

// TestFeederReceiveThroughHooks hands the Python master's message to the
// worker's message queue, as the session does, with the feeder's Receive
// registered in Hooks.Messages.
func TestFeederReceiveThroughHooks(t *testing.T) {
	accounts := NewFeeder(Unique)
	hooks := &Hooks{Messages: map[string]func(context.Context, Message){"accounts": accounts.Receive}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q := newMessageQueue([]*Hooks{hooks}, func(ctx context.Context) context.Context { return ctx }, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() { q.run(ctx); close(done) }()
	if err := q.push(pythonMessage(t, pythonAccounts)); err != nil {
		t.Fatal(err)
	}
	q.waitHandled(ctx, q.mark(), time.Minute)
	cancel()
	<-done
	if got, want := takeIDsBy(accounts, "username", 3), []string{"u1", "u2", "-"}; !slices.Equal(got, want) {
		t.Errorf("users took %v, want %v", got, want)
	}
}

func FuzzReadCSVFeeder(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "feeder", "*.csv"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a\n\"\"\"\n"))
	f.Add([]byte("\ufeff\n\n,\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		feeder, err := NewCSVFeeder(bytes.NewReader(data), Unique)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "worker: feeder: ") {
				t.Errorf("error %q without the package's prefix", err)
			}
			return
		}
		n := feeder.Len()
		if n == 0 {
			t.Fatal("a feeder without rows and no error")
		}
		var rows []Row
		for range n {
			r, ok := feeder.Take()
			if !ok {
				t.Fatalf("Take refused with %d of %d rows taken", len(rows), n)
			}
			rows = append(rows, r)
		}
		if _, ok := feeder.Take(); ok {
			t.Fatal("Take handed out a row beyond Len")
		}
		columns := len(rows[0])
		for i, r := range rows {
			if len(r) != columns || len(r) == 0 {
				t.Fatalf("row %d has %d columns, row 0 %d", i, len(r), columns)
			}
			if _, ok := r[""]; ok {
				t.Fatalf("row %d has a column without a name", i)
			}
			feeder.Return(r)
		}
		if feeder.Free() != n {
			t.Fatalf("Free %d after returning all %d", feeder.Free(), n)
		}
	})
}
