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
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	return b.String()
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

// validateValue checks v (a member value at depth len(path)) and everything below it.
// Nulls are accepted (in a patch they delete; in arrays they are values).
func validateValue(p *pathStack, v any) *Error {
	switch v := v.(type) {
	case map[string]any:
		return validateObject(p, v)
	case []any:
		for i, e := range v {
			p.push("", i)
			if p.n > MaxDepth {
				return errInvalid(p.String(), "nested deeper than %d levels; flatten the value", MaxDepth)
			}
			if err := validateValue(p, e); err != nil {
				return err
			}
			p.pop()
		}
		return nil
	case string:
		if msg := checkString(v); msg != "" {
			return errInvalid(p.String(), "%s", msg)
		}
		return nil
	case float64:
		if msg := checkNumber(v); msg != "" {
			return errInvalid(p.String(), "%s", msg)
		}
		return nil
	}
	n, ok := normalizeScalar(v)
	if !ok {
		return errInvalid(p.String(), "%T is not a JSON value; use an object, array, string, number, boolean or null", v)
	}
	if f, isNum := n.(float64); isNum {
		if msg := checkNumber(f); msg != "" {
			return errInvalid(p.String(), "%s", msg)
		}
	}
	return nil
}

// validateObject checks every member of m.
func validateObject(p *pathStack, m map[string]any) *Error {
	for k, e := range m {
		p.push(k, -1)
		if msg := checkKey(k); msg != "" {
			return errInvalid(p.String(), "%s", msg)
		}
		if p.n > MaxDepth {
			return errInvalid(p.String(), "nested deeper than %d levels; flatten the value", MaxDepth)
		}
		if err := validateValue(p, e); err != nil {
			return err
		}
		p.pop()
	}
	return nil
}

// validateTree checks a patch or document for section s.
func validateTree(s Section, m map[string]any) *Error {
	p := pathStack{root: s.pathPrefix()}
	return validateObject(&p, m)
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

// patchDelta is how much applying patch to old changes old's Azure-counted size.
func patchDelta(old, patch map[string]any) int {
	d := 0
	for k, pv := range patch {
		ov, had := old[k]
		if pv == nil {
			if had {
				d -= charCount(k) + sizeOf(ov, false)
			}
			continue
		}
		pm, pIsMap := pv.(map[string]any)
		om, oIsMap := ov.(map[string]any)
		if pIsMap && oIsMap {
			d += patchDelta(om, pm)
			continue
		}
		if had {
			d -= sizeOf(ov, false)
		} else {
			d += charCount(k)
		}
		d += sizeOf(pv, true)
	}
	return d
}
