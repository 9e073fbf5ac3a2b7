package worker

// This file owns Feeder, a test's data handed out to its users: rows of
// strings by column name, read from a CSV file or received from the
// master in a custom message (Locust's runner.send_message), each given
// to one user at a time (Unique), in turn (Cyclic) or at random (Random).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Row is one row of test data: its values by column name, e.g.
// row["username"]. Rows a [Feeder] hands out are shared with it: read
// them, do not modify them.
type Row map[string]string

// FeedOrder is how a [Feeder] hands out its rows.
type FeedOrder int

const (
	// Unique, the default, hands each row to at most one holder at a
	// time, in order; a holder gives it back with [Feeder.Return] (from
	// OnStop, say) and it goes to the back of the queue. When every row
	// is held, Take reports none.
	Unique FeedOrder = iota
	// Cyclic hands the rows out in order and wraps around: a row may go
	// to several holders at once. Return does nothing.
	Cyclic
	// Random hands out a row picked at random each time: a row may go to
	// several holders at once. Return does nothing.
	Random
)

// String returns the order's name, e.g. "Unique".
func (o FeedOrder) String() string {
	switch o {
	case Unique:
		return "Unique"
	case Cyclic:
		return "Cyclic"
	case Random:
		return "Random"
	}
	return "FeedOrder(" + strconv.Itoa(int(o)) + ")"
}

// Feeder hands rows of test data to users, like a CSV data set: each
// user takes one in OnStart and, with [Unique], returns it in OnStop, so
// that no two users ever hold the same row (an account logged in twice).
// Its rows come from [NewFeeder], a CSV file ([ReadCSVFeeder]) or, in a
// worker, the master's custom messages ([Feeder.Receive]). A Feeder is
// safe for concurrent use; Take and Return cost O(1) and allocate
// nothing. The zero Feeder is an empty Unique feeder.
type Feeder struct {
	mu    sync.Mutex
	order FeedOrder
	rows  []Row
	next  int        // Cyclic: the next row to hand out
	rnd   *rand.Rand // Random: nil for math/rand/v2's global source
	err   error      // why Receive last refused a message

	// Unique: rows are told apart by their values (keys), so that a row
	// held stays held when Fill brings it again, however many fills
	// later; a row handed out is known by its map's address while held.
	keys   []string          // rowKey of rows[i]
	byKey  map[string][]int  // the indices of the rows of each key
	held   map[string]int    // holders of a row of each key; outlives Fill
	out    map[uintptr]taken // the rows handed out and not returned, by address
	free   []int             // a ring of the indices free to hand out, oldest first
	inRing []bool            // rows[i] is in free
	head   int               // free[head] is the next row to hand out
	nfree  int
}

// taken is a row handed out: kept here, so that its address is not reused
// while it is held.
type taken struct {
	row Row
	key string
}

// NewFeeder returns a feeder of rows, handed out in order. It keeps
// copies of the rows.
func NewFeeder(order FeedOrder, rows ...Row) *Feeder {
	f := &Feeder{order: order}
	f.Fill(rows)
	return f
}

// SetRand makes a [Random] feeder pick its rows with r (a seeded source
// gives the same picks every run) instead of math/rand/v2's global
// source. r is used with the feeder's lock held. SetRand returns f.
func (f *Feeder) SetRand(r *rand.Rand) *Feeder {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rnd = r
	return f
}

// Take hands out a row. It reports false when the feeder has no rows or,
// with [Unique], when every row is held.
func (f *Feeder) Take() (Row, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.rows)
	if n == 0 {
		return nil, false
	}
	switch f.order {
	case Cyclic:
		i := f.next
		f.next = (f.next + 1) % n
		return f.rows[i], true
	case Random:
		if f.rnd != nil {
			return f.rows[f.rnd.IntN(n)], true
		}
		return f.rows[rand.IntN(n)], true
	}
	for f.nfree > 0 {
		i := f.free[f.head]
		f.head = (f.head + 1) % n
		f.nfree--
		f.inRing[i] = false
		k := f.keys[i]
		if f.held[k] > 0 {
			continue // an equal row is held: its Return brings this one back
		}
		f.held[k]++
		f.out[rowID(f.rows[i])] = taken{row: f.rows[i], key: k}
		return f.rows[i], true
	}
	return nil, false
}

