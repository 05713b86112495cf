package query

import (
	"math"

	"github.com/twinops/twinops/twin"
)

// compile turns an expression tree into a closure. Evaluating the closure allocates
// nothing for paths, constants, comparisons, logic, arithmetic, IN and the functions.
func compile(e expr) evalFn {
	switch e := e.(type) {
	case *litExpr:
		v := e.v
		return func(*twin.Doc) value { return v }
	case *arrayExpr:
		return compileArray(e)
	case *pathExpr:
		return compilePath(e)
	case *unaryExpr:
		return compileUnary(e)
	case *binaryExpr:
		switch e.op {
		case "AND":
			return compileAnd(compile(e.x), compile(e.y))
		case "OR":
			return compileOr(compile(e.x), compile(e.y))
		case "=", "!=", "<", ">", "<=", ">=":
			return compileCompare(e)
		}
		return compileArith(e.op, compile(e.x), compile(e.y))
	case *inExpr:
		return compileIn(e)
	case *callExpr:
		return compileCall(e)
	}
	panic("query: cannot compile " + e.String())
}

func compileArray(e *arrayExpr) evalFn {
	fns := make([]evalFn, len(e.elems))
	for i, x := range e.elems {
		fns[i] = compile(x)
	}
	return func(d *twin.Doc) value {
		out := make([]any, 0, len(fns))
		for _, f := range fns {
			if x, ok := f(d).toAny(); ok {
				out = append(out, x)
			}
		}
		return value{k: kArr, r: out}
	}
}

func compileUnary(e *unaryExpr) evalFn {
	x := compile(e.x)
	switch e.op {
	case "NOT":
		return func(d *twin.Doc) value {
			if v := x(d); v.k == kBool {
				return boolv(!v.b)
			}
			return undef
		}
	case "-":
		return func(d *twin.Doc) value {
			if v := x(d); v.k == kNum {
				return numv(-v.n)
			}
			return undef
		}
	}
	return func(d *twin.Doc) value { // unary +
		if v := x(d); v.k == kNum {
			return v
		}
		return undef
	}
}

// compileAnd: false if either side is false, true if both are true, else undefined.
func compileAnd(x, y evalFn) evalFn {
	return func(d *twin.Doc) value {
		a := x(d)
		if a.k == kBool && !a.b {
			return vfalse
		}
		b := y(d)
		if b.k == kBool && !b.b {
			return vfalse
		}
		if a.isTrue() && b.isTrue() {
			return vtrue
		}
		return undef
	}
}

// compileOr: true if either side is true, false if both are false, else undefined.
func compileOr(x, y evalFn) evalFn {
	return func(d *twin.Doc) value {
		a := x(d)
		if a.isTrue() {
			return vtrue
		}
		b := y(d)
		if b.isTrue() {
			return vtrue
		}
		if a.k == kBool && b.k == kBool {
			return vfalse
		}
		return undef
	}
}

// compileCompare compiles a comparison. Only primitives of the same kind compare; any
// other pair gives undefined, so the condition does not pass. A time attribute compared
// with a constant string that reads as a time compares by instant.
func compileCompare(e *binaryExpr) evalFn {
	if f := compileEquals(e); f != nil {
		return f
	}
	x, y := compile(timeConst(e.x, e.y)), compile(timeConst(e.y, e.x))
	var test func(c int) bool
	switch e.op {
	case "=":
		test = func(c int) bool { return c == 0 }
	case "!=":
		test = func(c int) bool { return c != 0 }
	case "<":
		test = func(c int) bool { return c < 0 }
	case ">":
		test = func(c int) bool { return c > 0 }
	case "<=":
		test = func(c int) bool { return c <= 0 }
	default:
		test = func(c int) bool { return c >= 0 }
	}
	return func(d *twin.Doc) value {
		c, ok := compare(x(d), y(d))
		if !ok {
			return undef
		}
		return boolv(test(c))
	}
}

// compileEquals is the fast path for the commonest condition, a property = or != a
// string or number constant; nil when e is not of that form.
func compileEquals(e *binaryExpr) evalFn {
	lit, ok := e.y.(*litExpr)
	p, isPath := e.x.(*pathExpr)
	if !ok || !isPath || (e.op != "=" && e.op != "!=") || isTimeField(p) {
		return nil
	}
	x, c, eq := compile(p), lit.v, e.op == "="
	switch c.k {
	case kStr:
		return func(d *twin.Doc) value {
			if v := x(d); v.k == kStr {
				return boolv((v.s == c.s) == eq)
			}
			return undef // times never come from a non-time path
		}
	case kNum:
		return func(d *twin.Doc) value {
			if v := x(d); v.k == kNum {
				return boolv((v.n == c.n) == eq)
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
func compileArith(op string, x, y evalFn) evalFn {
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
	return func(d *twin.Doc) value {
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
func compileIn(e *inExpr) evalFn {
	x := compile(e.x)
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
	return func(d *twin.Doc) value {
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

func compileCall(e *callExpr) evalFn {
	if e.fn.arity == 1 {
		f, a := e.fn.fn1, compile(e.args[0])
		return func(d *twin.Doc) value { return f(a(d)) }
	}
	f, a, b := e.fn.fn2, compile(e.args[0]), compile(e.args[1])
	return func(d *twin.Doc) value { return f(a(d), b(d)) }
}
