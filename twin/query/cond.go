package query

import (
	"math"
	"strings"
)

// tri is the outcome of a condition: false, true, or undefined (anything not boolean).
// Only tTrue lets a twin pass.
type tri uint8

const (
	tFalse tri = iota
	tTrue
	tUndef
)

// condFn evaluates a WHERE condition. It returns a byte rather than a value, so that the
// logic of a condition over columns costs a few instructions a twin.
type condFn func(x evalCtx) tri

// triOf is the condition outcome of a value.
func triOf(v value) tri {
	if v.k != kBool {
		return tUndef
	}
	if v.b {
		return tTrue
	}
	return tFalse
}

// condValue makes a condition a value: true, false or undefined.
func condValue(f condFn) exprFn {
	return func(d evalCtx) value {
		switch f(d) {
		case tTrue:
			return vtrue
		case tFalse:
			return vfalse
		}
		return undef
	}
}

func boolTri(b bool) tri {
	if b {
		return tTrue
	}
	return tFalse
}

// cond compiles a condition. AND, OR, NOT and comparisons of a path with a constant
// compile to condFns (AND, OR and NOT also where a value is wanted, through condValue);
// anything else is evaluated as a value and read as a condition.
func (c *compiler) cond(e expr) condFn {
	switch e := e.(type) {
	case *binaryExpr:
		switch e.op {
		case "AND":
			return condAnd(c.cond(e.x), c.cond(e.y))
		case "OR":
			return condOr(c.cond(e.x), c.cond(e.y))
		case "=", "!=":
			if f := c.condEquals(e); f != nil {
				return f
			}
			if f := c.condCompare(e); f != nil {
				return f
			}
		case "<", ">", "<=", ">=":
			if f := c.condCompare(e); f != nil {
				return f
			}
		}
	case *inExpr:
		return c.condIn(e)
	case *unaryExpr:
		if e.op == "NOT" {
			x := c.cond(e.x)
			return func(d evalCtx) tri {
				switch x(d) {
				case tTrue:
					return tFalse
				case tFalse:
					return tTrue
				}
				return tUndef
			}
		}
	}
	f := c.compile(e)
	return func(d evalCtx) tri { return triOf(f(d)) }
}

// condAnd: false if either side is false, true if both are true, else undefined.
func condAnd(x, y condFn) condFn {
	return func(d evalCtx) tri {
		a := x(d)
		if a == tFalse {
			return tFalse
		}
		b := y(d)
		if b == tFalse {
			return tFalse
		}
		if a == tTrue && b == tTrue {
			return tTrue
		}
		return tUndef
	}
}

// condOr: true if either side is true, false if both are false, else undefined.
func condOr(x, y condFn) condFn {
	return func(d evalCtx) tri {
		a := x(d)
		if a == tTrue {
			return tTrue
		}
		b := y(d)
		if b == tTrue {
			return tTrue
		}
		if a == tFalse && b == tFalse {
			return tFalse
		}
		return tUndef
	}
}

// condEquals is compileEquals for conditions: a path = or != a string or number
// constant. Over a Table it compares the column's cell directly (an interned string or
// a number's bits); a cell of another kind, objects and arrays included, is undefined.
// nil when e is not of that form.
func (c *compiler) condEquals(e *binaryExpr) condFn {
	lit, ok := e.y.(*litExpr)
	p, isPath := e.x.(*pathExpr)
	if !ok || !isPath || (e.op != "=" && e.op != "!=") || isTimeField(p) || (lit.v.k != kStr && lit.v.k != kNum) {
		return nil
	}
	f := c.compile(e) // for twins without columns
	slot, ok := c.slot(p, compilePath(p))
	if !ok {
		return func(d evalCtx) tri { return triOf(f(d)) }
	}
	k, eq := lit.v, e.op == "="
	return func(d evalCtx) tri {
		if d.cs != nil {
			if col := d.cs.cols[slot]; col != nil {
				switch ck := col.kinds[d.row]; {
				case ck != k.k:
					return tUndef
				case ck == kStr:
					return boolTri((col.str(d.row) == k.s) == eq)
				default:
					return boolTri((math.Float64frombits(col.bits[d.row]) == k.n) == eq)
				}
			}
		}
		return triOf(f(d))
	}
}

// condIn is compileIn for conditions. Over a Table it looks the column's cell up in sets
// of the list's strings and numbers: true when an element equals it, false for any other
// primitive (negated for NIN), undefined for a missing property, an object or an array.
func (c *compiler) condIn(e *inExpr) condFn {
	f := c.compile(e) // for twins without columns
	p, isPath := e.x.(*pathExpr)
	slot, ok := 0, false
	if isPath && !isTimeField(p) {
		slot, ok = c.slot(p, compilePath(p))
	}
	if !ok {
		return func(d evalCtx) tri { return triOf(f(d)) }
	}
	strs, nums := map[string]bool{}, map[float64]bool{}
	var in [2]bool // false, true in the list
	var null bool  // null in the list
	for _, v := range e.list {
		switch v.k {
		case kStr:
			strs[v.s] = true
		case kNum:
			nums[posZero(v.n)] = true
		case kBool:
			in[boolIndex(v.b)] = true
		case kNull:
			null = true
		}
	}
	not := e.not
	return func(d evalCtx) tri {
		if d.cs == nil || d.cs.cols[slot] == nil {
			return triOf(f(d))
		}
		col := d.cs.cols[slot]
		var found bool
		switch col.kinds[d.row] {
		case kStr:
			found = strs[col.str(d.row)]
		case kNum:
			found = nums[posZero(math.Float64frombits(col.bits[d.row]))]
		case kBool:
			found = in[col.bits[d.row]]
		case kNull:
			found = null
		case kUndef, kObj:
			return tUndef
		default:
			return triOf(f(d))
		}
		return boolTri(found != not)
	}
}

// posZero returns n with -0 made 0 (they are one number to IN).
func posZero(n float64) float64 {
	if n == 0 {
		return 0
	}
	return n
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// condCompare is compileCompare for a path compared with a number, string or time
// constant. Over a Table a cell of the constant's kind compares directly; a missing
// property, an object or an array is undefined; any other cell (a time against a string,
// say) takes compileCompare's way. nil when e is not of that form.
func (c *compiler) condCompare(e *binaryExpr) condFn {
	p, isPath := e.x.(*pathExpr)
	lit, isLit := timeConst(e.y, e.x).(*litExpr)
	if !isPath || !isLit || (lit.v.k != kNum && lit.v.k != kStr && lit.v.k != kTime) {
		return nil
	}
	slot, ok := c.slot(p, compilePath(p))
	if !ok {
		return nil
	}
	f, k, test := c.compile(e), lit.v, cmpTest(e.op)
	return func(d evalCtx) tri {
		if d.cs == nil || d.cs.cols[slot] == nil {
			return triOf(f(d))
		}
		col := d.cs.cols[slot]
		switch ck := col.kinds[d.row]; {
		case ck == kUndef || ck == kObj:
			return tUndef
		case ck != k.k:
			return triOf(f(d))
		case ck == kStr:
			return boolTri(test(strings.Compare(col.str(d.row), k.s)))
		case ck == kTime:
			return boolTri(test(col.times[d.row].Compare(k.t)))
		}
		switch n := math.Float64frombits(col.bits[d.row]); {
		case n < k.n:
			return boolTri(test(-1))
		case n > k.n:
			return boolTri(test(1))
		case n == k.n:
			return boolTri(test(0))
		}
		return tUndef // NaN
	}
}
