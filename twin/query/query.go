// Package query is IoT Hub's twin query language over a set of twins:
//
//	SELECT [TOP n] * | expr [AS name], ... | COUNT() / SUM(x) / AVG(x) / MIN(x) / MAX(x) [AS name]
//	FROM devices
//	[WHERE condition]
//	[GROUP BY expr, ...]
//
// Conditions use = != <> < > <= >=, AND OR NOT, parentheses, + - * / %, IN [...],
// NIN [...] (also NOT IN), IS_DEFINED, IS_NULL, IS_BOOL, IS_NUMBER, IS_STRING, IS_OBJECT,
// IS_ARRAY, IS_PRIMITIVE, STARTSWITH, ENDSWITH and CONTAINS (STARTS_WITH and ENDS_WITH
// accepted too), over paths into deviceId and the identity attributes (names matched
// case-insensitively, as IoT Hub does), tags.*, properties.desired.* and
// properties.reported.*, with $version and $metadata (…$metadata.a.b.$lastUpdated,
// $lastUpdatedVersion). Members are written a.b, a['odd name'] or a[0]. Constants:
// 'strings' or "strings" with \' \" \\ \/ \b \f \n \r \t \uXXXX, numbers (1, 2.5, 1e3,
// 0x1F), true, false, null, undefined. Keywords and function names are case-insensitive;
// property names below the top level are not. FROM devices.modules and devices.jobs are
// refused: this hub has device twins only.
//
// Semantics follow IoT Hub: a missing property is undefined; comparisons are defined only
// between primitives of the same kind, anything else is undefined, and a condition passes
// only if it is boolean true. So `properties.reported.fw != '2.1'` does not select twins
// that have no reported fw. IN is true when the value equals an element and false for any
// other primitive; NIN is its negation; both are undefined for a missing property. Time
// attributes (lastActivityTime, statusUpdateTime, $lastUpdated) compare with a string
// that reads as a time by instant, so '2026-11-27T09:00:00Z' and
// '2026-11-27T09:00:00.0000000Z' are the same.
//
// A projected path is named by its last member (tags.region -> "region"; identity
// attributes by their canonical spelling, DeviceId -> "deviceId"); other unnamed items
// are "$1", "$2", …. In an aggregate query every plain item must be a GROUP BY
// expression. GROUP BY takes up to 4 expressions. A query is at most 8192 characters.
//
// A parsed Query is immutable and safe for concurrent use. Query.Run and Query.Match walk
// each twin's maps; a Table keeps twins with a column index maintained through Put,
// Delete and Changed, and Table.Run (or Aggregator.AddTable, Table.Select) answers the
// same query from contiguous columns, tens of times faster over a large fleet.
package query

import (
	"iter"
	"slices"
	"strings"

	"github.com/twinops/twinops/twin"
)

// Item types of a Result, as IoT Hub's x-ms-item-type header names them.
const (
	ItemTwin = "twin" // rows are whole twins (SELECT *)
	ItemRaw  = "raw"  // rows are JSON objects (projections and aggregates)
)

// Query is a parsed and compiled query.
type Query struct {
	src        string
	st         *stmt
	match      condFn   // nil: no WHERE
	projectFns []exprFn // per select item; nil for aggregates
	groupBy    []exprFn
	groupSlots []int     // the column slot of each GROUP BY path; -1 for other expressions
	aggs       []aggSpec // per select item (fn "" for plain items)
	agg        bool
	cols       []colPath // the paths a Table may answer from columns, by slot
}

// Result is the outcome of Run.
type Result struct {
	// Rows are JSON-marshalable: for SELECT * the *twin.Doc values themselves (not
	// copies), ordered by deviceId; for projections map[string]any objects, ordered by
	// deviceId; for aggregates one map[string]any per group, ordered by the GROUP BY
	// values (undefined first, then null, booleans, numbers, strings). Members whose value
	// is undefined are left out of a row, as IoT Hub does.
	Rows []any
	// ItemType is ItemTwin for SELECT * and ItemRaw otherwise.
	ItemType string
}

// Parse parses and compiles a full query (SELECT ... FROM devices ...). A malformed query
// gets a *SyntaxError saying where and what was expected.
func Parse(s string) (*Query, error) {
	p, err := newParser(s)
	if err != nil {
		return nil, err
	}
	st, err := p.parseStmt()
	if err = p.pick(err); err != nil {
		return nil, err
	}
	return build(s, st)
}

// ParseWhere parses what an operator types at the console's query prompt: a bare
// condition (`tags.ring = 'canary'`, optionally starting with WHERE), or a full query
// starting with SELECT. An empty condition selects every twin. Positions in errors are
// relative to s.
func ParseWhere(s string) (*Query, error) {
	p, err := newParser(s)
	if err != nil {
		return nil, err
	}
	if p.peek().isWord("SELECT") {
		return Parse(s)
	}
	st, err := p.parseCondition()
	if err = p.pick(err); err != nil {
		return nil, err
	}
	return build(s, st)
}

// parseCondition parses [WHERE] condition as SELECT * FROM devices WHERE condition.
func (p *parser) parseCondition() (*stmt, error) {
	st := &stmt{star: true, top: -1}
	if p.peek().isWord("WHERE") {
		p.next()
	}
	if p.peek().kind == tEOF && p.i == 0 {
		return st, nil
	}
	w, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errHere("expected AND, OR or the end of the condition, found %s%s", t.describe(), unsupported(t))
	}
	st.where = w
	return st, nil
}

