package twin

import (
	"encoding/binary"
	"math/bits"
)

// key decodes a member name. With copyStrings the name gets its own copy, except in
// $metadata, where the names repeat those of the values just decoded (same order when
// the twin was written by MarshalJSON): those are shared instead of copied again.
func (d *decoder) key() string {
	if !d.copyStrings {
		return d.str()
	}
	start := d.pos
	d.copyStrings = false
	k := d.str() // a substring of src for now
	d.copyStrings = true
	if d.err != nil || d.pos-start-2 != len(k) {
		return k // an error, or it had escapes: already a fresh string
	}
	if d.inMeta {
		if k != "" && k[0] == '$' {
			return k // $lastUpdated…: compared, not kept
		}
		for i := d.recPos; i < len(d.recKeys) && i < d.recPos+32; i++ {
			if d.recKeys[i] == k {
				d.recPos = i + 1
				return d.recKeys[i]
			}
		}
		return d.keep(k)
	}
	k = d.keep(k)
	if d.recording {
		d.recKeys = append(d.recKeys, k)
	}
	return k
}

// keyStopLow has bit c set for every byte c below 64 that ends a plain member name or
// is not allowed in one: the closing quote and the bytes of badKeyBytes.
const keyStopLow = badKeyBytes | 1<<'"'

// plainKey reads the member name at d.pos (at its opening quote) in one pass when it is
// plain: 1 to MaxKeyBytes bytes of printable ASCII without escapes, '$', '.' or space,
// so that checkKey would pass it. Otherwise it returns false and leaves d.pos alone, for
// key and checkKey to read and judge it. The name is a substring of the input.
func (d *decoder) plainKey() (string, bool) {
	start := d.pos + 1
	end := min(len(d.data), start+MaxKeyBytes+1)
	i := start
	for i+8 <= end { // eight bytes at a time, up to the first that needs a look
		x := binary.LittleEndian.Uint64(d.data[i:])
		if m := badKey8(x) | stringStops8(x); m != 0 {
			i += bits.TrailingZeros64(m) >> 3
			break
		}
		i += 8
	}
	for ; i < end; i++ {
		c := d.data[i]
		if c < 64 {
			if keyStopLow>>c&1 == 0 {
				continue
			}
			if c == '"' && i > start {
				d.pos = i + 1
				return d.src[start:i], true
			}
			return "", false
		}
		if c >= 0x7f || c == '\\' {
			return "", false
		}
	}
	return "", false
}
