package twin

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// AppendValue appends the JSON encoding of a JSON value to dst, object members sorted by
// key (the same bytes encoding/json would produce for these types, without HTML escaping).
func AppendValue(dst []byte, v any) []byte {
	switch v := v.(type) {
	case map[string]any:
		dst = append(dst, '{')
		dst = appendMembers(dst, v, false)
		return append(dst, '}')
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendValue(dst, e)
		}
		return append(dst, ']')
	case string:
		return appendString(dst, v)
	case float64:
		return appendFloat(dst, v)
	case bool:
		return strconv.AppendBool(dst, v)
	case nil:
		return append(dst, "null"...)
	}
	if n, ok := normalizeScalar(v); ok {
		return AppendValue(dst, n)
	}
	return append(dst, "null"...)
}

// member is one member of an object, for writing members in key order.
type member[V any] struct {
	k string
	v V
}

// sortedMembers returns the members of m sorted by key, using buf when it is large
// enough (one pass over the map, no lookups afterwards).
func sortedMembers[V any](m map[string]V, buf []member[V]) []member[V] {
	ms := buf[:0]
	for k, v := range m {
		ms = append(ms, member[V]{k, v})
	}
	if len(ms) > 24 {
		slices.SortFunc(ms, func(a, b member[V]) int { return strings.Compare(a.k, b.k) })
		return ms
	}
	// insertion sort: most objects are small, and it needs no comparison closure
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].k < ms[j-1].k; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
	return ms
}

// appendMembers appends the members of m without braces; comma says whether one is
// needed before the first member. Members are sorted by key.
func appendMembers(dst []byte, m map[string]any, comma bool) []byte {
	var buf [16]member[any]
	for _, e := range sortedMembers(m, buf[:]) {
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = appendString(dst, e.k)
		dst = append(dst, ':')
		dst = AppendValue(dst, e.v)
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\ufffd`...)
				i++
				start = i
				continue
			}
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xf])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendFloat formats f as encoding/json does: whole numbers without exponent, very
// large or small magnitudes with one.
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// zeroTime is how Azure writes a time that was never set.
const zeroTime = "0001-01-01T00:00:00Z"

// appendTime appends t as a JSON string in UTC, RFC 3339 with as many fractional digits
// as needed (lossless); a zero time is "0001-01-01T00:00:00Z".
func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(dst, `"`+zeroTime+`"`...)
	}
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// timeCache remembers the last time appendTime formatted: metadata repeats the time of
// each write on every node it touched.
type timeCache struct {
	t   uint64 // a stamp (see Meta)
	buf [40]byte
	n   int
}

// append appends the time of stamp t as appendTime does.
func (c *timeCache) append(dst []byte, t uint64) []byte {
	if c.n == 0 || t != c.t {
		c.t = t
		c.n = len(appendTime(c.buf[:0], stampTime(t)))
	}
	return append(dst, c.buf[:c.n]...)
}

// parseTime reads a time written by appendTime, or Azure's forms (with or without the
// zone; a missing zone means UTC).
func parseTime(s string) (time.Time, bool) {
	if s == "" || s == zeroTime || s == "0001-01-01T00:00:00" {
		return time.Time{}, true
	}
	if sec, nsec, ok := parseUTC(s); ok {
		return time.Unix(sec, nsec).UTC(), true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// parseUTC reads the form appendTime writes, "2006-01-02T15:04:05[.fraction]Z" with a
// year from 1970 to 2261, as Unix seconds and nanoseconds: the common case of parseTime
// without time.Parse. Anything else (other zones, years, forms) is left to time.Parse.
func parseUTC(s string) (sec, nsec int64, ok bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return 0, 0, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, mo, d, h, mi, se := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
	if y < 1970 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59 || h < 0 || mi < 0 || se < 0 {
		return 0, 0, false
	}
	t := time.Date(y, time.Month(mo), d, h, mi, se, 0, time.UTC)
	if t.Day() != d {
		return 0, 0, false // February 30th and the like: time.Date moved it on
	}
	if frac := s[19 : len(s)-1]; frac != "" {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return 0, 0, false
		}
		f := num(20, len(frac)-1)
		if f < 0 {
			return 0, 0, false
		}
		for range 10 - len(frac) {
			f *= 10
		}
		nsec = int64(f)
	}
	return t.Unix(), nsec, true
}
