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

// checkKey applies Azure's key rules; it returns "" or what is wrong and what to do.
func checkKey(k string) string {
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

// validateTree checks a whole document for section s and returns its size.
func validateTree(s Section, m map[string]any) (int, *Error) {
	p := pathStack{root: s.pathPrefix()}
	return checkValue(&p, m, true)
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

// checkMerge validates patch (merged into old at path p) and returns how much applying
// it changes old's Azure-counted size, in one walk of the patch.
func checkMerge(p *pathStack, old, patch map[string]any) (int, *Error) {
	d := 0
	for k, pv := range patch {
		p.push(k, -1)
		if msg := checkKey(k); msg != "" {
			return 0, errInvalid(p.String(), "%s", msg)
		}
		if p.n > MaxDepth {
			return 0, errInvalid(p.String(), "nested deeper than %d levels; flatten the value", MaxDepth)
		}
		ov, had := old[k]
		switch pv := pv.(type) {
		case nil:
			if had {
				d -= charCount(k) + sizeOf(ov, false)
			}
		case map[string]any:
			if om, ok := ov.(map[string]any); ok {
				sub, err := checkMerge(p, om, pv)
				if err != nil {
					return 0, err
				}
				d += sub
				break
			}
			n, err := checkValue(p, pv, true)
			if err != nil {
				return 0, err
			}
			d += n - sizeOf(ov, false)
			if !had {
				d += charCount(k)
			}
		default:
			n, err := checkValue(p, pv, false)
			if err != nil {
				return 0, err
			}
			d += n - sizeOf(ov, false)
			if !had {
				d += charCount(k)
			}
		}
		p.pop()
	}
	return d, nil
}

// checkValue validates v (at path p) and returns its Azure-counted size; with skipNull,
// null members of objects are not counted (they delete nothing).
func checkValue(p *pathStack, v any, skipNull bool) (int, *Error) {
	switch v := v.(type) {
	case map[string]any:
		n := 0
		for k, e := range v {
			p.push(k, -1)
			if msg := checkKey(k); msg != "" {
				return 0, errInvalid(p.String(), "%s", msg)
			}
			if p.n > MaxDepth {
				return 0, errInvalid(p.String(), "nested deeper than %d levels; flatten the value", MaxDepth)
			}
			sz, err := checkValue(p, e, skipNull)
			if err != nil {
				return 0, err
			}
			if e != nil || !skipNull {
				n += charCount(k) + sz
			}
			p.pop()
		}
		return n, nil
	case []any:
		n := 0
		for i, e := range v {
			p.push("", i)
			if p.n > MaxDepth {
				return 0, errInvalid(p.String(), "nested deeper than %d levels; flatten the value", MaxDepth)
			}
			sz, err := checkValue(p, e, false)
			if err != nil {
				return 0, err
			}
			n += sz
			p.pop()
		}
		return n, nil
	case string:
		if msg := checkString(v); msg != "" {
			return 0, errInvalid(p.String(), "%s", msg)
		}
		return charCount(v), nil
	case float64:
		if msg := checkNumber(v); msg != "" {
			return 0, errInvalid(p.String(), "%s", msg)
		}
		return 8, nil
	case bool:
		return 4, nil
	case nil:
		return 0, nil
	}
	n, ok := normalizeScalar(v)
	if !ok {
		return 0, errInvalid(p.String(), "%T is not a JSON value; use an object, array, string, number, boolean or null", v)
	}
	return checkValue(p, n, skipNull)
}
