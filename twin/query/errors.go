package query

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxQueryLength is the longest query accepted, in characters, as in IoT Hub.
const MaxQueryLength = 8192

// SyntaxError reports a malformed query: where it went wrong and what was expected there.
type SyntaxError struct {
	// Pos is the 1-based character position in the query (counted in runes) where the
	// problem was found; it is at most the query's length plus one (the end of the query).
	Pos int
	// Msg says what was expected and what was found, e.g.
	// "expected a value after '=', found 'AND'".
	Msg string
	// Query is the text that was parsed, kept for Caret.
	Query string
}

// Error returns "col N: msg" for a one-line query and "line L col C: msg" otherwise.
func (e *SyntaxError) Error() string {
	line, col := e.LineCol()
	if strings.Contains(e.Query, "\n") {
		return fmt.Sprintf("line %d col %d: %s", line, col, e.Msg)
	}
	return fmt.Sprintf("col %d: %s", col, e.Msg)
}

// LineCol converts Pos into a 1-based line and column within that line.
func (e *SyntaxError) LineCol() (line, col int) {
	line, col = 1, 1
	i := 1
	for _, r := range e.Query {
		if i >= e.Pos {
			break
		}
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
		i++
	}
	return line, col
}

// Caret returns the query line holding the error and, under it, a caret at the error's
// column, for a console to print in a fixed-width font:
//
//	SELECT * FROM devices WHERE tags.x = AND
//	                                     ^
//
// Tabs in the line are kept in the caret line so that the caret stays aligned.
func (e *SyntaxError) Caret() string {
	line, col := e.LineCol()
	text := strings.Split(e.Query, "\n")[line-1]
	var pad strings.Builder
	i := 1
	for _, r := range text {
		if i >= col {
			break
		}
		if r == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
		i++
	}
	return text + "\n" + pad.String() + "^"
}

// errAt builds a SyntaxError at byte offset off of src.
func errAt(src string, off int, format string, args ...any) *SyntaxError {
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	return &SyntaxError{
		Pos:   utf8.RuneCountInString(src[:off]) + 1,
		Msg:   fmt.Sprintf(format, args...),
		Query: src,
	}
}