// Return gives back a row Take handed out, once: with [Unique] another
// holder may take it (or the row of its values Fill brought since) now.
// Returning nil or a row not held does nothing.
func (f *Feeder) Return(r Row) {
	if r == nil {
		return
	}
	id := rowID(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.out[id]
	if !ok {
		return
	}
	delete(f.out, id)
	if f.held[t.key]--; f.held[t.key] <= 0 {
		delete(f.held, t.key)
	}
	for _, i := range f.byKey[t.key] {
		if !f.inRing[i] {
			f.push(i)
			return
		}
	}
}

// push puts row i at the back of the free ring.
func (f *Feeder) push(i int) {
	f.free[(f.head+f.nfree)%len(f.rows)] = i
	f.nfree++
	f.inRing[i] = true
}

// Len returns the number of rows.
func (f *Feeder) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.rows)
}

// Free returns the number of rows Take can hand out now: with [Unique]
// those whose values no holder holds, otherwise all of them.
func (f *Feeder) Free() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.order == Cyclic || f.order == Random {
		return len(f.rows)
	}
	n := 0
	for k, idx := range f.byKey {
		if f.held[k] == 0 && len(idx) > 0 {
			n++
		}
	}
	return n
}

// Fill replaces the feeder's rows with copies of rows, as a worker does
// when its master sends new test data; [Cyclic] starts over from the
// first. The holders of old rows keep them. With [Unique], a new row
// whose values a holder still holds (from any earlier fill) is handed out
// only after that holder returns its row, so that a master sending the
// same data again never makes a row held twice.
func (f *Feeder) Fill(rows []Row) {
	fresh := make([]Row, len(rows))
	for i, r := range rows {
		fresh[i] = make(Row, len(r))
		for k, v := range r {
			fresh[i][k] = v
		}
	}
	f.fill(fresh)
}

// fill replaces the rows with rows, which nobody else has.
func (f *Feeder) fill(rows []Row) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rows, f.next, f.head, f.nfree = rows, 0, 0, 0
	if f.held == nil {
		f.held, f.out = map[string]int{}, map[uintptr]taken{}
	}
	f.keys = make([]string, len(rows))
	f.byKey = make(map[string][]int, len(rows))
	f.free = make([]int, len(rows))
	f.inRing = make([]bool, len(rows))
	for i, r := range rows {
		k := rowKey(r)
		f.keys[i] = k
		f.byKey[k] = append(f.byKey[k], i)
		if f.held[k] == 0 {
			f.push(i)
		}
	}
}

// rowID is a row's identity while it is held: its map's address, which
// the feeder's own reference (Feeder.out) keeps from being reused.
func rowID(r Row) uintptr { return reflect.ValueOf(r).Pointer() }

// rowKey is a row's values as one string, equal for equal rows.
func rowKey(r Row) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(strconv.Quote(k))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(r[k]))
		b.WriteByte(',')
	}
	return b.String()
}

// ReadCSVFeeder returns a feeder of the rows of a CSV file, read by
// [ReadCSVRows].
func ReadCSVFeeder(path string, order FeedOrder) (*Feeder, error) {
	rows, err := ReadCSVRows(path)
	if err != nil {
		return nil, err
	}
	f := &Feeder{order: order}
	f.fill(rows)
	return f, nil
}

// ReadCSVRows returns the rows of a CSV file, for [Feeder.Fill]: its
// first line names the columns, each further line is a row (blank lines
// are skipped, fields may be quoted as encoding/csv reads them). A file
// without rows, a row whose field count differs from the header's, or a
// header naming a column twice or not at all is an error naming the file
// and the line.
func ReadCSVRows(path string) ([]Row, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("worker: feeder: %w", err)
	}
	defer file.Close()
	rows, err := readCSVRows(file)
	if err != nil {
		return nil, fmt.Errorf("worker: feeder %s: %w", path, err)
	}
	return rows, nil
}

