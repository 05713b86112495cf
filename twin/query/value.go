package query

import (
	"encoding/json"
	"strings"
	"time"
)

// kind is the type of a query value. The order is the sort order used for GROUP BY rows
// and MIN/MAX across kinds: undefined < null < bool < number < string (times sort with
// strings, as they are strings in JSON).
type kind uint8

const (
	kUndef kind = iota
	kNull
	kBool
	kNum
	kStr
	kTime // an identity or $metadata time; a string in JSON
	kObj
	kArr
)

// value is a query value. It is passed by value so that evaluating plain comparisons
// allocates nothing: strings and numbers live in s and n, times in t, and objects and
// arrays point at the twin's own maps and slices through r.
type value struct {
	k kind
	b bool
	n float64
	s string
	t time.Time
	r any // map[string]any for kObj, []any for kArr
}

var (
	undef  = value{}
	vnull  = value{k: kNull}
	vtrue  = value{k: kBool, b: true}
	vfalse = value{k: kBool}
)

func boolv(b bool) value      { return value{k: kBool, b: b} }
func numv(n float64) value    { return value{k: kNum, n: n} }
func strv(s string) value     { return value{k: kStr, s: s} }
func timev(t time.Time) value { return value{k: kTime, t: t} }

// isTrue reports whether v is boolean true: the only value that lets a condition pass.
func (v value) isTrue() bool { return v.k == kBool && v.b }

// fromAny converts a JSON value (map[string]any, []any, string, float64, bool, nil) into
// a value. Other Go numbers are accepted too; anything else is undefined.
func fromAny(x any) value {
	switch x := x.(type) {
	case nil:
		return vnull
	case string:
		return strv(x)
	case float64:
		return numv(x)
	case bool:
		return boolv(x)
	case map[string]any:
		return value{k: kObj, r: x}
	case []any:
		return value{k: kArr, r: x}
	case int:
		return numv(float64(x))
	case int64:
		return numv(float64(x))
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return undef
		}
		return numv(f)
	}
	return undef
}

// toAny converts v back to a JSON value for a result row; ok is false for undefined,
// which result rows leave out (as IoT Hub does). Objects and arrays are deep-copied, so
// that a row never shares memory with a twin that may change after the query.
func (v value) toAny() (x any, ok bool) {
	switch v.k {
	case kNull:
		return nil, true
	case kBool:
		return v.b, true
	case kNum:
		return v.n, true
	case kStr:
		return v.s, true
	case kTime:
		return formatTime(v.t), true
	case kObj, kArr:
		return deepCopy(v.r), true
	}
	return nil, false
}

func deepCopy(x any) any {
	switch x := x.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = deepCopy(v)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, v := range x {
			a[i] = deepCopy(v)
		}
		return a
	}
	return x
}

// formatTime writes a time as the twin's JSON does: UTC, RFC 3339 with as many
// fractional digits as needed, and Azure's "0001-01-01T00:00:00Z" for a time never set.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// parseTime reads a time written as IoT Hub or RFC 3339 writes it.
func parseTime(s string) (time.Time, bool) {
	for _, l := range [...]string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// compare orders two primitive values of the same kind: -1, 0 or 1. ok is false when they
// are not comparable (different kinds, undefined, objects, arrays), which makes every
// comparison operator undefined, as in IoT Hub. A time compares with a string that parses
// as a time by instant, and with any other string as its formatted text.
func compare(a, b value) (c int, ok bool) {
	if a.k == kTime && b.k == kStr {
		return compareTimeStr(a.t, b.s, false)
	}
	if a.k == kStr && b.k == kTime {
		return compareTimeStr(b.t, a.s, true)
	}
	if a.k != b.k {
		return 0, false
	}
	switch a.k {
	case kNull:
		return 0, true
	case kBool:
		return cmpBool(a.b, b.b), true
	case kNum:
		switch {
		case a.n < b.n:
			return -1, true
		case a.n > b.n:
			return 1, true
		case a.n == b.n:
			return 0, true
		}
		return 0, false // NaN
	case kStr:
		return strings.Compare(a.s, b.s), true
	case kTime:
		return a.t.Compare(b.t), true
	}
	return 0, false
}

func compareTimeStr(t time.Time, s string, swap bool) (int, bool) {
	var c int
	if st, ok := parseTime(s); ok {
		c = t.Compare(st)
	} else {
		c = strings.Compare(formatTime(t), s)
	}
	if swap {
		c = -c
	}
	return c, true
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// order is a total order over all values for sorting result rows: kinds first (see kind),
// then values within a kind; objects and arrays compare by their JSON text.
func order(a, b value) int {
	ka, kb := sortKind(a.k), sortKind(b.k)
	if ka != kb {
		if ka < kb {
			return -1
		}
		return 1
	}
	if a.k == kObj || a.k == kArr || b.k == kObj || b.k == kArr {
		x, _ := json.Marshal(a.r)
		y, _ := json.Marshal(b.r)
		return strings.Compare(string(x), string(y))
	}
	if c, ok := compare(a, b); ok {
		return c
	}
	return 0
}

func sortKind(k kind) kind {
	if k == kTime {
		return kStr
	}
	return k
}
