package query

import (
	"math"
	"strings"
	"time"

	"github.com/twinops/twinops/twin"
)

// exprFn evaluates a compiled expression in an evaluation context: one twin, and, when
// the query runs over a Table, the twin's row and the columns the query reads.
type exprFn func(x evalCtx) value

// evalCtx is what a compiled expression evaluates against. It is passed by value (three
// words, in registers) so that evaluating allocates nothing. With cs nil (Match, Run over
// an iterator) every path walks d's maps; with cs set, paths that have a column read row
// of it, and fall back to d for values a column does not hold (objects and arrays).
type evalCtx struct {
	d   *twin.Doc
	cs  *colSet
	row int
}

// colSet is the columns one query reads from a Table during one run.
type colSet struct {
	cols []*column // by the query's path slot; nil: that path walks the twin
	ids  []string  // the Table's device ids by row
}

// colPath is a path a Table can keep a column for: its canonical text (the column's key)
// and the tree evaluator that fills the column from a twin.
type colPath struct {
	key  string
	tree evalFn
}

// compilePathExpr compiles a path. deviceId reads the Table's ids; a path whose values
// are usually primitives gets a slot, so that over a Table it reads a column; other paths
// (whole sections, objects of $metadata, constants) always walk the twin.
func (c *compiler) compilePathExpr(p *pathExpr) exprFn {
	tree := compilePath(p)
	if len(p.segs) == 1 && p.segs[0].name == "deviceId" {
		return func(x evalCtx) value {
			if x.cs != nil {
				return strv(x.cs.ids[x.row])
			}
			return tree(x.d)
		}
	}
	slot, ok := c.slot(p, tree)
	if !ok {
		return func(x evalCtx) value { return tree(x.d) }
	}
	return func(x evalCtx) value {
		if x.cs != nil {
			if col := x.cs.cols[slot]; col != nil {
				return col.get(x.row, tree, x.d)
			}
		}
		return tree(x.d)
	}
}

// slot returns the column slot of path p (tree is its evaluator), or false when p has
// no column (see columnable).
func (c *compiler) slot(p *pathExpr, tree evalFn) (int, bool) {
	if !columnable(p) {
		return 0, false
	}
	key := p.String()
	slot, ok := c.slots[key]
	if !ok {
		if c.slots == nil {
			c.slots = map[string]int{}
		}
		slot = len(c.cols)
		c.slots[key] = slot
		c.cols = append(c.cols, colPath{key: key, tree: tree})
	}
	return slot, true
}

// columnable reports whether a column pays for path p: paths to values that are usually
// primitives. Whole sections, tags, x509Thumbprint and $metadata objects are built on
// demand by the tree evaluator; the constant attributes (moduleId, modelId,
// capabilities) cost nothing to evaluate.
func columnable(p *pathExpr) bool {
	switch p.segs[0].name {
	case "etag", "deviceEtag", "version", "status", "statusReason", "statusUpdateTime",
		"connectionState", "lastActivityTime", "cloudToDeviceMessageCount", "authenticationType":
		return len(p.segs) == 1
	case "x509Thumbprint", "tags":
		return len(p.segs) > 1
	case "properties":
		if len(p.segs) < 3 {
			return false
		}
		last := p.segs[len(p.segs)-1]
		if p.segs[2].name == "$metadata" && !p.segs[2].isIdx {
			return !last.isIdx && (last.name == "$lastUpdated" || last.name == "$lastUpdatedVersion")
		}
		return true
	}
	return false
}

// column holds one path's value for every row of a Table: a kind per row and 8 bytes of
// payload (a number's bits, a boolean, or the code of a string interned per column), plus
// a time per row for columns that hold times. Objects and arrays are not copied: their
// rows are marked kObj and read from the twin. Strings are reference-counted so that a
// column's string table holds only strings some row still has. A column whose strings
// are mostly distinct (more than a quarter of its rows, and more than directMin) stops
// interning, which would cost more than it saves, and keeps each row's string instead.
type column struct {
	kinds []kind
	bits  []uint64
	times []time.Time // nil until a row holds a time

	direct    []string // by row, once the column stopped interning; nil before
	directMin int      // distinct strings below which the column always interns

	strs  []string          // by code
	refs  []int32           // rows holding each code; 0: the code is free
	codes map[string]uint32 // string -> code
	free  []uint32          // free codes

	tree   evalFn // fills a row from its twin
	used   uint64 // the Table's query clock when a query last read the column
	synced uint64 // the Table's change count the column is up to date with
}

