package query

import (
	"math"
	"testing"

	"github.com/twinops/twinops/twin"
)

// evalRef is a plain tree-walking evaluator of the documented semantics, without the
// compiled fast paths (constant folding of times, = / != specialisation, IN sets,
// short-circuits). Tests compare the compiled closures against it.
func evalRef(e expr, d *twin.Doc) value {
	switch e := e.(type) {
	case *litExpr:
		return e.v
	case *pathExpr:
		return compilePath(e)(d)
	case *arrayExpr:
		var c compiler
		return c.compileArray(e)(evalCtx{d: d})
	case *unaryExpr:
		v := evalRef(e.x, d)
		switch {
		case e.op == "NOT" && v.k == kBool:
			return boolv(!v.b)
		case e.op == "-" && v.k == kNum:
			return numv(-v.n)
		case e.op == "+" && v.k == kNum:
			return v
		}
		return undef
	case *binaryExpr:
		return refBinary(e.op, evalRef(e.x, d), evalRef(e.y, d))
	case *inExpr:
		v := evalRef(e.x, d)
		if v.k < kNull || v.k > kTime {
			return undef
		}
		found := false
		for _, el := range e.list {
			if c, ok := compare(v, el); ok && c == 0 {
				found = true
			}
		}
		return boolv(found != e.not)
	case *callExpr:
		if e.fn.arity == 1 {
			return e.fn.fn1(evalRef(e.args[0], d))
		}
		return e.fn.fn2(evalRef(e.args[0], d), evalRef(e.args[1], d))
	}
	panic("evalRef: " + e.String())
}

func refBinary(op string, a, b value) value {
	switch op {
	case "AND":
		switch {
		case (a.k == kBool && !a.b) || (b.k == kBool && !b.b):
			return vfalse
		case a.isTrue() && b.isTrue():
			return vtrue
		}
		return undef
	case "OR":
		switch {
		case a.isTrue() || b.isTrue():
			return vtrue
		case a.k == kBool && b.k == kBool:
			return vfalse
		}
		return undef
	case "=", "!=", "<", ">", "<=", ">=":
		c, ok := compare(a, b)
		if !ok {
			return undef
		}
		return boolv(map[string]bool{"=": c == 0, "!=": c != 0, "<": c < 0, ">": c > 0, "<=": c <= 0, ">=": c >= 0}[op])
	}
	if a.k != kNum || b.k != kNum {
		return undef
	}
	var r float64
	switch op {
	case "+":
		r = a.n + b.n
	case "-":
		r = a.n - b.n
	case "*":
		r = a.n * b.n
	case "/":
		r = a.n / b.n
	case "%":
		r = math.Mod(a.n, b.n)
	}
	if math.IsInf(r, 0) || math.IsNaN(r) || (b.n == 0 && (op == "/" || op == "%")) {
		return undef
	}
	return numv(r)
}

// sameValue compares two evaluation results (kind and primitive content).
func sameValue(a, b value) bool {
	if a.k != b.k {
		return false
	}
	switch a.k {
	case kBool:
		return a.b == b.b
	case kNum:
		return a.n == b.n
	case kStr:
		return a.s == b.s
	case kTime:
		return a.t.Equal(b.t)
	}
	return true
}

// checkAgainstRef compares the compiled WHERE of q with evalRef on every twin.
func checkAgainstRef(t *testing.T, q *Query, docs []*twin.Doc) {
	t.Helper()
	if q.st.where == nil {
		return
	}
	for _, d := range docs {
		var c compiler
		got, want := c.compile(q.st.where)(evalCtx{d: d}), evalRef(q.st.where, d)
		if !sameValue(got, want) {
			t.Fatalf("%q on %s: compiled %+v, reference %+v", q.src, d.DeviceID, got, want)
		}
		if cond := q.match(evalCtx{d: d}); cond != triOf(want) {
			t.Fatalf("%q on %s: condition %d, reference %+v", q.src, d.DeviceID, cond, want)
		}
	}
}

func TestCompiledMatchesReference(t *testing.T) {
	docs := fleet(t)
	for _, src := range []string{
		`tags.ring = 'canary' AND properties.reported.firmware.version != '2.1.0'`,
		`properties.reported.battery IN [10, 40, '80', null] OR tags.region NIN ['eu']`,
		`NOT (tags.model = 'm1') OR properties.reported.mixed != 3`,
		`lastActivityTime > '2026-11-26T00:00:00Z' AND lastActivityTime != 'x'`,
		`properties.reported.battery / (version - 4) > 1 OR -properties.reported.battery % 7 = -3`,
		`IS_DEFINED(properties.reported.note) = (properties.reported.note = null)`,
		`STARTSWITH(deviceId, 'd') AND ENDSWITH(tags.region, 'u') AND CONTAINS(lastActivityTime, 'T')`,
		`statusUpdateTime IN ['0001-01-01T00:00:00Z', 1] AND true`,
	} {
		t.Run(src, func(t *testing.T) {
			q, err := ParseWhere(src)
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstRef(t, q, docs)
		})
	}
}
