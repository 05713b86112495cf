package twin

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Azure IoT Hub's limits on twin contents (facts sheet 2.4).
const (
	MaxKeyBytes    = 1024      // bytes of UTF-8 in one key
	MaxStringBytes = 4096      // bytes of UTF-8 in one string value
	MaxDepth       = 10        // keys (and array indexes) on the path to any value
	MaxTagsSize    = 8 * 1024  // Azure-counted size of tags
	MaxPropsSize   = 32 * 1024 // Azure-counted size of desired, and of reported
	MaxInt         = 1<<52 - 1 // largest whole number accepted
	MinInt         = -(1 << 52)
)

// sizeLimit is the Azure-counted size limit of section s.
func sizeLimit(s Section) int {
	if s == Tags {
		return MaxTagsSize
	}
	return MaxPropsSize
}

// pathSeg is one step of a path: a key, or an array index when key is "" and idx >= 0.
type pathSeg struct {
	key string
	idx int
}

// pathStack tracks where a walk is, to name the offending path in an error. Its segments
// live in a fixed array so that a walk of valid input does not allocate.
type pathStack struct {
	root string
	n    int
	segs [MaxDepth + 2]pathSeg
}

func (p *pathStack) push(key string, idx int) {
	if p.n < len(p.segs) {
		p.segs[p.n] = pathSeg{key, idx}
	}
	p.n++
}

func (p *pathStack) pop() { p.n-- }

// String renders the path as "properties.reported.a.b[2]".
func (p *pathStack) String() string {
	var b strings.Builder
	b.WriteString(p.root)
	for i := 0; i < p.n && i < len(p.segs); i++ {
		s := p.segs[i]
		if s.idx >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.idx))
			b.WriteByte(']')
			continue
		}
		if plainKey(s.key) {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
			continue
		}
		b.WriteByte('[')
		b.WriteString(strconv.Quote(s.key))
		b.WriteByte(']')
	}
	return b.String()
}

// plainKey says whether k can be written bare in a dotted path.
func plainKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r == '.' || r == '$' || r == '[' || r == ']' || r == '"' ||
			(r >= 0x7f && r <= 0x9f) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// badKeyBytes has bit c set for every ASCII byte c below 64 that a key may not contain:
// control characters, space, '$' and '.'.
const badKeyBytes uint64 = 1<<0x20 - 1 | 1<<' ' | 1<<'$' | 1<<'.'

// checkKey applies Azure's key rules; it returns "" or what is wrong and what to do.
// Plain ASCII keys take a fast path (eight bytes at a time); anything else gets the full
// check.
func checkKey(k string) string {
	if k == "" || len(k) > MaxKeyBytes {
		return checkKeyFull(k)
	}
	i := 0
	for ; i+8 <= len(k); i += 8 {
		if badKey8(load8(k, i)) != 0 {
			return checkKeyFull(k)
		}
	}
	for ; i < len(k); i++ {
		c := k[i]
		if c < 64 {
			if badKeyBytes>>c&1 != 0 {
				return checkKeyFull(k)
			}
		} else if c >= 0x7f {
			return checkKeyFull(k)
		}
	}
	return ""
}

// load8 is the eight bytes of s from i, little-endian (one load).
func load8(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// badKey8 finds the bytes among the eight in x that a plain key may not hold: a control
// character, space, '$', '.', DEL or a byte of a multi-byte character. Like
// stringStops8 it returns 0 or a mask whose lowest set bit marks the first of them.
func badKey8(x uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	d, p, del := x^(lo*'$'), x^(lo*'.'), x^(lo*0x7f)
	return ((x-lo*0x21)&^x | (d-lo)&^d | (p-lo)&^p | (del-lo)&^del | x) & hi
}

// checkKeyFull is checkKey for keys that are not plain ASCII or break a rule.
func checkKeyFull(k string) string {
	if k == "" {
		return "empty key; give the member a name"
	}
	if len(k) > MaxKeyBytes {
		return "key is " + strconv.Itoa(len(k)) + " bytes; keys are limited to 1024 bytes"
	}
	for i := 0; i < len(k); {
		c := k[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '$':
				if i == 0 {
					return "member names starting with '$' are reserved for the hub ($version, $metadata); remove it"
				}
				return "key contains '$'; rename the key"
			case c == '.':
				return "key contains '.'; rename the key"
			case c == ' ':
				return "key contains a space; rename the key"
			case c < 0x20 || c == 0x7f:
				return "key contains a control character; rename the key"
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(k[i:])
		if r == utf8.RuneError && size == 1 {
			return "key is not valid UTF-8; rename the key"
		}
		if r >= 0x80 && r <= 0x9f {
			return "key contains a control character; rename the key"
		}
		i += size
	}
	return ""
}

// checkString applies the string value rules.
func checkString(s string) string {
	if len(s) > MaxStringBytes {
		return "string is " + strconv.Itoa(len(s)) + " bytes; strings are limited to 4096 bytes"
	}
	if !utf8.ValidString(s) {
		return "string is not valid UTF-8"
	}
	return ""
}

// checkNumber applies the number rules: finite, and whole numbers within ±2^52.
func checkNumber(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "number is not finite; use a finite number"
	}
	if f == math.Trunc(f) && (f > MaxInt || f < MinInt) {
		return "whole number " + strconv.FormatFloat(f, 'f', -1, 64) +
			" is outside -4503599627370496…4503599627370495; send it as a string"
	}
	return ""
}

// normalizeScalar turns the Go number types callers may use into float64. ok is false
// for types that are not JSON values.
func normalizeScalar(v any) (any, bool) {
	switch v := v.(type) {
	case nil, string, bool, float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case int32:
		return float64(v), true
	case float32:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return nil, false
		}
		return f, true
	}
	return nil, false
}
