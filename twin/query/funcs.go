package query

import "strings"

// function is a built-in function of the query language.
type function struct {
	name  string
	arity int
	usage string
	fn1   func(value) value
	fn2   func(value, value) value
}

// lookupFunction finds a built-in function by name, case-insensitively; nil if unknown.
func lookupFunction(name string) *function {
	for _, f := range functions() {
		if strings.EqualFold(f.name, name) {
			return f
		}
		// STARTS_WITH and ENDS_WITH are the routing-query spellings; accept them too.
		if strings.EqualFold(strings.ReplaceAll(f.name, "WITH", "_WITH"), name) {
			return f
		}
	}
	return nil
}

// functionNames lists the built-in functions for error messages.
func functionNames() []string {
	var names []string
	for _, f := range functions() {
		names = append(names, f.name)
	}
	return names
}

func isKind(name string, test func(value) bool) *function {
	return &function{name: name, arity: 1, usage: name + "(property)", fn1: func(v value) value { return boolv(test(v)) }}
}

func strFunc(name string, test func(s, t string) bool) *function {
	return &function{name: name, arity: 2, usage: name + "(property, 'text')", fn2: func(a, b value) value {
		s, ok1 := asString(a)
		t, ok2 := asString(b)
		if !ok1 || !ok2 {
			return undef
		}
		return boolv(test(s, t))
	}}
}

func asString(v value) (string, bool) {
	switch v.k {
	case kStr:
		return v.s, true
	case kTime:
		return formatTime(v.t), true
	}
	return "", false
}

// functions returns the built-in functions. IS_DEFINED is true for any assigned value,
// null included; the IS_ type tests are false (not undefined) for an undefined argument.
func functions() []*function {
	return []*function{
		isKind("IS_DEFINED", func(v value) bool { return v.k != kUndef }),
		isKind("IS_NULL", func(v value) bool { return v.k == kNull }),
		isKind("IS_BOOL", func(v value) bool { return v.k == kBool }),
		isKind("IS_NUMBER", func(v value) bool { return v.k == kNum }),
		isKind("IS_STRING", func(v value) bool { return v.k == kStr || v.k == kTime }),
		isKind("IS_OBJECT", func(v value) bool { return v.k == kObj }),
		isKind("IS_ARRAY", func(v value) bool { return v.k == kArr }),
		isKind("IS_PRIMITIVE", func(v value) bool { return v.k >= kNull && v.k <= kTime }),
		strFunc("STARTSWITH", strings.HasPrefix),
		strFunc("ENDSWITH", strings.HasSuffix),
		strFunc("CONTAINS", strings.Contains),
	}
}
