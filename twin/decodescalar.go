package twin

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// str decodes a string at d.pos (at the opening quote).
func (d *decoder) str() string {
	d.pos++
	start := d.pos
	for d.pos+8 <= len(d.data) { // eight plain ASCII bytes at a time, up to the first other
		if m := stringStops8(binary.LittleEndian.Uint64(d.data[d.pos:])); m != 0 {
			d.pos += bits.TrailingZeros64(m) >> 3
			break
		}
		d.pos += 8
	}
	ascii := true
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			s := d.src[start:d.pos]
			if d.copyStrings {
				s = d.keep(s)
			}
			d.pos++
			if !ascii && !utf8.ValidString(s) {
				d.pos = start
				d.fail("string is not valid UTF-8")
			}
			return s
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '\\':
			return d.strEscaped(start)
		case c < 0x20:
			d.fail("control character in a string; escape it")
			return ""
		}
		d.pos++
	}
	d.fail("unterminated string")
	return ""
}

// stringStops8 finds the bytes among the eight in x (little-endian: the first in memory
// is the lowest) that end or escape a string or need a closer look: '"', '\\', a control
// character or a byte of a multi-byte character. It returns 0 if there is none, else a
// mask whose lowest set bit is the high bit of the first such byte (bits above it may be
// set for bytes that are not).
func stringStops8(x uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, b := x^(lo*'"'), x^(lo*'\\')
	return ((q-lo)&^q | (b-lo)&^b | (x-lo*0x20)&^x | x) & hi
}

// strEscaped finishes a string that contains escapes; d.pos is at the first backslash.
func (d *decoder) strEscaped(start int) string {
	b := make([]byte, 0, d.pos-start+16)
	b = append(b, d.data[start:d.pos]...)
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			if !utf8.Valid(b) {
				d.fail("string is not valid UTF-8")
			}
			return string(b)
		case c < 0x20:
			d.fail("control character in a string; escape it")
			return ""
		case c != '\\':
			b = append(b, c)
			d.pos++
			continue
		}
		if d.pos+1 >= len(d.data) {
			break
		}
		e := d.data[d.pos+1]
		d.pos += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return ""
			}
			if utf16.IsSurrogate(r) {
				r = d.lowSurrogate(r)
			}
			b = utf8.AppendRune(b, r)
		default:
			d.pos -= 2
			d.fail("invalid escape in a string")
			return ""
		}
	}
	d.fail("unterminated string")
	return ""
}

// lowSurrogate completes the high surrogate r with a following \uXXXX low surrogate
// when there is one (consuming it); anything else gives U+FFFD, as encoding/json does.
func (d *decoder) lowSurrogate(r rune) rune {
	if d.pos+1 >= len(d.data) || d.data[d.pos] != '\\' || d.data[d.pos+1] != 'u' {
		return utf8.RuneError
	}
	save := d.pos
	d.pos += 2
	r2, ok := d.hex4()
	if !ok {
		return utf8.RuneError
	}
	if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
		return dec
	}
	d.pos = save // not a pair: the second escape is decoded on its own
	return utf8.RuneError
}

func (d *decoder) hex4() (rune, bool) {
	if d.pos+4 > len(d.data) {
		d.fail("short \\u escape")
		return 0, false
	}
	var r rune
	for _, c := range d.data[d.pos : d.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			d.fail("invalid \\u escape")
			return 0, false
		}
	}
	d.pos += 4
	return r, true
}

// number decodes a JSON number as float64. Small whole numbers (percentages, signal
// levels, counters) come boxed from smallInts instead of a new allocation each.
func (d *decoder) number() any {
	f, ok := d.float()
	if !ok {
		return nil
	}
	if i := int(f); float64(i) == f && i >= smallIntMin && i <= smallIntMax && (i != 0 || !math.Signbit(f)) {
		return smallInts[i-smallIntMin]
	}
	return f
}

// The range of smallInts.
const (
	smallIntMin = -128
	smallIntMax = 1023
)

// smallInts holds float64(smallIntMin) … float64(smallIntMax) as interface values, boxed
// once. It is a table, never written.
var smallInts = func() (t [smallIntMax - smallIntMin + 1]any) {
	for i := range t {
		t[i] = float64(i + smallIntMin)
	}
	return t
}()

// float decodes a JSON number; false after an error.
func (d *decoder) float() (float64, bool) {
	start := d.pos
	if d.data[d.pos] == '-' {
		d.pos++
	}
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && d.data[d.pos] >= '0' && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	intStart := d.pos
	n := digits()
	if n == 0 || (n > 1 && d.data[intStart] == '0') {
		d.fail("invalid number")
		return 0, false
	}
	frac := 0
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if frac = digits(); frac == 0 {
			d.fail("invalid number: digits expected after '.'")
			return 0, false
		}
	}
	exp := false
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		exp = true
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			d.fail("invalid number: digits expected in the exponent")
			return 0, false
		}
	}
	if d.pos-start <= 15 && d.pos == intStart+n {
		// a short integer: exact in float64, no need for ParseFloat
		var u int64
		for _, c := range d.data[intStart:d.pos] {
			u = u*10 + int64(c-'0')
		}
		if start != intStart {
			u = -u
		}
		return float64(u), true
	}
	if !exp && n+frac <= 15 {
		return shortDecimal(d.data[intStart:d.pos], start != intStart), true
	}
	f, err := strconv.ParseFloat(d.src[start:d.pos], 64)
	if err != nil {
		d.invalid("number " + d.src[start:d.pos] + " is out of range")
		return 0, false
	}
	if d.validate {
		if msg := checkNumber(f); msg != "" {
			d.invalid(msg)
			return 0, false
		}
	}
	return f, true
}

// pow10 holds the powers of ten that float64 represents exactly, up to 10^15. It is a
// table, never written.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// shortDecimal is the value of b, at most 15 digits with at most one '.' among them (so
// a whole number < 2^53 divided by an exact power of ten: one correctly rounded
// division gives what strconv.ParseFloat gives), negated if neg (-0.0 stays -0).
func shortDecimal(b []byte, neg bool) float64 {
	var u uint64
	frac := 0
	for i, c := range b {
		if c == '.' {
			frac = len(b) - i - 1
			continue
		}
		u = u*10 + uint64(c-'0')
	}
	f := float64(u) / pow10[frac]
	if neg {
		f = -f
	}
	return f
}
