package query

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tString
	tPunct // operators and punctuation; text holds the symbol
)

// token is one lexical token. off is its byte offset in the query.
type token struct {
	kind tokKind
	text string  // identifier name, punctuation symbol, raw number text
	str  string  // decoded value of a string literal
	num  float64 // value of a number literal
	off  int
}

// is reports whether t is the punctuation sym.
func (t token) is(sym string) bool { return t.kind == tPunct && t.text == sym }

// isWord reports whether t is the identifier w, compared case-insensitively (keywords).
func (t token) isWord(w string) bool { return t.kind == tIdent && strings.EqualFold(t.text, w) }

// describe renders t for an error message: 'AND', 'x', string 'abc', end of query.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		s := t.str
		if utf8.RuneCountInString(s) > 20 {
			s = string([]rune(s)[:20]) + "..."
		}
		return "string " + strconv.Quote(s)
	case tIdent:
		if isKeyword(t.text) {
			return "'" + strings.ToUpper(t.text) + "'"
		}
	}
	return "'" + t.text + "'"
}

// keywords are the reserved words of the grammar; they cannot start a path.
var keywords = [...]string{
	"SELECT", "TOP", "FROM", "WHERE", "GROUP", "BY", "AS", "AND", "OR", "NOT", "IN", "NIN",
	"TRUE", "FALSE", "NULL", "UNDEFINED",
}

func isKeyword(s string) bool {
	for _, k := range keywords {
		if strings.EqualFold(s, k) {
			return true
		}
	}
	return false
}

// lex splits src into tokens, ending with a tEOF token. When it meets something that is
// not a token it stops there: the tokens read so far end with a tEOF at the offending
// token's offset, and the error is returned with them, so that the parser can report an
// earlier mistake first.
func lex(src string) ([]token, *SyntaxError) {
	var toks []token
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			return append(toks, token{kind: tEOF, off: len(src)}), nil
		}
		c := src[i]
		switch {
		case isIdentStart(c) || unicodeLetter(src[i:]) > 0:
			j := i
			for j < len(src) {
				if isIdentPart(src[j]) {
					j++
				} else if n := unicodeLetter(src[j:]); n > 0 {
					j += n
				} else {
					break
				}
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], off: i})
			i = j
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1]) && !afterValue(toks)):
			t, err := lexNumber(src, i)
			if err != nil {
				return append(toks, token{kind: tEOF, off: i}), err
			}
			toks = append(toks, t)
			i += len(t.text)
		case c == '\'' || c == '"':
			t, n, err := lexString(src, i)
			if err != nil {
				return append(toks, token{kind: tEOF, off: i}), err
			}
			toks = append(toks, t)
			i += n
		default:
			sym := punct(src[i:])
			if sym == "" {
				return append(toks, token{kind: tEOF, off: i}), badChar(src, i)
			}
			toks = append(toks, token{kind: tPunct, text: sym, off: i})
			i += len(sym)
		}
	}
}

// unicodeLetter returns the length of the non-ASCII letter that s starts with, or 0:
// property names such as tags.région are names too.
func unicodeLetter(s string) int {
	if s == "" || s[0] < utf8.RuneSelf {
		return 0
	}
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || !unicode.IsLetter(r) {
		return 0
	}
	return n
}

// badChar describes a character that starts no token, with a hint for the usual slips.
func badChar(src string, i int) *SyntaxError {
	switch {
	case strings.HasPrefix(src[i:], "&&"):
		return errAt(src, i, "'&&' is not an operator; use AND")
	case strings.HasPrefix(src[i:], "||"):
		return errAt(src, i, "'||' is not an operator; use OR")
	case src[i] == '!':
		return errAt(src, i, "'!' is not an operator; use NOT, or != to compare")
	}
	r, _ := utf8.DecodeRuneInString(src[i:])
	return errAt(src, i, "unexpected character %q; a query is made of names, numbers, 'strings', operators and ( ) [ ] , .", r)
}

// afterValue reports whether the previous token ends a value (so '.' is member access).
func afterValue(toks []token) bool {
	if len(toks) == 0 {
		return false
	}
	t := toks[len(toks)-1]
	return (t.kind == tIdent && !isKeyword(t.text)) || t.is(")") || t.is("]")
}

func punct(s string) string {
	if len(s) >= 2 {
		switch s[:2] {
		case "!=", "<>", "<=", ">=":
			return s[:2]
		}
	}
	switch s[0] {
	case '(', ')', '[', ']', ',', '.', '*', '+', '-', '/', '%', '=', '<', '>':
		return s[:1]
	}
	return ""
}

