package twin

import (
	"encoding/base64"
	"encoding/binary"
)

// base64Std is the alphabet of base64.StdEncoding.
const base64Std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// makeEtag encodes the generation in the top 16 bits and the version in the low 48 bits
// of 8 bytes, base64: the same form as Azure's ("AAAAAAAAAAc="). Written out by hand
// (what base64.StdEncoding gives, checked by a test): every write makes one.
func makeEtag(gen uint64, version int64) string {
	v := gen<<48 | uint64(version)&(1<<48-1)
	var b [12]byte
	for i := range 10 { // the top 60 bits, six at a time
		b[i] = base64Std[v>>(58-6*i)&63]
	}
	b[10] = base64Std[v&15<<2] // the last 4 bits and two zero bits
	b[11] = '='
	return string(b[:])
}

// etagGeneration recovers the generation from an etag made by makeEtag (0 otherwise).
// The generation is the top 16 bits: the first 2 characters and a half; an etag in
// makeEtag's form is read directly, anything else through base64.
func etagGeneration(etag string) uint64 {
	if len(etag) != 12 {
		return 0
	}
	if etag[11] == '=' && etag[10] != '=' {
		var top uint64
		ok := true
		for i := range 11 {
			c, valid := base64Value(etag[i])
			ok = ok && valid
			if i < 3 {
				top = top<<6 | c
			}
		}
		if ok {
			return top >> 2
		}
	}
	var b [9]byte // 12 characters without padding decode to 9 bytes; Decode needs the room
	n, err := base64.StdEncoding.Decode(b[:], []byte(etag))
	if err != nil || n != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b[:8]) >> 48
}

// base64Value is the value of c in the base64.StdEncoding alphabet.
func base64Value(c byte) (uint64, bool) {
	switch {
	case c >= 'A' && c <= 'Z':
		return uint64(c - 'A'), true
	case c >= 'a' && c <= 'z':
		return uint64(c-'a') + 26, true
	case c >= '0' && c <= '9':
		return uint64(c-'0') + 52, true
	case c == '+':
		return 62, true
	case c == '/':
		return 63, true
	}
	return 0, false
}
