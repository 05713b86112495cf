package query

import (
	"encoding/json"
	"iter"
	"slices"

	"github.com/twinops/twinops/twin"
)

// maxGroupKeys is the most GROUP BY expressions a query may have.
const maxGroupKeys = 4

// aggSpec describes one select item of an aggregate query.
type aggSpec struct {
	fn    string // "COUNT", "SUM", "AVG", "MIN", "MAX"; "" for a grouped property
	arg   exprFn // nil for COUNT()
	name  string // output member name
	group int    // index into GROUP BY for a grouped property, else -1
}

// acc accumulates one aggregate over the twins of a group.
type acc struct {
	count    float64 // COUNT: twins (or defined values); SUM/AVG: numbers seen
	sum      float64
	min, max value // kUndef until a primitive is seen
}

// group is one GROUP BY bucket.
type group struct {
	key  groupKey
	keys []value
	accs []acc
}

// groupKey identifies a group without allocating for primitive keys.
type groupKey [maxGroupKeys]scalarKey

// Aggregator accumulates an aggregate query over twins handed to it one at a time, so
// that a caller can scan shards of a fleet on separate goroutines (each under its own
// lock) and merge the partial results. Run uses one Aggregator over all its docs. An
// Aggregator is not safe for concurrent use; use one per goroutine.
type Aggregator struct {
	q     *Query
	byKey map[groupKey]*group
	list  []*group // in creation order
	keys  []value  // scratch for the current twin's GROUP BY values
}

// NewAggregator returns an empty Aggregator for an aggregate query (see Aggregate), or
// nil for a query whose rows are twins.
func (q *Query) NewAggregator() *Aggregator {
	if !q.agg {
		return nil
	}
	a := &Aggregator{q: q, byKey: make(map[groupKey]*group), keys: make([]value, len(q.groupBy))}
	if len(q.groupBy) == 0 { // one group, even over no twins: COUNT() of nothing is 0
		a.add(&group{accs: make([]acc, len(q.aggs))})
	}
	return a
}

func (a *Aggregator) add(g *group) {
	a.byKey[g.key] = g
	a.list = append(a.list, g)
}

// Add accumulates d if it passes the WHERE condition. It reads d only during the call
// and keeps nothing of it.
func (a *Aggregator) Add(d *twin.Doc) {
	a.addCtx(evalCtx{d: d})
}

func (a *Aggregator) addCtx(d evalCtx) {
	if a.q.matchCtx(d) {
		a.q.accumulate(a.groupOf(d), d)
	}
}

// groupOf returns the group of a twin that passed the WHERE condition, making it if it
// is the first of its group.
func (a *Aggregator) groupOf(d evalCtx) *group {
	var k groupKey
	for i, f := range a.q.groupBy {
		a.keys[i] = f(d)
		k[i] = groupKeyOf(a.keys[i])
	}
	g := a.byKey[k]
	if g == nil {
		g = &group{key: k, keys: ownKeys(a.keys), accs: make([]acc, len(a.q.aggs))}
		a.add(g)
	}
	return g
}

// Merge folds b (an Aggregator of the same query, over other twins) into a. b must not
// be used afterwards.
func (a *Aggregator) Merge(b *Aggregator) {
	for _, g := range b.list {
		into := a.byKey[g.key]
		if into == nil {
			a.add(g)
			continue
		}
		for i := range into.accs {
			x, y := &into.accs[i], g.accs[i]
			x.count += y.count
			x.sum += y.sum
			if y.min.k != kUndef {
				x.minMax(y.min)
			}
			if y.max.k != kUndef {
				x.minMax(y.max)
			}
		}
	}
}

// Rows returns the result rows so far: one per group ordered by the GROUP BY values
// (undefined first, then null, booleans, numbers, strings), cut to TOP n; exactly one
// row when there is no GROUP BY.
func (a *Aggregator) Rows() []any {
	list := slices.Clone(a.list)
	sortGroups(list)
	if top := a.q.st.top; top >= 0 && len(list) > top {
		list = list[:top]
	}
	rows := make([]any, len(list))
	for i, g := range list {
		rows[i] = a.q.groupRow(g)
	}
	return rows
}

// aggregate runs an aggregate query over docs.
func (q *Query) aggregate(docs iter.Seq[*twin.Doc]) []any {
	a := q.NewAggregator()
	for d := range docs {
		a.Add(d)
	}
	return a.Rows()
}

// ownKeys copies a group's key values, deep-copying objects and arrays, which would
// otherwise be the twin's own maps and slices.
func ownKeys(keys []value) []value {
	out := append([]value(nil), keys...)
	for i, v := range out {
		if v.k == kObj || v.k == kArr {
			out[i].r = deepCopy(v.r)
		}
	}
	return out
}

// groupKeyOf is keyOf extended to every kind: times, objects and arrays key by their
// JSON text (allocating, but grouping by those is rare).
func groupKeyOf(v value) scalarKey {
	switch v.k {
	case kTime:
		return scalarKey{k: kStr, s: formatTime(v.t)}
	case kObj, kArr:
		b, _ := json.Marshal(v.r)
		return scalarKey{k: v.k, s: string(b)}
	}
	return keyOf(v)
}

func (q *Query) accumulate(g *group, d evalCtx) {
	for i := range q.aggs {
		s := &q.aggs[i]
		if s.fn == "" {
			continue
		}
		a := &g.accs[i]
		if s.arg == nil { // COUNT()
			a.count++
			continue
		}
		v := s.arg(d)
		switch s.fn {
		case "COUNT":
			if v.k != kUndef {
				a.count++
			}
		case "SUM", "AVG":
			if v.k == kNum {
				a.count++
				a.sum += v.n
			}
		case "MIN", "MAX":
			a.minMax(v)
		}
	}
}

// minMax folds a value into MIN and MAX; only primitives count.
func (a *acc) minMax(v value) {
	if v.k < kNull || v.k > kTime {
		return
	}
	if a.min.k == kUndef || order(v, a.min) < 0 {
		a.min = v
	}
	if a.max.k == kUndef || order(v, a.max) > 0 {
		a.max = v
	}
}

// groupRow renders a group as a result row; undefined members are left out.
func (q *Query) groupRow(g *group) map[string]any {
	row := make(map[string]any, len(q.aggs))
	for i, s := range q.aggs {
		var v value
		a := g.accs[i]
		switch s.fn {
		case "":
			v = g.keys[s.group]
		case "COUNT":
			v = numv(a.count)
		case "SUM":
			v = numv(a.sum)
		case "AVG":
			if a.count > 0 {
				v = numv(a.sum / a.count)
			}
		case "MIN":
			v = a.min
		case "MAX":
			v = a.max
		}
		if x, ok := v.toAny(); ok {
			row[s.name] = x
		}
	}
	return row
}
