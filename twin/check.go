package twin

import "unicode/utf8"

// stats is what a check learns about a value as it will be stored: its Azure-counted
// size and its number of leaves (see leafCount).
type stats struct {
	size, leaves int
}

// validateTree checks a whole document for section s and returns its stats as a section
// (leaves summed over the members, an empty section has none).
func validateTree(s Section, m map[string]any) (stats, *Error) {
	p := pathStack{root: s.pathPrefix()}
	st, err := checkValue(&p, m, true)
	if err == nil && st.leaves == 1 && nonNullMembers(m) == 0 {
		st.leaves = 0
	}
	return st, err
}

func nonNullMembers(m map[string]any) int {
	n := 0
	for _, v := range m {
		if v != nil {
			n++
		}
	}
	return n
}

// charCount counts characters the way Azure sizes twins: UTF-8 characters, control
// characters excluded.
func charCount(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != 0x7f {
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < 0x80 || r > 0x9f {
			n++
		}
		i += size
	}
	return n
}

// sizeOf is the Azure-counted size of a value: strings by characters, numbers 8,
// booleans 4, null 0, objects the sum of key lengths and member sizes, arrays the sum of
// their elements. Null members of objects are skipped when skipNull is set (a patch
// subtree that lands where no object was).
func sizeOf(v any, skipNull bool) int {
	switch v := v.(type) {
	case map[string]any:
		n := 0
		for k, e := range v {
			if e == nil && skipNull {
				continue
			}
			n += charCount(k) + sizeOf(e, skipNull)
		}
		return n
	case []any:
		n := 0
		for _, e := range v {
			n += sizeOf(e, false)
		}
		return n
	case string:
		return charCount(v)
	case bool:
		return 4
	case nil:
		return 0
	}
	return 8
}

// leafCount is the number of leaves of a stored value, as Diff counts them: a non-empty
// object counts its members' leaves; anything else (scalar, array, empty object) is one.
func leafCount(v any) int {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		return 1
	}
	return sectionLeaves(m)
}

// sectionLeaves is the number of leaves under a section root (an empty root has none).
func sectionLeaves(m map[string]any) int {
	n := 0
	for _, e := range m {
		n += leafCount(e)
	}
	return n
}

// statsOf is sizeOf(v, false) and leafCount(v) in one walk.
func statsOf(v any) stats {
	m, ok := v.(map[string]any)
	if !ok {
		return stats{sizeOf(v, false), 1}
	}
	var st stats
	for k, e := range m {
		es := statsOf(e)
		st.size += charCount(k) + es.size
		st.leaves += es.leaves
	}
	if len(m) == 0 {
		st.leaves = 1
	}
	return st
}

// objectLeafDelta turns the change of the summed leaves of an object's members into the
// change of the object's own leaf count, given its member count before and after (an
// empty object is itself one leaf).
func objectLeafDelta(lenBefore, lenAfter, membersDelta int) int {
	switch {
	case lenBefore > 0 && lenAfter > 0:
		return membersDelta
	case lenBefore == 0 && lenAfter == 0:
		return 0
	case lenBefore == 0:
		return membersDelta - 1
	}
	return membersDelta + 1
}

// checkValue validates v (at path p) and returns its stats as it will be stored; with
// skipNull, null members of objects are dropped (they delete nothing).
func checkValue(p *pathStack, v any, skipNull bool) (stats, *Error) {
	switch v := v.(type) {
	case map[string]any:
		var st stats
		members := 0
		for k, e := range v {
			p.push(k, -1)
			if msg := checkKey(k); msg != "" {
				return st, errInvalid(p.String(), "%s", msg)
			}
			if p.n > MaxDepth {
				return st, errInvalid(p.String(), "nested deeper than %d levels; flatten the value", MaxDepth)
			}
			es, err := checkValue(p, e, skipNull)
			if err != nil {
				return st, err
			}
			if e != nil || !skipNull {
				st.size += charCount(k) + es.size
				st.leaves += es.leaves
				members++
			}
			p.pop()
		}
		if members == 0 {
			st.leaves = 1
		}
		return st, nil
	case []any:
		st := stats{leaves: 1}
		for i, e := range v {
			p.push("", i)
			if p.n > MaxDepth {
				return st, errInvalid(p.String(), "nested deeper than %d levels; flatten the value", MaxDepth)
			}
			es, err := checkValue(p, e, false)
			if err != nil {
				return st, err
			}
			st.size += es.size
			p.pop()
		}
		return st, nil
	case string:
		if msg := checkString(v); msg != "" {
			return stats{}, errInvalid(p.String(), "%s", msg)
		}
		return stats{charCount(v), 1}, nil
	case float64:
		if msg := checkNumber(v); msg != "" {
			return stats{}, errInvalid(p.String(), "%s", msg)
		}
		return stats{8, 1}, nil
	case bool:
		return stats{4, 1}, nil
	case nil:
		return stats{0, 1}, nil
	}
	n, ok := normalizeScalar(v)
	if !ok {
		return stats{}, errInvalid(p.String(), "%T is not a JSON value; use an object, array, string, number, boolean or null", v)
	}
	return checkValue(p, n, skipNull)
}