// build checks the select list against GROUP BY and compiles everything.
func build(src string, st *stmt) (*Query, error) {
	q := &Query{src: src, st: st, agg: len(st.groupBy) > 0}
	var c compiler
	if st.where != nil {
		q.match = c.cond(st.where)
	}
	for _, it := range st.items {
		if it.agg != nil {
			q.agg = true
		}
	}
	if st.star && q.agg {
		return nil, errAt(src, st.groupBy[0].offset(), "GROUP BY needs a select list of the grouped properties and aggregates, not *; e.g. SELECT %s AS k, COUNT() AS n FROM devices GROUP BY %s", st.groupBy[0], st.groupBy[0])
	}
	if len(st.groupBy) > maxGroupKeys {
		return nil, errAt(src, st.groupBy[maxGroupKeys].offset(), "GROUP BY takes at most %d properties", maxGroupKeys)
	}
	for _, g := range st.groupBy {
		q.groupBy = append(q.groupBy, c.compile(g))
		slot := -1
		if p, ok := g.(*pathExpr); ok {
			if s, ok := c.slot(p, compilePath(p)); ok {
				slot = s
			}
		}
		q.groupSlots = append(q.groupSlots, slot)
	}
	for _, it := range st.items {
		spec, err := q.compileItem(&c, src, it)
		if err != nil {
			return nil, err
		}
		q.aggs = append(q.aggs, spec)
	}
	q.cols = c.cols
	return q, nil
}

// compileItem compiles one projection. In an aggregate query a plain item must be one of
// the GROUP BY expressions.
func (q *Query) compileItem(c *compiler, src string, it selItem) (aggSpec, error) {
	if it.agg != nil {
		spec := aggSpec{fn: it.agg.fn, name: it.name, group: -1}
		if it.agg.arg != nil {
			spec.arg = c.compile(it.agg.arg)
		}
		q.projectFns = append(q.projectFns, nil)
		return spec, nil
	}
	q.projectFns = append(q.projectFns, c.compile(it.e))
	spec := aggSpec{name: it.name, group: -1}
	if !q.agg {
		return spec, nil
	}
	for i, g := range q.st.groupBy {
		if g.String() == it.e.String() {
			spec.group = i
			return spec, nil
		}
	}
	if len(q.st.groupBy) == 0 {
		return spec, errAt(src, it.off, "%s is not an aggregate: with COUNT/SUM/AVG/MIN/MAX, other select items must be grouped (GROUP BY %s)", it.e, it.e)
	}
	return spec, errAt(src, it.off, "%s is neither in GROUP BY nor inside an aggregate", it.e)
}

// String returns the query as it was given.
func (q *Query) String() string { return q.src }

// Match reports whether the twin passes the WHERE condition (true when there is none).
func (q *Query) Match(d *twin.Doc) bool {
	return q.matchCtx(evalCtx{d: d})
}

func (q *Query) matchCtx(x evalCtx) bool {
	return q.match == nil || q.match(x) == tTrue
}

// Aggregate reports whether the query aggregates (COUNT/SUM/AVG/MIN/MAX or GROUP BY):
// its rows are groups, not twins.
func (q *Query) Aggregate() bool { return q.agg }

// SelectAll reports whether the query is SELECT * (rows are whole twins).
func (q *Query) SelectAll() bool { return q.st.star }

// Top returns n of SELECT TOP n, or -1 when the query has no TOP.
func (q *Query) Top() int { return q.st.top }

// Run evaluates the query over docs. It reads each doc only while the iterator yields it
// (so a caller may hold a lock per doc or per shard while yielding) and never modifies
// one. Rows share no memory with the docs, except the rows of SELECT *, which are the
// matching docs themselves: a caller whose docs may change must encode or clone those
// before letting go of them. The error is reserved for evaluation failures; the current
// language has none, so it is always nil.
func (q *Query) Run(docs iter.Seq[*twin.Doc]) (*Result, error) {
	if q.agg {
		return &Result{Rows: q.aggregate(docs), ItemType: ItemRaw}, nil
	}
	var hits []hit
	for d := range docs {
		if x := (evalCtx{d: d}); q.matchCtx(x) {
			hits = append(hits, hit{d.DeviceID, q.project(x)})
		}
	}
	return q.result(hits), nil
}

// hit is a twin that passed the WHERE condition: its id and its row.
type hit struct {
	id  string
	row any
}

// result sorts hits by device id, applies TOP and makes the Result.
func (q *Query) result(hits []hit) *Result {
	slices.SortFunc(hits, func(a, b hit) int { return strings.Compare(a.id, b.id) })
	if q.st.top >= 0 && len(hits) > q.st.top {
		hits = hits[:q.st.top]
	}
	res := &Result{Rows: make([]any, len(hits)), ItemType: ItemRaw}
	if q.st.star {
		res.ItemType = ItemTwin
	}
	for i, h := range hits {
		res.Rows[i] = h.row
	}
	return res
}

// Project returns the projection row of one twin for a non-aggregate query with a select
// list (undefined members left out). For SELECT * it returns d itself.
func (q *Query) Project(d *twin.Doc) any {
	return q.project(evalCtx{d: d})
}

func (q *Query) project(x evalCtx) any {
	if q.st.star {
		return x.d
	}
	row := make(map[string]any, len(q.projectFns))
	for i, f := range q.projectFns { // toAny copies objects and arrays
		if f == nil {
			continue
		}
		if x, ok := f(x).toAny(); ok {
			row[q.aggs[i].name] = x
		}
	}
	return row
}

// sortGroups orders groups by their GROUP BY values.
func sortGroups(gs []*group) {
	slices.SortStableFunc(gs, func(a, b *group) int {
		for i := range a.keys {
			if c := order(a.keys[i], b.keys[i]); c != 0 {
				return c
			}
		}
		return 0
	})
}
