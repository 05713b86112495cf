package query

import (
	"iter"
	"sync"

	"github.com/twinops/twinops/twin"
)

// DefaultMaxColumns is the number of columns a Table keeps when NewTable is given 0.
const DefaultMaxColumns = 24

// Table holds a set of twins by device id together with a column index, so that a query
// reads contiguous per-path columns instead of walking every twin's maps.
//
// A column is built the first time a query reads its path (tags.region,
// properties.reported.firmware.status, connectionState, …): one value per row in a kind
// byte and 8 bytes of payload, strings interned per column (a low-cardinality column's
// strings stay in cache and compare fast), plus 24 bytes a row for time columns. So a
// column costs about 9 bytes a row (0.9 MB for 100,000 twins) plus its distinct strings.
// At most maxColumns columns are kept; the least recently read one makes room for a new
// one.
//
// Changes cost O(1): Put (insert or replace), Delete, and Changed (the twin was modified
// in place) mark the row with a change count; a query brings each column it reads up to
// date before reading it, recomputing the rows marked since that column was last read
// (columns it does not read wait for a query that does). Results are those of Query.Run over the same twins (in
// the order All yields them, which matters only for the rounding of SUM and AVG).
//
// Concurrency: a Table has its own mutex; every method may be called from any goroutine.
// A query holds it while it refreshes and scans, so queries over one Table run one at a
// time. The Table does not own the twins: the caller must not modify a twin while a query
// over the Table may read it, and must call Changed (or Put) after modifying one before
// the next query. The hub, for instance, modifies twins under a shard's write lock and
// queries under its read lock, where several queries may run at once: the Table's mutex
// serializes their refreshes.
type Table struct {
	mu      sync.Mutex
	byID    map[string]int // device id -> row
	docs    []*twin.Doc    // by row; nil: a free row
	ids     []string       // by row
	free    []int          // free rows
	changed []uint64       // by row: the change count when the row last changed
	changes uint64         // counts Put, Delete and Changed
	cols    map[string]*column
	maxCols int
	clock   uint64 // counts queries, for least-recently-used eviction

	directMin int // see column; a field so that tests can make it small
}

// NewTable returns an empty Table that keeps at most maxColumns columns
// (DefaultMaxColumns when maxColumns <= 0).
func NewTable(maxColumns int) *Table {
	if maxColumns <= 0 {
		maxColumns = DefaultMaxColumns
	}
	return &Table{byID: map[string]int{}, cols: map[string]*column{}, maxCols: maxColumns, directMin: 1024}
}

// Put inserts d, or replaces the twin with d's device id.
func (t *Table) Put(d *twin.Doc) {
	t.mu.Lock()
	defer t.mu.Unlock()
	row, ok := t.byID[d.DeviceID]
	if !ok {
		if n := len(t.free); n > 0 {
			row, t.free = t.free[n-1], t.free[:n-1]
		} else {
			row = len(t.docs)
			t.docs = append(t.docs, nil)
			t.ids = append(t.ids, "")
			t.changed = append(t.changed, 0)
		}
		t.byID[d.DeviceID] = row
		t.ids[row] = d.DeviceID
	}
	t.docs[row] = d
	t.mark(row)
}

// Delete removes the twin of device id, if the Table holds it.
func (t *Table) Delete(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	row, ok := t.byID[id]
	if !ok {
		return
	}
	delete(t.byID, id)
	t.docs[row], t.ids[row] = nil, ""
	t.free = append(t.free, row)
	t.mark(row)
}

// Changed records that the twin of device id was modified in place; the next query
// refreshes its row. Unknown ids are ignored.
func (t *Table) Changed(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if row, ok := t.byID[id]; ok {
		t.mark(row)
	}
}

func (t *Table) mark(row int) {
	t.changes++
	t.changed[row] = t.changes
}

// Len returns the number of twins.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// Columns returns the number of columns the Table keeps now.
func (t *Table) Columns() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.cols)
}

// All yields the twins in row order (the order queries over the Table visit them). It
// holds the Table's mutex while it runs: the loop body must not call the Table.
func (t *Table) All() iter.Seq[*twin.Doc] {
	return func(yield func(*twin.Doc) bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		for _, d := range t.docs {
			if d != nil && !yield(d) {
				return
			}
		}
	}
}

// Select yields the device id and twin of every twin that passes q's WHERE condition, in
// row order (not sorted; TOP is not applied). It holds the Table's mutex while it runs:
// the loop body must not call the Table, and must not keep d past the caller's own lock.
func (t *Table) Select(q *Query) iter.Seq2[string, *twin.Doc] {
	return func(yield func(string, *twin.Doc) bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		cs := t.prepare(q)
		for row, d := range t.docs {
			if d != nil && q.matchCtx(evalCtx{d: d, cs: cs, row: row}) && !yield(t.ids[row], d) {
				return
			}
		}
	}
}

