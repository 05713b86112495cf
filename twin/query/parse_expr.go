package query

import "strings"

// Expression grammar, loosest binding first:
//
//	or      = and { OR and }
//	and     = not { AND not }
//	not     = NOT not | cmp
//	cmp     = add [ ( = | != | <> | < | > | <= | >= ) add | [NOT] IN list | NIN list ]
//	add     = mul { ( + | - ) mul }
//	mul     = unary { ( * | / | % ) unary }
//	unary   = ( - | + ) unary | primary
//	primary = literal | path | function '(' args ')' | '(' or ')' | '[' constants ']'

func (p *parser) parseExpr() (expr, error) { return p.parseOr() }

func (p *parser) parseOr() (expr, error) {
	x, err := p.parseAnd()
	for err == nil && p.peek().isWord("OR") {
		t := p.next()
		var y expr
		if y, err = p.parseAnd(); err == nil {
			x = &binaryExpr{op: "OR", x: x, y: y, off: t.off}
		}
	}
	return x, err
}

func (p *parser) parseAnd() (expr, error) {
	x, err := p.parseNot()
	for err == nil && p.peek().isWord("AND") {
		t := p.next()
		var y expr
		if y, err = p.parseNot(); err == nil {
			x = &binaryExpr{op: "AND", x: x, y: y, off: t.off}
		}
	}
	return x, err
}

func (p *parser) parseNot() (expr, error) {
	if t := p.peek(); t.isWord("NOT") {
		p.next()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{op: "NOT", x: x, off: t.off}, nil
	}
	return p.parseCmp()
}

func cmpOp(t token) string {
	if t.kind != tPunct {
		return ""
	}
	switch t.text {
	case "=", "!=", "<", ">", "<=", ">=":
		return t.text
	case "<>":
		return "!="
	}
	return ""
}

func (p *parser) parseCmp() (expr, error) {
	x, err := p.parseAdd()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	switch {
	case cmpOp(t) != "":
		p.next()
		y, err := p.parseAdd()
		if err != nil {
			return nil, err
		}
		if n := p.peek(); cmpOp(n) != "" {
			return nil, p.errHere("comparisons cannot be chained: found %s after a comparison; combine them with AND", n.describe())
		}
		return &binaryExpr{op: cmpOp(t), x: x, y: y, off: t.off}, nil
	case t.isWord("IN"), t.isWord("NIN"):
		p.next()
		return p.parseIn(x, t, t.isWord("NIN"))
	case t.isWord("NOT") && p.toks[p.i+1].isWord("IN"):
		p.next()
		p.next()
		return p.parseIn(x, t, true)
	}
	return x, nil
}

// parseIn parses the constant array after IN / NIN.
func (p *parser) parseIn(x expr, op token, not bool) (expr, error) {
	if !p.peek().is("[") {
		return nil, p.errHere("expected '[' after %s, found %s: IN and NIN take a list of constants like ['a', 'b']", p.prev(), p.peek().describe())
	}
	arr, err := p.parseArray()
	if err != nil {
		return nil, err
	}
	e := &inExpr{x: x, not: not, off: op.off}
	for _, el := range arr.elems {
		lit, ok := el.(*litExpr)
		if !ok {
			return nil, errAt(p.src, el.offset(), "the list after IN may hold only constants (strings, numbers, true, false, null)")
		}
		e.list = append(e.list, lit.v)
	}
	return e, nil
}

func (p *parser) parseAdd() (expr, error) {
	x, err := p.parseMul()
	for err == nil && (p.peek().is("+") || p.peek().is("-")) {
		t := p.next()
		var y expr
		if y, err = p.parseMul(); err == nil {
			x = &binaryExpr{op: t.text, x: x, y: y, off: t.off}
		}
	}
	return x, err
}

func (p *parser) parseMul() (expr, error) {
	x, err := p.parseUnary()
	for err == nil && (p.peek().is("*") || p.peek().is("/") || p.peek().is("%")) {
		t := p.next()
		var y expr
		if y, err = p.parseUnary(); err == nil {
			x = &binaryExpr{op: t.text, x: x, y: y, off: t.off}
		}
	}
	return x, err
}

func (p *parser) parseUnary() (expr, error) {
	if t := p.peek(); t.is("-") || t.is("+") {
		p.next()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if lit, ok := x.(*litExpr); ok && lit.v.k == kNum {
			if t.text == "-" {
				lit.v.n = -lit.v.n
			}
			lit.off = t.off
			return lit, nil
		}
		return &unaryExpr{op: t.text, x: x, off: t.off}, nil
	}
	return p.parsePrimary()
}

