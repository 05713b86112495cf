package query

import "math"

// compiler compiles the expressions of one query and numbers the paths that a Table can
// answer from a column (see column.go): every path with the same canonical text shares
// one slot.
type compiler struct {
	cols  []colPath      // by slot
	slots map[string]int // canonical path -> slot
}

// compile turns an expression tree into a closure. Evaluating the closure allocates
// nothing for paths, constants, comparisons, logic, arithmetic, IN and the functions.
func (c *compiler) compile(e expr) exprFn {
	switch e := e.(type) {
	case *litExpr:
		v := e.v
		return func(evalCtx) value { return v }
	case *arrayExpr:
		return c.compileArray(e)
	case *pathExpr:
		return c.compilePathExpr(e)
	case *unaryExpr:
		return c.compileUnary(e)
	case *binaryExpr:
		switch e.op {
		case "AND", "OR":
			return condValue(c.cond(e))
		case "=", "!=", "<", ">", "<=", ">=":
			return c.compileCompare(e)
		}
		return compileArith(e.op, c.compile(e.x), c.compile(e.y))
	case *inExpr:
		return c.compileIn(e)
	case *callExpr:
		return c.compileCall(e)
	}
	panic("query: cannot compile " + e.String())
}

func (c *compiler) compileArray(e *arrayExpr) exprFn {
	fns := make([]exprFn, len(e.elems))
	for i, x := range e.elems {
		fns[i] = c.compile(x)
	}
	return func(d evalCtx) value {
		out := make([]any, 0, len(fns))
		for _, f := range fns {
			if x, ok := f(d).toAny(); ok {
				out = append(out, x)
			}
		}
		return value{k: kArr, r: out}
	}
}

func (c *compiler) compileUnary(e *unaryExpr) exprFn {
	if e.op == "NOT" {
		return condValue(c.cond(e))
	}
	x := c.compile(e.x)
	switch e.op {
	case "-":
		return func(d evalCtx) value {
			if v := x(d); v.k == kNum {
				return numv(-v.n)
			}
			return undef
		}
	}
	return func(d evalCtx) value { // unary +
		if v := x(d); v.k == kNum {
			return v
		}
		return undef
	}
}

// compileCompare compiles a comparison. Only primitives of the same kind compare; any
// other pair gives undefined, so the condition does not pass. A time attribute compared
// with a constant string that reads as a time compares by instant.
func (c *compiler) compileCompare(e *binaryExpr) exprFn {
	if f := c.compileEquals(e); f != nil {
		return f
	}
	x, y := c.compile(timeConst(e.x, e.y)), c.compile(timeConst(e.y, e.x))
	test := cmpTest(e.op)
	return func(d evalCtx) value {
		c, ok := compare(x(d), y(d))
		if !ok {
			return undef
		}
		return boolv(test(c))
	}
}

// cmpTest returns the test of comparison operator op on a compare result.
func cmpTest(op string) func(c int) bool {
	switch op {
	case "=":
		return func(c int) bool { return c == 0 }
	case "!=":
		return func(c int) bool { return c != 0 }
	case "<":
		return func(c int) bool { return c < 0 }
	case ">":
		return func(c int) bool { return c > 0 }
	case "<=":
		return func(c int) bool { return c <= 0 }
	}
	return func(c int) bool { return c >= 0 }
}

// compileEquals is the fast path for the commonest condition, a property = or != a
// string or number constant; nil when e is not of that form.
func (c *compiler) compileEquals(e *binaryExpr) exprFn {
	lit, ok := e.y.(*litExpr)
	p, isPath := e.x.(*pathExpr)
	if !ok || !isPath || (e.op != "=" && e.op != "!=") || isTimeField(p) {
		return nil
	}
	x, k, eq := c.compile(p), lit.v, e.op == "="
	switch k.k {
	case kStr:
		return func(d evalCtx) value {
			if v := x(d); v.k == kStr {
				return boolv((v.s == k.s) == eq)
			}
			return undef // times never come from a non-time path
		}
	case kNum:
		return func(d evalCtx) value {
			if v := x(d); v.k == kNum {
				return boolv((v.n == k.n) == eq)
			}
			return undef
		}
	}
	return nil
}

// timeConst returns e, or, when e is a string constant that reads as a time and other is
// a time attribute, the constant as a time (parsed once here rather than per twin).
func timeConst(e, other expr) expr {
	lit, ok := e.(*litExpr)
	p, isPath := other.(*pathExpr)
	if !ok || !isPath || lit.v.k != kStr || !isTimeField(p) {
		return e
	}
	if t, ok := parseTime(lit.v.s); ok {
		return &litExpr{v: timev(t), off: lit.off}
	}
	return e
}

// compileArith compiles + - * / %: numbers only, else undefined; dividing by zero is
// undefined too.
func compileArith(op string, x, y exprFn) exprFn {
	var f func(a, b float64) (float64, bool)
	switch op {
	case "+":
		f = func(a, b float64) (float64, bool) { return a + b, true }
	case "-":
		f = func(a, b float64) (float64, bool) { return a - b, true }
	case "*":
		f = func(a, b float64) (float64, bool) { return a * b, true }
	case "/":
		f = func(a, b float64) (float64, bool) { return a / b, b != 0 }
	default:
		f = func(a, b float64) (float64, bool) { return math.Mod(a, b), b != 0 }
	}
	return func(d evalCtx) value {
		a, b := x(d), y(d)
		if a.k != kNum || b.k != kNum {
			return undef
		}
		r, ok := f(a.n, b.n)
		if !ok || math.IsInf(r, 0) || math.IsNaN(r) {
			return undef
		}
		return numv(r)
	}
}

// scalarKey identifies a primitive value for set and group lookups without allocating.
type scalarKey struct {
	k kind
	b bool
	n float64
	s string
}

func keyOf(v value) scalarKey {
	switch v.k {
	case kBool:
		return scalarKey{k: kBool, b: v.b}
	case kNum:
		if v.n == 0 {
			return scalarKey{k: kNum} // -0 and 0 are one key
		}
		return scalarKey{k: kNum, n: v.n}
	case kStr:
		return scalarKey{k: kStr, s: v.s}
	}
	return scalarKey{k: v.k}
}

// compileIn compiles x IN [...] / x NIN [...]. IN is true when x equals an element, false
// when x is another primitive; NIN is its negation. An undefined x, an object or an array
// gives undefined, so neither IN nor NIN passes for a property the twin does not have.
func (c *compiler) compileIn(e *inExpr) exprFn {
	x := c.compile(e.x)
	set := make(map[scalarKey]struct{}, len(e.list))
	var strs []string // the string elements, for times compared with strings
	for _, v := range e.list {
		if v.k == kUndef {
			continue
		}
		set[keyOf(v)] = struct{}{}
		if v.k == kStr {
			strs = append(strs, v.s)
		}
	}
	not := e.not
	return func(d evalCtx) value {
		v := x(d)
		var found bool
		switch v.k {
		case kNull, kBool, kNum, kStr:
			_, found = set[keyOf(v)]
		case kTime:
			for _, s := range strs {
				if c, _ := compare(v, strv(s)); c == 0 {
					found = true
					break
				}
			}
		default:
			return undef
		}
		return boolv(found != not)
	}
}

func (c *compiler) compileCall(e *callExpr) exprFn {
	if e.fn.arity == 1 {
		f, a := e.fn.fn1, c.compile(e.args[0])
		return func(d evalCtx) value { return f(a(d)) }
	}
	f, a, b := e.fn.fn2, c.compile(e.args[0]), c.compile(e.args[1])
	return func(d evalCtx) value { return f(a(d), b(d)) }
}
