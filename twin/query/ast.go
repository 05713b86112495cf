package query

import (
	"strconv"
	"strings"
)

// expr is a node of a parsed expression. off is its byte offset in the query, for errors.
type expr interface {
	offset() int
	// String renders the node canonically; GROUP BY keys and projections are matched on it.
	String() string
}

// litExpr is a constant: number, string, boolean, null or undefined.
type litExpr struct {
	v   value
	off int
}

// arrayExpr is an array constant [a, b, ...].
type arrayExpr struct {
	elems []expr
	off   int
}

// pathExpr is a property path such as tags.region or properties.reported.fw.status.
type pathExpr struct {
	segs []seg // as written, after the top-level field name is made canonical
	off  int
}

// seg is one step of a path: a member name or an array index.
type seg struct {
	name  string
	index int
	isIdx bool
}

// unaryExpr is NOT x, -x or +x.
type unaryExpr struct {
	op  string // "NOT", "-", "+"
	x   expr
	off int
}

// binaryExpr is x op y for a comparison, logical or arithmetic operator.
type binaryExpr struct {
	op   string // "AND", "OR", "=", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%"
	x, y expr
	off  int
}

// inExpr is x IN [...] or x NIN [...].
type inExpr struct {
	x    expr
	list []value
	not  bool
	off  int
}

// callExpr is a function call such as IS_DEFINED(x) or STARTSWITH(x, 'a').
type callExpr struct {
	fn   *function
	args []expr
	off  int
}

// aggExpr is an aggregate: COUNT(), COUNT(x), SUM(x), AVG(x), MIN(x), MAX(x).
type aggExpr struct {
	fn  string // upper case
	arg expr   // nil for COUNT()
	off int
}

func (e *litExpr) offset() int    { return e.off }
func (e *arrayExpr) offset() int  { return e.off }
func (e *pathExpr) offset() int   { return e.off }
func (e *unaryExpr) offset() int  { return e.off }
func (e *binaryExpr) offset() int { return e.off }
func (e *inExpr) offset() int     { return e.off }
func (e *callExpr) offset() int   { return e.off }
func (e *aggExpr) offset() int    { return e.off }

func (e *litExpr) String() string { return literal(e.v) }

func (e *arrayExpr) String() string {
	parts := make([]string, len(e.elems))
	for i, x := range e.elems {
		parts[i] = x.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (e *pathExpr) String() string {
	var b strings.Builder
	for i, s := range e.segs {
		switch {
		case s.isIdx:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case isPlainName(s.name):
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.name)
		default:
			b.WriteString("[" + quote(s.name) + "]")
		}
	}
	return b.String()
}

func (e *unaryExpr) String() string {
	if e.op == "NOT" {
		return "(NOT " + e.x.String() + ")"
	}
	return "(" + e.op + e.x.String() + ")"
}

func (e *binaryExpr) String() string {
	return "(" + e.x.String() + " " + e.op + " " + e.y.String() + ")"
}

func (e *inExpr) String() string {
	op := " IN "
	if e.not {
		op = " NIN "
	}
	parts := make([]string, len(e.list))
	for i, v := range e.list {
		parts[i] = literal(v)
	}
	return "(" + e.x.String() + op + "[" + strings.Join(parts, ", ") + "])"
}

func (e *callExpr) String() string {
	parts := make([]string, len(e.args))
	for i, x := range e.args {
		parts[i] = x.String()
	}
	return e.fn.name + "(" + strings.Join(parts, ", ") + ")"
}

func (e *aggExpr) String() string {
	if e.arg == nil {
		return e.fn + "()"
	}
	return e.fn + "(" + e.arg.String() + ")"
}

// literal renders a constant value in query syntax.
func literal(v value) string {
	switch v.k {
	case kNull:
		return "null"
	case kBool:
		return strconv.FormatBool(v.b)
	case kNum:
		return strconv.FormatFloat(v.n, 'g', -1, 64)
	case kStr:
		return quote(v.s)
	}
	return "undefined"
}

// quote writes s as a double-quoted string literal that the lexer reads back as s.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// isPlainName reports whether s can be written as a bare path segment.
func isPlainName(s string) bool {
	if s == "" || !(isIdentStart(s[0]) || unicodeLetter(s) > 0) {
		return false
	}
	for i := 0; i < len(s); {
		switch n := unicodeLetter(s[i:]); {
		case isIdentPart(s[i]):
			i++
		case n > 0:
			i += n
		default:
			return false
		}
	}
	return true
}
