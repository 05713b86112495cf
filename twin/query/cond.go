package query

import "math"

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
		}
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