func (p *parser) parsePrimary() (expr, error) {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.next()
		return &litExpr{v: numv(t.num), off: t.off}, nil
	case tString:
		p.next()
		return &litExpr{v: strv(t.str), off: t.off}, nil
	case tPunct:
		switch t.text {
		case "(":
			p.next()
			x, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if !p.peek().is(")") {
				return nil, p.errHere("expected ')' to close the '(' at col %d, found %s", errAt(p.src, t.off, "").Pos, p.peek().describe())
			}
			p.next()
			return x, nil
		case "[":
			return p.parseArray()
		}
	case tIdent:
		return p.parseName()
	}
	if t.is("=") && p.i > 0 && p.toks[p.i-1].is("=") {
		return nil, p.errHere("expected a value after '=', found '='; compare with a single =")
	}
	return nil, p.errHere("expected a value after %s, found %s", p.prev(), t.describe())
}

// parseName parses what starts with a name: a constant word, a function call or a path.
func (p *parser) parseName() (expr, error) {
	t := p.peek()
	switch strings.ToLower(t.text) {
	case "true":
		p.next()
		return &litExpr{v: vtrue, off: t.off}, nil
	case "false":
		p.next()
		return &litExpr{v: vfalse, off: t.off}, nil
	case "null":
		p.next()
		return &litExpr{v: vnull, off: t.off}, nil
	case "undefined":
		p.next()
		return &litExpr{v: undef, off: t.off}, nil
	}
	if isKeyword(t.text) {
		return nil, p.errHere("expected a value after %s, found %s", p.prev(), t.describe())
	}
	if p.toks[p.i+1].is("(") {
		return p.parseCall()
	}
	return p.parsePath()
}

// parseCall parses a function call NAME(args).
func (p *parser) parseCall() (expr, error) {
	t := p.next()
	if isAggregate(t.text) {
		return nil, errAt(p.src, t.off, "%s() is an aggregate: use it as a whole select item, e.g. SELECT %s(...) AS x FROM devices", strings.ToUpper(t.text), strings.ToUpper(t.text))
	}
	fn := lookupFunction(t.text)
	if fn == nil {
		return nil, errAt(p.src, t.off, "unknown function %s; known functions: %s", t.text, strings.Join(functionNames(), ", "))
	}
	p.next() // (
	c := &callExpr{fn: fn, off: t.off}
	for !p.peek().is(")") {
		if len(c.args) > 0 {
			if err := p.expectPunct(",", "between the arguments of "+fn.name); err != nil {
				return nil, err
			}
		}
		a, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, a)
	}
	if len(c.args) != fn.arity {
		return nil, errAt(p.src, t.off, "%s takes %d argument(s), found %d: %s", fn.name, fn.arity, len(c.args), fn.usage)
	}
	p.next() // )
	return c, nil
}

// parseArray parses a constant array [a, b, ...].
func (p *parser) parseArray() (*arrayExpr, error) {
	t := p.next() // [
	a := &arrayExpr{off: t.off}
	for !p.peek().is("]") {
		if len(a.elems) > 0 {
			if err := p.expectPunct(",", "or ']' in the list"); err != nil {
				return nil, err
			}
		}
		x, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		a.elems = append(a.elems, x)
	}
	p.next() // ]
	return a, nil
}

// parsePath parses a property path: name { .name | [index] | ['name'] }.
func (p *parser) parsePath() (expr, error) {
	t := p.next()
	canon, ok := topField(t.text)
	if !ok {
		if p.i >= 2 && (cmpOp(p.toks[p.i-2]) != "" || p.toks[p.i-2].is("[") || p.toks[p.i-2].is(",")) {
			w := bareWord(p.src[t.off:])
			return nil, errAt(p.src, t.off, "unknown property %s; to compare with text, quote it: '%s'", w, w)
		}
		return nil, errAt(p.src, t.off, "unknown property %s; paths start with deviceId, tags, properties.desired, properties.reported or an identity field (status, connectionState, lastActivityTime, version, etag, ...)", t.text)
	}
	pe := &pathExpr{segs: []seg{{name: canon}}, off: t.off}
	for {
		switch n := p.peek(); {
		case n.is("."):
			p.next()
			m := p.peek()
			if m.kind != tIdent {
				return nil, p.errHere("expected a property name after '.', found %s; write names with other characters as ['name']", m.describe())
			}
			p.next()
			pe.segs = append(pe.segs, seg{name: m.text})
		case n.is("["):
			p.next()
			m := p.next()
			switch {
			case m.kind == tString:
				pe.segs = append(pe.segs, seg{name: m.str})
			case m.kind == tNumber && m.num >= 0 && m.num == float64(int(m.num)):
				pe.segs = append(pe.segs, seg{index: int(m.num), isIdx: true})
			default:
				return nil, errAt(p.src, m.off, "expected a 'name' or an array index inside [ ], found %s", m.describe())
			}
			if err := p.expectPunct("]", "after "+m.describe()); err != nil {
				return nil, err
			}
		default:
			return pe, checkPath(p.src, pe)
		}
	}
}

// bareWord returns the unquoted text an operator probably meant as a string: up to the
// next space, quote, parenthesis, bracket or comma.
func bareWord(s string) string {
	if i := strings.IndexAny(s, " \t\r\n'\"()[],"); i >= 0 {
		return s[:i]
	}
	return s
}