func isSpace(c byte) bool     { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isDigit(c byte) bool     { return c >= '0' && c <= '9' }
func isHex(c byte) bool       { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }
func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }
func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// lexNumber reads a decimal (1, 1.5, .5, 1e3) or hexadecimal (0x1F) number at src[i:].
func lexNumber(src string, i int) (token, *SyntaxError) {
	j := i
	if strings.HasPrefix(src[i:], "0x") || strings.HasPrefix(src[i:], "0X") {
		j += 2
		for j < len(src) && isHex(src[j]) {
			j++
		}
		if j == i+2 {
			return token{}, errAt(src, j, "expected hexadecimal digits after '0x'")
		}
		if j < len(src) && isIdentPart(src[j]) {
			return token{}, errAt(src, j, "unexpected %q in hexadecimal number", src[j])
		}
		u, err := strconv.ParseUint(src[i+2:j], 16, 64)
		if err != nil || u > 1<<53 {
			return token{}, errAt(src, i, "hexadecimal number %s is too large (at most 0x20000000000000)", src[i:j])
		}
		return token{kind: tNumber, text: src[i:j], num: float64(u), off: i}, nil
	}
	for j < len(src) && isDigit(src[j]) {
		j++
	}
	if j < len(src) && src[j] == '.' && j+1 < len(src) && isDigit(src[j+1]) {
		j++
		for j < len(src) && isDigit(src[j]) {
			j++
		}
	}
	if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
		k := j + 1
		if k < len(src) && (src[k] == '+' || src[k] == '-') {
			k++
		}
		if k < len(src) && isDigit(src[k]) {
			for k < len(src) && isDigit(src[k]) {
				k++
			}
			j = k
		}
	}
	if j < len(src) && isIdentPart(src[j]) {
		return token{}, errAt(src, j, "unexpected %q after number %s", src[j], src[i:j])
	}
	if j+1 < len(src) && src[j] == '.' && isDigit(src[j+1]) { // 2.1.0: a version, not a number
		k := j
		for k < len(src) && (isDigit(src[k]) || src[k] == '.') {
			k++
		}
		return token{}, errAt(src, i, "%s is not a number; to compare with text such as a version, quote it: '%s'", src[i:k], src[i:k])
	}
	f, err := strconv.ParseFloat(src[i:j], 64)
	if err != nil {
		return token{}, errAt(src, i, "number %s is out of range", src[i:j])
	}
	return token{kind: tNumber, text: src[i:j], num: f, off: i}, nil
}

// lexString reads a quoted string at src[i:], returning the token and its length in bytes.
// Escapes: \' \" \\ \/ \b \f \n \r \t \uXXXX.
func lexString(src string, i int) (token, int, *SyntaxError) {
	q := src[i]
	var b strings.Builder
	j := i + 1
	for {
		if j >= len(src) {
			return token{}, 0, errAt(src, i, "string starting here is not closed; end it with %c", q)
		}
		c := src[j]
		switch {
		case c == q:
			j++
			return token{kind: tString, text: src[i:j], str: b.String(), off: i}, j - i, nil
		case c == '\\':
			n, err := lexEscape(src, j, &b)
			if err != nil {
				return token{}, 0, err
			}
			j += n
		default:
			b.WriteByte(c)
			j++
		}
	}
}

// lexEscape decodes the escape sequence at src[j:] (src[j] == '\\') into b.
func lexEscape(src string, j int, b *strings.Builder) (int, *SyntaxError) {
	if j+1 >= len(src) {
		return 0, errAt(src, j, "string ends inside an escape sequence")
	}
	switch e := src[j+1]; e {
	case '\'', '"', '\\', '/':
		b.WriteByte(e)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		if j+6 > len(src) || !isHex(src[j+2]) || !isHex(src[j+3]) || !isHex(src[j+4]) || !isHex(src[j+5]) {
			return 0, errAt(src, j, `expected 4 hexadecimal digits after \u`)
		}
		r, _ := strconv.ParseUint(src[j+2:j+6], 16, 32)
		if r >= 0xD800 && r < 0xDC00 && j+12 <= len(src) && src[j+6] == '\\' && src[j+7] == 'u' {
			if lo, err := strconv.ParseUint(src[j+8:j+12], 16, 32); err == nil && lo >= 0xDC00 && lo < 0xE000 {
				b.WriteRune(rune((r-0xD800)<<10 + (lo - 0xDC00) + 0x10000))
				return 12, nil
			}
		}
		b.WriteRune(rune(r))
		return 6, nil
	default:
		r, _ := utf8.DecodeRuneInString(src[j+1:])
		return 0, errAt(src, j, `unknown escape \%c in string; use \' \" \\ \n \t or \uXXXX`, r)
	}
	return 2, nil
}