// Run evaluates q over the twins of the Table, reading columns where it can. The result
// is what q.Run(t.All()) returns; its rows share no memory with the Table except, for
// SELECT *, the twins themselves (see Query.Run).
func (t *Table) Run(q *Query) (*Result, error) {
	if q.agg {
		a := q.NewAggregator()
		a.AddTable(t)
		return &Result{Rows: a.Rows(), ItemType: ItemRaw}, nil
	}
	var hits []hit
	t.mu.Lock()
	cs := t.prepare(q)
	for row, d := range t.docs {
		if x := (evalCtx{d: d, cs: cs, row: row}); d != nil && q.matchCtx(x) {
			hits = append(hits, hit{t.ids[row], q.project(x)})
		}
	}
	t.mu.Unlock()
	return q.result(hits), nil
}

// AddTable accumulates every twin of t that passes the WHERE condition, reading columns
// where it can. It holds t's mutex while it runs.
func (a *Aggregator) AddTable(t *Table) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q := a.q
	cs := t.prepare(q)
	var keyCols [maxGroupKeys]*column
	var cache map[cellKey]*group // cell contents of the GROUP BY columns -> group
	if len(q.groupBy) > 0 {
		cache = map[cellKey]*group{}
		for i, slot := range q.groupSlots {
			if slot < 0 || cs.cols[slot] == nil || cs.cols[slot].direct != nil { // direct: no codes
				cache = nil
				break
			}
			keyCols[i] = cs.cols[slot]
		}
	}
	for row, d := range t.docs {
		x := evalCtx{d: d, cs: cs, row: row}
		switch {
		case d == nil:
		case cache == nil:
			a.addCtx(x)
		case q.matchCtx(x):
			q.accumulate(a.cachedGroup(cache, keyCols[:len(q.groupBy)], x), x)
		}
	}
}

// cellKey is what the GROUP BY columns hold in one row: equal cellKeys are equal values,
// so within one AddTable (where codes do not change) a cellKey finds its group without
// evaluating and hashing the values. (Unequal cellKeys may still be one group, 0 and -0.)
type cellKey struct {
	kinds [maxGroupKeys]kind
	bits  [maxGroupKeys]uint64
}

// cachedGroup returns the group of row x.row through cache; rows whose key cells hold a
// time or an object take the ordinary way.
func (a *Aggregator) cachedGroup(cache map[cellKey]*group, cols []*column, x evalCtx) *group {
	var ck cellKey
	for i, col := range cols {
		k := col.kinds[x.row]
		if k == kTime || k == kObj {
			return a.groupOf(x)
		}
		ck.kinds[i], ck.bits[i] = k, col.bits[x.row]
	}
	g := cache[ck]
	if g == nil {
		g = a.groupOf(x)
		cache[ck] = g
	}
	return g
}

// prepare returns the columns q reads, bringing the existing ones up to date with the
// rows changed since they were last read and building the missing ones. Columns q does
// not read are left as they are until a query reads them. t.mu must be held.
func (t *Table) prepare(q *Query) *colSet {
	t.clock++
	cs := &colSet{cols: make([]*column, len(q.cols)), ids: t.ids}
	for slot, p := range q.cols { // first claim the columns that exist, so none is evicted
		if col := t.cols[p.key]; col != nil {
			col.used = t.clock
			t.refresh(col)
			cs.cols[slot] = col
		}
	}
	var missing []*column
	for slot, p := range q.cols {
		if cs.cols[slot] == nil && t.makeRoom() {
			col := newColumn(len(t.docs), t.directMin)
			col.tree, col.used, col.synced = p.tree, t.clock, t.changes
			t.cols[p.key] = col
			cs.cols[slot] = col
			missing = append(missing, col)
		}
	}
	t.build(missing)
	return cs
}

// refresh recomputes the rows of col that changed since it was last brought up to date:
// a pass over the rows' change counts (8 bytes a row, sequential) and a tree walk for
// each changed row.
func (t *Table) refresh(col *column) {
	if col.synced == t.changes {
		return
	}
	col.grow(len(t.docs))
	for row, at := range t.changed {
		if at > col.synced {
			v := undef
			if d := t.docs[row]; d != nil {
				v = col.tree(d)
			}
			col.set(row, v)
		}
	}
	col.synced = t.changes
}

// makeRoom evicts the least recently read column not read by the current query if the
// Table is full; false when every column is the current query's.
func (t *Table) makeRoom() bool {
	if len(t.cols) < t.maxCols {
		return true
	}
	var lru string
	for k, col := range t.cols {
		if col.used < t.clock && (lru == "" || col.used < t.cols[lru].used) {
			lru = k
		}
	}
	if lru == "" {
		return false
	}
	delete(t.cols, lru)
	return true
}

// build fills new columns over every row, twin by twin (a twin's maps are walked for
// all its new columns while they are in cache).
func (t *Table) build(cols []*column) {
	if len(cols) == 0 {
		return
	}
	for row, d := range t.docs {
		if d != nil {
			for _, col := range cols {
				col.set(row, col.tree(d))
			}
		}
	}
}
