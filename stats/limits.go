package stats

import (
	"log/slog"
	"sync"
)

// This file owns the cap on a collector's distinct rows: beyond it, new
// request rows merge into one OtherName row and new failure rows into one
// OtherErrorsText row, so that names or error texts that differ per
// request (ids in URLs, per-connection details) cost neither unbounded
// memory nor unbounded reports, and every request and failure is still
// counted.

// Default caps on a collector's distinct rows, from its creation or its
// last Clear; see [Collector.SetLimits].
const (
	DefaultMaxRows      = 10000
	DefaultMaxErrorRows = 1000
)

// The overflow rows. Requests of rows beyond the cap are counted in the
// row with Method "" and Name OtherName; failures beyond the cap in the
// failure row with that key and the text OtherErrorsText.
const (
	OtherName       = "[other]"
	OtherErrorsText = "[other errors]"
)

var (
	otherKey      = Key{Name: OtherName}
	otherErrorKey = errorKey{Key: otherKey, text: OtherErrorsText}
)

// rowLimit admits a collector's distinct request and failure rows up to
// their caps and sends the rest to the overflow rows. A shard asks it only
// for a key it does not hold yet, so the lock is rare once rows are known.
type rowLimit struct {
	mu                   sync.Mutex
	maxRows, maxErrors   int
	rows                 map[Key]struct{}
	errors               map[errorKey]struct{}
	logger               *slog.Logger // nil means slog.Default()
	rowsFull, errorsFull bool         // the overflow was logged since the last clear
}

func newRowLimit() *rowLimit {
	return &rowLimit{
		maxRows:   DefaultMaxRows,
		maxErrors: DefaultMaxErrorRows,
		rows:      make(map[Key]struct{}),
		errors:    make(map[errorKey]struct{}),
	}
}

// row returns k when it is admitted (or can be, under the cap), else the
// overflow row's key.
func (l *rowLimit) row(k Key) Key {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.rows[k]; ok || k == otherKey {
		return k
	}
	if len(l.rows) < l.maxRows {
		l.rows[k] = struct{}{}
		return k
	}
	if !l.rowsFull {
		l.rowsFull = true
		l.log().Warn("too many distinct request names: the requests of new ones are counted in one row",
			"limit", l.maxRows, "row", OtherName, "first_merged", k.Method+" "+k.Name)
	}
	return otherKey
}

// error is row for failure rows.
func (l *rowLimit) error(k errorKey) errorKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.errors[k]; ok || k == otherErrorKey {
		return k
	}
	if len(l.errors) < l.maxErrors {
		l.errors[k] = struct{}{}
		return k
	}
	if !l.errorsFull {
		l.errorsFull = true
		l.log().Warn("too many distinct failures: new ones are counted in one row",
			"limit", l.maxErrors, "row", OtherName, "error", OtherErrorsText, "first_merged", k.text)
	}
	return otherErrorKey
}

func (l *rowLimit) log() *slog.Logger {
	if l.logger != nil {
		return l.logger
	}
	return slog.Default()
}

// clear forgets the admitted rows, for a new test.
func (l *rowLimit) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.rows)
	clear(l.errors)
	l.rowsFull, l.errorsFull = false, false
}

// SetLimits caps the distinct request rows and failure rows the collector
// keeps from now until the next Clear (rows it has already admitted
// stay): the requests of further rows are counted in the row named
// OtherName, their failures in the failure row OtherErrorsText, and the
// first overflow of each kind is logged. A cap below 1 means 1. The
// defaults are DefaultMaxRows and DefaultMaxErrorRows.
func (c *Collector) SetLimits(maxRows, maxErrorRows int) {
	c.limit.mu.Lock()
	defer c.limit.mu.Unlock()
	c.limit.maxRows, c.limit.maxErrors = max(maxRows, 1), max(maxErrorRows, 1)
}

// SetLogger sets where the collector logs that a cap on rows was reached;
// nil, the default, means slog.Default().
func (c *Collector) SetLogger(l *slog.Logger) {
	c.limit.mu.Lock()
	defer c.limit.mu.Unlock()
	c.limit.logger = l
}

// NewTest gives a new test the whole of the caps: the rows admitted so far
// are forgotten (a worker serves test after test), while what was recorded
// stays for the next report.
func (c *Collector) NewTest() { c.limit.clear() }
