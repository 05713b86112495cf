package edit

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/twinops/twinops/twin"
)

// validation is the result of checking one buffer as the operator types.
type validation struct {
	value     map[string]any // nil when invalid
	line, col int            // 1-based position of a syntax error, 0 when none
	msg       string         // what is wrong, "" when valid
}

// validate parses an edited JSON object and checks it against the twin rules of its
// section (keys, depth, sizes, strings, integers).
func validate(sec twin.Section, text string) validation {
	if strings.TrimSpace(text) == "" {
		text = "{}"
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		off := int64(-1)
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			off = se.Offset
		case errors.As(err, &te):
			off = te.Offset
		}
		line, col := lineCol(text, off, strings.Contains(err.Error(), "unexpected end"))
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if te != nil {
			msg = "the " + sec.String() + " must be a JSON object"
		}
		return validation{line: line, col: col, msg: msg}
	}
	if v == nil {
		return validation{msg: "the " + sec.String() + " must be a JSON object, not null"}
	}
	if _, terr := twin.ParsePatch(sec, []byte(text)); terr != nil {
		msg := terr.Message
		if terr.Path != "" && !strings.Contains(msg, terr.Path) {
			msg = terr.Path + ": " + msg
		}
		return validation{msg: msg}
	}
	return validation{value: v}
}

// lineCol converts a byte offset as encoding/json reports it into a 1-based line and
// column (in characters). For a bad character the offset is just past it; for a text that
// ends too early it is the end.
func lineCol(text string, off int64, atEnd bool) (int, int) {
	if off < 0 {
		return 0, 0
	}
	pos := int(min(off, int64(len(text))))
	if !atEnd && pos > 0 {
		pos--
	}
	before := text[:pos]
	line := strings.Count(before, "\n") + 1
	col := utf8.RuneCountInString(before[strings.LastIndex(before, "\n")+1:]) + 1
	return line, col
}

// pretty formats a property tree the way the editor shows it: sorted keys, two spaces.
func pretty(v map[string]any) string {
	if v == nil {
		v = map[string]any{}
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "{}"
	}
	return string(b)
}

// compact formats a patch on one line.
func compact(v map[string]any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}

// applyPatch returns base with a merge patch applied (null deletes, objects merge,
// everything else replaces); base is not modified.
func applyPatch(base, patch map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, pv := range patch {
		switch pv := pv.(type) {
		case nil:
			delete(out, k)
		case map[string]any:
			sub, _ := out[k].(map[string]any)
			out[k] = applyPatch(sub, pv)
		default:
			out[k] = pv
		}
	}
	return out
}

// conflicts lists the leaf paths that both patches set, to different values.
func conflicts(theirs, yours map[string]any) []string {
	var out []string
	var walk func(t, y map[string]any, prefix string)
	walk = func(t, y map[string]any, prefix string) {
		for k, yv := range y {
			tv, ok := t[k]
			if !ok {
				continue
			}
			tm, tIsMap := tv.(map[string]any)
			ym, yIsMap := yv.(map[string]any)
			if tIsMap && yIsMap {
				walk(tm, ym, prefix+k+".")
				continue
			}
			if !twin.Equal(tv, yv) {
				out = append(out, prefix+k)
			}
		}
	}
	walk(theirs, yours, "")
	sort.Strings(out)
	return out
}

// describe turns a hub error into the text the operator sees, status first.
func describe(status int, err error) string {
	if status > 0 {
		return fmt.Sprintf("hub answered %d: %v", status, err)
	}
	return err.Error()
}