func newColumn(rows, directMin int) *column {
	return &column{kinds: make([]kind, rows), bits: make([]uint64, rows), codes: map[string]uint32{}, directMin: directMin}
}

// get returns row's value; tree(d) for a row whose value the column does not hold.
func (c *column) get(row int, tree evalFn, d *twin.Doc) value {
	switch c.kinds[row] {
	case kUndef:
		return undef
	case kNull:
		return vnull
	case kBool:
		return boolv(c.bits[row] != 0)
	case kNum:
		return numv(math.Float64frombits(c.bits[row]))
	case kStr:
		return strv(c.str(row))
	case kTime:
		return timev(c.times[row])
	}
	return tree(d)
}

// str returns the string of a row whose kind is kStr.
func (c *column) str(row int) string {
	if c.direct != nil {
		return c.direct[row]
	}
	return c.strs[c.bits[row]]
}

// grow extends the column to rows rows (new rows undefined).
func (c *column) grow(rows int) {
	if n := rows - len(c.kinds); n > 0 {
		c.kinds = append(c.kinds, make([]kind, n)...)
		c.bits = append(c.bits, make([]uint64, n)...)
		if c.times != nil {
			c.times = append(c.times, make([]time.Time, n)...)
		}
		if c.direct != nil {
			c.direct = append(c.direct, make([]string, n)...)
		}
	}
}

// set stores v as row's value, releasing the string the row held.
func (c *column) set(row int, v value) {
	if c.kinds[row] == kStr && c.direct == nil {
		c.release(uint32(c.bits[row]))
	}
	var bits uint64
	k := v.k
	switch k {
	case kBool:
		if v.b {
			bits = 1
		}
	case kNum:
		bits = math.Float64bits(v.n)
	case kStr:
		if c.direct == nil {
			bits = uint64(c.intern(v.s))
			if n := len(c.codes); n > c.directMin && n > len(c.kinds)/4 {
				c.toDirect()
			}
		}
		if c.direct != nil {
			c.direct[row], bits = v.s, 0
		}
	case kTime:
		if c.times == nil {
			c.times = make([]time.Time, len(c.kinds))
		}
		c.times[row] = v.t
	case kObj, kArr:
		k = kObj // read from the twin
	}
	c.kinds[row], c.bits[row] = k, bits
	if k != kStr && c.direct != nil {
		c.direct[row] = ""
	}
}

// toDirect stops interning: every row keeps its own string.
func (c *column) toDirect() {
	c.direct = make([]string, len(c.kinds))
	for row, k := range c.kinds {
		if k == kStr {
			c.direct[row] = c.strs[c.bits[row]]
			c.bits[row] = 0
		}
	}
	c.strs, c.refs, c.codes, c.free = nil, nil, nil, nil
}

// intern returns the code of s, adding it (a copy, so that the column does not keep a
// twin's memory alive) with one more reference.
func (c *column) intern(s string) uint32 {
	code, ok := c.codes[s]
	if !ok {
		s = strings.Clone(s)
		if n := len(c.free); n > 0 {
			code, c.free = c.free[n-1], c.free[:n-1]
			c.strs[code] = s
		} else {
			code = uint32(len(c.strs))
			c.strs = append(c.strs, s)
			c.refs = append(c.refs, 0)
		}
		c.codes[s] = code
	}
	c.refs[code]++
	return code
}

// release drops one reference to a code, freeing it with its last reference.
func (c *column) release(code uint32) {
	if c.refs[code]--; c.refs[code] == 0 {
		delete(c.codes, c.strs[code])
		c.strs[code] = ""
		c.free = append(c.free, code)
	}
}
