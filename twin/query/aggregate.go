package query

import (
	"encoding/json"
	"iter"

	"github.com/twinops/twinops/twin"
)

// maxGroupKeys is the most GROUP BY expressions a query may have.
const maxGroupKeys = 4

// aggSpec describes one select item of an aggregate query.
type aggSpec struct {
	fn    string // "COUNT", "SUM", "AVG", "MIN", "MAX"; "" for a grouped property
	arg   evalFn // nil for COUNT()
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

// groups is the aggregation state of one scan.
type groups struct {
	byKey map[groupKey]*group
	list  []*group // in creation order
}

func (q *Query) newGroups() *groups {
	gs := &groups{byKey: make(map[groupKey]*group)}
	if len(q.groupBy) == 0 { // one group, even over no twins: COUNT() of nothing is 0
		gs.add(&group{accs: make([]acc, len(q.aggs))})
	}
	return gs
}

func (gs *groups) add(g *group) {
	gs.byKey[g.key] = g
	gs.list = append(gs.list, g)
}

// aggregate runs an aggregate query: one row per group, or exactly one row when there is
// no GROUP BY.
func (q *Query) aggregate(docs iter.Seq[*twin.Doc]) []any {
	all := q.scanGroups(docs)
	sortGroups(all.list)
	list := all.list
	if q.st.top >= 0 && len(list) > q.st.top {
		list = list[:q.st.top]
	}
	rows := make([]any, len(list))
	for i, g := range list {
		rows[i] = q.groupRow(g)
	}
	return rows
}

// scanGroups groups and accumulates the matching docs.
func (q *Query) scanGroups(docs iter.Seq[*twin.Doc]) *groups {
	gs := q.newGroups()
	keys := make([]value, len(q.groupBy))
	for d := range docs {
		if q.match != nil && !q.match(d).isTrue() {
			continue
		}
		var k groupKey
		for i, f := range q.groupBy {
			keys[i] = f(d)
			k[i] = groupKeyOf(keys[i])
		}
		g := gs.byKey[k]
		if g == nil {
			g = &group{key: k, keys: ownKeys(keys), accs: make([]acc, len(q.aggs))}
			gs.add(g)
		}
		q.accumulate(g, d)
	}
	return gs
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

func (q *Query) accumulate(g *group, d *twin.Doc) {
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
