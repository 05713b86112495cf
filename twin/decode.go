package twin

import (
	"strconv"
	"strings"
)

// maxNesting bounds recursion when decoding documents that are not validated (stored
// twins): far above MaxDepth plus the $metadata levels, far below a stack problem.
const maxNesting = 64

// decoder is a small JSON decoder producing the package's value types. With validate set
// it applies the patch rules (keys, depth, strings, numbers) while decoding, naming the
// offending path. Strings without escapes are substrings of one copy of the input.
type decoder struct {
	data     []byte
	src      string // string(data), shared by the decoded strings
	pos      int
	validate bool
	// copyStrings gives every decoded string its own allocation instead of a substring
	// of src: for documents kept long (a whole twin), so they do not pin the input.
	copyStrings bool
	// Member names of the property values being decoded, in order, for key to share
	// with the $metadata that follows them.
	recording, inMeta bool
	recKeys           []string
	recPos            int
	// intern, when set, holds the strings kept so far by a Decoder (keep); interning
	// says whether to use it now (in tags and property values, not identity fields).
	intern    map[string]string
	interning bool
	// share, when set, holds the objects read so far by a Decoder with ShareValues,
	// by their JSON text (sharedObject).
	share map[string]sharedObj
	// measure makes every value record its stats in vs (size and leaves, as Patch
	// caches them), so that a decoded twin need not be walked again.
	measure bool
	vs      stats
	path    pathStack
	err     *Error
}

func newDecoder(body []byte, root string, validate bool) decoder {
	d := decoder{data: body, src: string(body), validate: validate}
	d.path.root = root
	return d
}

// ParsePatch decodes a merge patch for section s and validates it: it must be a JSON
// object; keys follow Azure's rules (no '.', '$', space or control characters, at most
// 1 KB; `$` members such as $version are the hub's), nesting at most 10 levels, strings at
// most 4 KB, whole numbers within ±2^52. The section size is checked by Patch, against
// the result. Errors name the offending path.
func ParsePatch(s Section, body []byte) (map[string]any, *Error) {
	d := newDecoder(body, s.pathPrefix(), true)
	m := d.top()
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// decodeObject decodes a JSON object without the patch rules (stored documents).
func decodeObject(body []byte) (map[string]any, *Error) {
	d := newDecoder(body, "", false)
	d.copyStrings = true
	m := d.top()
	if d.err != nil {
		return nil, d.err
	}
	return m, nil
}

// top decodes the whole input, which must be one JSON object.
func (d *decoder) top() map[string]any {
	d.ws()
	if d.pos >= len(d.data) {
		d.fail("body is empty; send a JSON object")
		return nil
	}
	if d.data[d.pos] != '{' {
		d.fail("body must be a JSON object, such as {\"key\": \"value\"}")
		return nil
	}
	m := d.object()
	if d.err != nil {
		return nil
	}
	d.ws()
	if d.pos < len(d.data) {
		d.fail("unexpected text after the JSON object")
		return nil
	}
	return m
}

// fail records a malformed-JSON error at the current position.
func (d *decoder) fail(what string) {
	if d.err == nil {
		p := d.path.String()
		msg := "malformed JSON at byte " + strconv.Itoa(d.pos) + ": " + what
		if p != "" {
			msg = p + ": " + msg
		}
		d.err = &Error{Status: 400, Code: CodeMalformed, Path: p, Message: msg}
	}
}

// invalid records a rule violation at the current path.
func (d *decoder) invalid(msg string) {
	if d.err == nil {
		d.err = errInvalid(d.path.String(), "%s", msg)
	}
}

func (d *decoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// value decodes any JSON value at d.pos (whitespace already skipped).
func (d *decoder) value() any {
	if d.pos >= len(d.data) {
		d.fail("unexpected end of input; expected a value")
		return nil
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		if d.share != nil && d.interning {
			return d.sharedObject()
		}
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		s := d.str()
		if d.err == nil && d.validate && len(s) > MaxStringBytes {
			d.invalid(checkString(s)) // str already checked UTF-8
		}
		d.vs = stats{0, 1}
		if d.measure {
			d.vs.size = charCount(s)
		}
		return s
	case c == '-' || (c >= '0' && c <= '9'):
		d.vs = stats{8, 1}
		return d.number()
	case c == 't':
		d.vs = stats{4, 1}
		return d.literal("true", true)
	case c == 'f':
		d.vs = stats{4, 1}
		return d.literal("false", false)
	case c == 'n':
		d.vs = stats{0, 1}
		return d.literal("null", nil)
	}
	d.fail("expected a value (object, array, string, number, true, false or null)")
	return nil
}

// skip passes over the value at d.pos, checking it as value would, without building it
// (members a twin reader does not keep). depth counts the enclosing values skipped.
func (d *decoder) skip(depth int) {
	if depth > maxNesting {
		d.fail("nested too deeply")
		return
	}
	if d.pos >= len(d.data) {
		d.fail("unexpected end of input; expected a value")
		return
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		d.members(false, func(string) { d.skip(depth + 1) })
	case c == '[':
		d.pos++
		d.ws()
		if d.pos < len(d.data) && d.data[d.pos] == ']' {
			d.pos++
			return
		}
		for d.err == nil {
			d.ws()
			d.skip(depth + 1)
			d.ws()
			switch {
			case d.err != nil:
			case d.pos >= len(d.data):
				d.fail("unexpected end of input; expected ',' or ']'")
			case d.data[d.pos] == ',':
				d.pos++
			case d.data[d.pos] == ']':
				d.pos++
				return
			default:
				d.fail("expected ',' or ']'")
			}
		}
	case c == '"':
		keep := d.copyStrings
		d.copyStrings = false
		d.str()
		d.copyStrings = keep
	case c == '-' || (c >= '0' && c <= '9'):
		d.float()
	default:
		d.value() // true, false, null (no allocation) or an error
	}
}

func (d *decoder) literal(word string, v any) any {
	if len(d.data)-d.pos >= len(word) && string(d.data[d.pos:d.pos+len(word)]) == word {
		d.pos += len(word)
		return v
	}
	d.fail("expected " + word)
	return nil
}

// enter pushes one path step and checks nesting.
func (d *decoder) enter(key string, idx int) bool {
	d.path.push(key, idx)
	if d.validate && d.path.n > MaxDepth {
		d.invalid("nested deeper than " + strconv.Itoa(MaxDepth) + " levels; flatten the value")
		return false
	}
	if d.path.n > maxNesting {
		d.fail("nested too deeply")
		return false
	}
	return true
}

func (d *decoder) object() map[string]any {
	d.pos++ // '{'
	m := make(map[string]any)
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.vs = stats{0, 1}
		return m
	}
	var st stats
	n := 0
	for {
		d.ws()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			d.fail("expected a member name in double quotes")
			return nil
		}
		var k string
		plain := false
		if d.validate {
			k, plain = d.plainKey()
		}
		if !plain {
			k = d.key()
		}
		if d.err != nil || !d.enter(k, -1) {
			return nil
		}
		if d.validate && !plain {
			if msg := checkKey(k); msg != "" {
				d.invalid(msg)
				return nil
			}
		}
		d.ws()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			d.fail("expected ':' after the member name")
			return nil
		}
		d.pos++
		d.ws()
		v := d.value()
		if d.err != nil {
			return nil
		}
		m[k] = v
		if d.measure {
			st.size += charCount(k) + d.vs.size
			st.leaves += d.vs.leaves
			n++
		}
		d.path.pop()
		d.ws()
		if d.pos >= len(d.data) {
			d.fail("unexpected end of input; expected ',' or '}'")
			return nil
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			if d.measure {
				d.vs = objectStats(m, st, n)
			}
			return m
		default:
			d.fail("expected ',' or '}'")
			return nil
		}
	}
}