// NewCSVFeeder is [ReadCSVFeeder] reading the CSV text from r.
func NewCSVFeeder(r io.Reader, order FeedOrder) (*Feeder, error) {
	rows, err := readCSVRows(r)
	if err != nil {
		return nil, fmt.Errorf("worker: feeder: %w", err)
	}
	f := &Feeder{order: order}
	f.fill(rows)
	return f, nil
}

// readCSVRows reads a header line and the rows after it, skipping the
// UTF-8 byte order mark some spreadsheets write first.
func readCSVRows(r io.Reader) ([]Row, error) {
	br := bufio.NewReader(r)
	if start, _ := br.Peek(3); bytes.Equal(start, []byte("\uFEFF")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty: no header line")
	}
	if err != nil {
		return nil, err
	}
	if err := checkHeader(header); err != nil {
		line, _ := cr.FieldPos(0)
		return nil, fmt.Errorf("header on line %d: %w", line, err)
	}
	var rows []Row
	for {
		record, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err // a *csv.ParseError: it names the line
		}
		row := make(Row, len(header))
		for i, name := range header {
			row[name] = record[i]
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errors.New("no rows after the header line")
	}
	return rows, nil
}

// checkHeader refuses a column without a name or named twice.
func checkHeader(header []string) error {
	seen := make(map[string]bool, len(header))
	for i, name := range header {
		if name == "" {
			return fmt.Errorf("column %d has no name", i+1)
		}
		if seen[name] {
			return fmt.Errorf("column %q named twice", name)
		}
		seen[name] = true
	}
	return nil
}

// Receive is a handler for [Hooks.Messages]: it fills the feeder (see
// [Feeder.Fill]) with the rows of the master's message, a list of maps
// of strings, as a locustfile sends with
//
//	runner.send_message("accounts", [{"username": "u1", "password": "p1"}, ...])
//
// Numbers and booleans become their text, None the empty string. A
// message of another shape (not a list, an item not a map, a value a list
// or a map) changes nothing; [Feeder.Err] tells why.
func (f *Feeder) Receive(ctx context.Context, m Message) {
	rows, err := messageRows(m)
	if err != nil {
		f.mu.Lock()
		f.err = err
		f.mu.Unlock()
		return
	}
	f.fill(rows)
}

// Err returns why Receive refused the last message it refused, or nil
// when it refused none.
func (f *Feeder) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// messageRows decodes a message's list of maps into new rows.
func messageRows(m Message) ([]Row, error) {
	if k := reflect.ValueOf(m.Data).Kind(); k != reflect.Slice && k != reflect.Array {
		return nil, fmt.Errorf("worker: feeder: message %q: %T data, want a list of maps", m.Type, m.Data)
	}
	var items []map[string]any
	if err := m.Decode(&items); err != nil {
		return nil, fmt.Errorf("%w; a feeder wants a list of maps", err)
	}
	rows := make([]Row, len(items))
	for i, item := range items {
		if item == nil {
			return nil, fmt.Errorf("worker: feeder: message %q: item %d is not a map", m.Type, i)
		}
		rows[i] = make(Row, len(item))
		for k, v := range item {
			text, ok := cellText(v)
			if !ok {
				return nil, fmt.Errorf("worker: feeder: message %q: item %d: %q is a %T, want a string or a number", m.Type, i, k, v)
			}
			rows[i][k] = text
		}
	}
	return rows, nil
}

// cellText returns a scalar's text; false for a list, a map or another
// composite value.
func cellText(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case []byte:
		return string(v), true
	case bool:
		return strconv.FormatBool(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32), true
	case int, int8, int16, int32, uint, uint8, uint16, uint32:
		return fmt.Sprint(v), true
	}
	return "", false
}
