package query

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// parser is a recursive-descent parser over the tokens of one query.
type parser struct {
	src    string
	toks   []token
	i      int
	lexErr *SyntaxError // where lexing stopped, if it did; see pick
	lexPos int          // 1-based position of the token lexing could not read
}

// stmt is a parsed (not yet compiled) query.
type stmt struct {
	star    bool
	top     int // -1 when there is no TOP
	items   []selItem
	where   expr
	groupBy []expr
}

// selItem is one projection of the select list.
type selItem struct {
	e     expr // nil for aggregates
	agg   *aggExpr
	alias string
	name  string // output member name
	off   int
}

func newParser(src string) (*parser, error) {
	if n := utf8.RuneCountInString(src); n > MaxQueryLength {
		return nil, errAt(src, len(src), "query is %d characters long; the limit is %d", n, MaxQueryLength)
	}
	toks, lexErr := lex(src)
	p := &parser{src: src, toks: toks, lexErr: lexErr}
	if lexErr != nil {
		p.lexPos = errAt(src, toks[len(toks)-1].off, "").Pos
	}
	return p, nil
}

// pick chooses the error to report: a parse error found before the point where lexing
// stopped, else the lexing error. err is the parse result (nil if parsing succeeded).
func (p *parser) pick(err error) error {
	if p.lexErr == nil {
		return err
	}
	if se, ok := err.(*SyntaxError); ok && se.Pos < p.lexPos {
		return err
	}
	return p.lexErr
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// prev describes the token before the current one, for "after X" in messages.
func (p *parser) prev() string {
	if p.i == 0 {
		return "the start of the query"
	}
	t := p.toks[p.i-1]
	if t.kind == tIdent && !isKeyword(t.text) {
		return "'" + t.text + "'"
	}
	return t.describe()
}

// errHere reports a problem at the current token.
func (p *parser) errHere(format string, args ...any) error {
	return errAt(p.src, p.peek().off, format, args...)
}

// expectWord consumes the keyword w or fails with "expected W <context>, found X".
func (p *parser) expectWord(w, context string) error {
	if !p.peek().isWord(w) {
		return p.errHere("expected %s %s, found %s", w, context, p.peek().describe())
	}
	p.next()
	return nil
}

// expectPunct consumes sym or fails with "expected 'sym' <context>, found X".
func (p *parser) expectPunct(sym, context string) error {
	if !p.peek().is(sym) {
		return p.errHere("expected '%s' %s, found %s", sym, context, p.peek().describe())
	}
	p.next()
	return nil
}

// parseStmt parses SELECT ... FROM devices [WHERE ...] [GROUP BY ...].
func (p *parser) parseStmt() (*stmt, error) {
	st := &stmt{top: -1}
	if err := p.expectWord("SELECT", "at the start of the query"); err != nil {
		return nil, err
	}
	if p.peek().isWord("TOP") {
		p.next()
		t := p.peek()
		if t.kind != tNumber || t.num != float64(int(t.num)) || t.num < 0 {
			return nil, p.errHere("expected a whole number after TOP, found %s", t.describe())
		}
		p.next()
		st.top = int(t.num)
	}
	if err := p.parseSelectList(st); err != nil {
		return nil, err
	}
	if err := p.expectWord("FROM", "after the select list"); err != nil {
		return nil, err
	}
	if err := p.parseCollection(); err != nil {
		return nil, err
	}
	if p.peek().isWord("WHERE") {
		p.next()
		w, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		st.where = w
	}
	if p.peek().isWord("GROUP") {
		p.next()
		if err := p.expectWord("BY", "after GROUP"); err != nil {
			return nil, err
		}
		for {
			g, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			st.groupBy = append(st.groupBy, g)
			if !p.peek().is(",") {
				break
			}
			p.next()
		}
	}
	if t := p.peek(); t.kind != tEOF {
		what := "WHERE, GROUP BY or the end of the query"
		switch {
		case st.groupBy != nil:
			what = "',' or the end of the query"
		case st.where != nil:
			what = "AND, OR, GROUP BY or the end of the query"
		}
		return nil, p.errHere("expected %s, found %s%s", what, t.describe(), unsupported(t))
	}
	return st, nil
}

// unsupported adds a hint when t starts SQL that IoT Hub queries do not have.
func unsupported(t token) string {
	switch {
	case t.isWord("LIKE"):
		return "; LIKE is not supported: use STARTSWITH(x, 'a'), ENDSWITH(x, 'a') or CONTAINS(x, 'a')"
	case t.isWord("ORDER"):
		return "; ORDER BY is not supported: rows come ordered by deviceId"
	case t.isWord("LIMIT"):
		return "; LIMIT is not supported: use SELECT TOP n"
	case t.isWord("IS"):
		return "; for IS NULL use IS_NULL(x), for IS NOT NULL use IS_DEFINED(x)"
	case t.isWord("BETWEEN"):
		return "; BETWEEN is not supported: use x >= a AND x <= b"
	}
	return ""
}

// parseCollection parses the collection after FROM: only devices is served.
func (p *parser) parseCollection() error {
	t := p.peek()
	if !t.isWord("devices") {
		return p.errHere("expected devices after FROM, found %s", t.describe())
	}
	p.next()
	if p.peek().is(".") {
		p.next()
		sub := p.peek()
		if sub.kind != tIdent {
			return p.errHere("expected modules or jobs after 'devices.', found %s", sub.describe())
		}
		return errAt(p.src, t.off, "FROM devices.%s is not supported: this hub has device twins only; query FROM devices", sub.text)
	}
	return nil
}

// parseSelectList parses '*' or a comma-separated list of projections.
func (p *parser) parseSelectList(st *stmt) error {
	if p.peek().is("*") {
		p.next()
		st.star = true
		return nil
	}
	if t := p.peek(); t.isWord("FROM") || t.kind == tEOF {
		return p.errHere("expected * or a list of properties after %s, found %s", p.prev(), t.describe())
	}
	unnamed := 0
	for {
		it, err := p.parseItem()
		if err != nil {
			return err
		}
		if it.name == "" {
			unnamed++
			it.name = "$" + strconv.Itoa(unnamed)
		}
		for _, o := range st.items {
			if o.name == it.name {
				return errAt(p.src, it.off, "two columns are named %q; rename one with AS", it.name)
			}
		}
		st.items = append(st.items, it)
		if !p.peek().is(",") {
			return nil
		}
		p.next()
	}
}

// parseItem parses one projection: an expression or an aggregate, with an optional alias.
func (p *parser) parseItem() (selItem, error) {
	it := selItem{off: p.peek().off}
	if t := p.peek(); t.kind == tIdent && isAggregate(t.text) && p.toks[p.i+1].is("(") {
		a, err := p.parseAggregate()
		if err != nil {
			return it, err
		}
		it.agg = a
	} else {
		e, err := p.parseExpr()
		if err != nil {
			return it, err
		}
		it.e = e
		if pe, ok := e.(*pathExpr); ok {
			it.name = lastName(pe)
		}
	}
	if p.peek().isWord("AS") {
		p.next()
		t := p.peek()
		if t.kind != tIdent {
			return it, p.errHere("expected a name after AS, found %s", t.describe())
		}
		p.next()
		it.alias, it.name = t.text, t.text
	}
	return it, nil
}

// lastName is the output name of a projected path: its last member name.
func lastName(pe *pathExpr) string {
	for i := len(pe.segs) - 1; i >= 0; i-- {
		if !pe.segs[i].isIdx {
			return pe.segs[i].name
		}
	}
	return ""
}

func isAggregate(name string) bool {
	switch strings.ToUpper(name) {
	case "COUNT", "SUM", "AVG", "MIN", "MAX":
		return true
	}
	return false
}

// parseAggregate parses COUNT() / COUNT(x) / SUM(x) / AVG(x) / MIN(x) / MAX(x).
func (p *parser) parseAggregate() (*aggExpr, error) {
	t := p.next()
	a := &aggExpr{fn: strings.ToUpper(t.text), off: t.off}
	p.next()                                                          // (
	if a.fn == "COUNT" && p.peek().is("*") && p.toks[p.i+1].is(")") { // COUNT(*) as in SQL
		p.next()
	}
	if p.peek().is(")") {
		if a.fn != "COUNT" {
			return nil, p.errHere("expected a property inside %s(), e.g. %s(properties.reported.battery)", a.fn, a.fn)
		}
		p.next()
		return a, nil
	}
	arg, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	a.arg = arg
	if err := p.expectPunct(")", "to close "+a.fn+"("); err != nil {
		return nil, err
	}
	return a, nil
}