func (d *decoder) array() []any {
	d.pos++ // '['
	a := []any{}
	d.ws()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.vs = stats{0, 1}
		return a
	}
	size := 0
	for i := 0; ; i++ {
		if !d.enter("", i) {
			return nil
		}
		d.ws()
		v := d.value()
		if d.err != nil {
			return nil
		}
		a = append(a, v)
		size += d.vs.size
		d.path.pop()
		d.ws()
		if d.pos >= len(d.data) {
			d.fail("unexpected end of input; expected ',' or ']'")
			return nil
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.vs = stats{size, 1}
			return a
		default:
			d.fail("expected ',' or ']'")
			return nil
		}
	}
}

// Bounds of a Decoder's interned strings: short ones (keys, enumerations, versions),
// and not so many that a fleet of unique values makes the table itself a cost.
const (
	maxInternLen     = 48
	maxInternEntries = 1 << 14
)

// keep returns a copy of s to be kept (s may point into the input): when interning, the
// equal string kept before, so that a fleet's twins share their keys and common values.
func (d *decoder) keep(s string) string {
	if !d.interning || len(s) > maxInternLen {
		return strings.Clone(s)
	}
	if k, ok := d.intern[s]; ok {
		return k
	}
	k := strings.Clone(s)
	if len(d.intern) < maxInternEntries {
		d.intern[k] = k
	}
	return k
}

// sharedObj is an object a Decoder shares among twins, with its stats.
type sharedObj struct {
	m  map[string]any
	st stats
}

// Bounds of a Decoder's shared objects: small ones (the JSON text is the table's key).
const (
	maxSharedLen     = 512
	maxSharedEntries = 1 << 12
)

// sharedObject decodes the object at d.pos, or returns the one read before from the
// same JSON text.
func (d *decoder) sharedObject() map[string]any {
	start := d.pos
	end := objectEnd(d.data, start, maxSharedLen)
	if end < 0 {
		return d.object()
	}
	if e, ok := d.share[d.src[start:end]]; ok {
		d.pos, d.vs = end, e.st
		return e.m
	}
	m := d.object()
	if d.err == nil && d.pos == end && len(d.share) < maxSharedEntries {
		d.share[strings.Clone(d.src[start:end])] = sharedObj{m, d.vs}
	}
	return m
}

// objectEnd returns the index just after the object that starts at data[start], or -1
// if it is longer than limit bytes (or not well formed).
func objectEnd(data []byte, start, limit int) int {
	depth := 0
	end := min(len(data), start+limit)
	for i := start; i < end; i++ {
		switch data[i] {
		case '{', '[':
			depth++
		case '}', ']':
			if depth--; depth == 0 {
				return i + 1
			}
		case '"':
			i = stringEnd(data, i, end)
		}
	}
	return -1
}

// stringEnd returns the index of the quote that closes the string whose opening quote is
// at data[i] (end if it is not closed before end); escapes are skipped.
func stringEnd(data []byte, i, end int) int {
	for i++; i < end && data[i] != '"'; i++ {
		if data[i] == '\\' {
			i++
		}
	}
	return i
}

// objectStats finishes the stats of a decoded object whose n members summed to st; a
// repeated member name (n != len(m)) means st counted a replaced value, so count again.
func objectStats(m map[string]any, st stats, n int) stats {
	if n != len(m) {
		return statsOf(m)
	}
	if n == 0 {
		st.leaves = 1
	}
	return st
}
