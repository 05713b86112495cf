package sas

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// tokenPrefix starts every SAS token (MQTT password or HTTP Authorization header).
const tokenPrefix = "SharedAccessSignature"

// ErrExpired is wrapped by Token.Verify when the token's expiry (se) is not after now.
var ErrExpired = errors.New("sas: token expired")

// ErrSignature is wrapped by Token.Verify when the signature does not match the key.
var ErrSignature = errors.New("sas: token signature does not match the key")

// Token is a parsed SAS token. Resource is the URL-decoded `sr`, RawResource the `sr`
// substring exactly as received (what the signature covers), Signature the URL-decoded
// base64 `sig`, Policy the decoded `skn` ("" for a device-key token).
type Token struct {
	Resource    string
	RawResource string
	Signature   string
	Policy      string
	Expiry      time.Time

	rawExpiry string // `se` exactly as received
	sig       []byte // decoded HMAC
}

// DeviceResource is the resource URI of a device: {host}/devices/{deviceID}.
func DeviceResource(host, deviceID string) string {
	return host + "/devices/" + deviceID
}

// NewToken signs a token the way the Azure Node SDK does: sr is the resource encoded like
// JavaScript's encodeURIComponent with !'()* escaped too (see Encode), sig is the
// base64 HMAC-SHA256 (key = base64-decoded keyB64) of encoded-sr + "\n" + se, URL-encoded
// the same way. Fields come in Node's order: sr, sig, skn (only when policy != ""), se.
func NewToken(resource, keyB64, policy string, expiry time.Time) (string, error) {
	if resource == "" {
		return "", fmt.Errorf("sas: empty resource; use DeviceResource(host, id) for a device or the host name for a service")
	}
	key, err := decodeKey(keyB64)
	if err != nil {
		return "", fmt.Errorf("sas: %w", err)
	}
	se := expiry.Unix()
	if se <= 0 {
		return "", fmt.Errorf("sas: expiry %v is before 1970; give a time in the future", expiry)
	}
	sr := Encode(resource)
	seStr := strconv.FormatInt(se, 10)
	sig := base64.StdEncoding.EncodeToString(sign(key, sr, seStr))
	var b strings.Builder
	b.WriteString(tokenPrefix + " sr=")
	b.WriteString(sr)
	b.WriteString("&sig=")
	b.WriteString(Encode(sig))
	if policy != "" {
		b.WriteString("&skn=")
		b.WriteString(Encode(policy))
	}
	b.WriteString("&se=")
	b.WriteString(seStr)
	return b.String(), nil
}

// sign computes HMAC-SHA256(key, sr + "\n" + se).
func sign(key []byte, sr, se string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sr))
	m.Write([]byte{'\n'})
	m.Write([]byte(se))
	return m.Sum(nil)
}

// Encode percent-encodes s exactly like the Node SDK's encodeUriComponentStrict
// (azure-iot-common 1.13.3): every UTF-8 byte except A-Z a-z 0-9 - _ . ~ becomes %XX with
// uppercase hex, except '*' which becomes "%2a": the SDK re-escapes !'()* with
// charCodeAt(0).toString(16), which is lowercase for the one letter digit.
func Encode(s string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case unreserved(c):
			b = append(b, c)
		case c == '*':
			b = append(b, "%2a"...)
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// unreserved reports whether c is left as is by Encode.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~'
}

// ParseToken parses "SharedAccessSignature sr=..&sig=..&se=..[&skn=..]" with the fields
// in any order. It fails, saying which, on a missing prefix, a missing, empty, repeated or
// unknown field, a bad percent-escape, a sig that is not a base64 HMAC-SHA256, or an se
// that is not a positive integer of seconds since 1970. It does not check the signature
// or expiry: call Verify.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if len(s) < len(tokenPrefix) || !strings.EqualFold(s[:len(tokenPrefix)], tokenPrefix) {
		return Token{}, fmt.Errorf("sas: token does not start with %q; the password must be a SAS token", tokenPrefix)
	}
	rest := s[len(tokenPrefix):]
	fields := strings.TrimLeft(rest, " ")
	if len(fields) == len(rest) || fields == "" {
		return Token{}, fmt.Errorf("sas: token has no fields after %q; expected sr=...&sig=...&se=...", tokenPrefix)
	}
	var t Token
	seen := map[string]bool{}
	for f := range strings.SplitSeq(fields, "&") {
		k, v, _ := strings.Cut(f, "=")
		if k != "sr" && k != "sig" && k != "se" && k != "skn" {
			return Token{}, fmt.Errorf("sas: token has unknown field %q; expected sr, sig, se and optionally skn", clip(k))
		}
		if seen[k] {
			return Token{}, fmt.Errorf("sas: token repeats field %s", k)
		}
		seen[k] = true
		if v == "" {
			return Token{}, fmt.Errorf("sas: token field %s is empty", k)
		}
		if err := t.setField(k, v); err != nil {
			return Token{}, err
		}
	}
	for _, k := range []string{"sr", "sig", "se"} {
		if !seen[k] {
			return Token{}, fmt.Errorf("sas: token has no %s field; expected sr=...&sig=...&se=...", k)
		}
	}
	return t, nil
}

// setField stores one decoded token field.
func (t *Token) setField(k, v string) error {
	switch k {
	case "se":
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return fmt.Errorf("sas: token se %q is not a number of seconds since 1970", clip(v))
			}
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n > 1<<40 {
			return fmt.Errorf("sas: token se %q is out of range", clip(v))
		}
		t.rawExpiry, t.Expiry = v, time.Unix(n, 0).UTC()
		return nil
	}
	d, err := unescape(v)
	if err != nil {
		return fmt.Errorf("sas: token field %s: %w", k, err)
	}
	switch k {
	case "sr":
		t.RawResource, t.Resource = v, d
	case "skn":
		t.Policy = d
	case "sig":
		sig, err := base64.StdEncoding.DecodeString(d)
		if err != nil || len(sig) != sha256.Size {
			return fmt.Errorf("sas: token sig is not a base64 HMAC-SHA256 (32 bytes)")
		}
		t.Signature, t.sig = d, sig
	}
	return nil
}

// unescape decodes %XX escapes like JavaScript's decodeURIComponent ('+' stays '+').
func unescape(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) || fromHex(s[i+1]) < 0 || fromHex(s[i+2]) < 0 {
			return "", fmt.Errorf("bad percent-escape at byte %d", i)
		}
		b = append(b, byte(fromHex(s[i+1])<<4|fromHex(s[i+2])))
		i += 2
	}
	return string(b), nil
}

// fromHex returns the value of hex digit c, or -1.
func fromHex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// Verify checks the signature against keyB64 (HMAC-SHA256 over the raw sr substring as
// received + "\n" + the raw se, compared in constant time) and that the token has not
// expired at now. Errors wrap ErrSignature or ErrExpired. It does not check the resource:
// use Matches or Covers.
func (t Token) Verify(keyB64 string, now time.Time) error {
	if t.sig == nil {
		return fmt.Errorf("sas: token was not parsed; use ParseToken")
	}
	key, err := decodeKey(keyB64)
	if err != nil {
		return fmt.Errorf("sas: verifying key: %w", err)
	}
	if !hmac.Equal(sign(key, t.RawResource, t.rawExpiry), t.sig) {
		return ErrSignature
	}
	if !now.Before(t.Expiry) {
		return fmt.Errorf("%w at %s (now %s); sign a new token", ErrExpired,
			t.Expiry.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

// Matches reports whether the token's resource is exactly resource, comparing the host
// (first segment) case-insensitively and the rest exactly. A trailing '/' is ignored.
func (t Token) Matches(resource string) bool {
	a, b := segments(t.Resource), segments(resource)
	return len(a) == len(b) && prefixOf(a, b)
}

// Covers reports whether the token's resource is resource or a parent of it by whole path
// segments (Azure's rule: a token for {host}/devices covers {host}/devices/dev1, but
// {host}/devices/dev does not cover {host}/devices/dev1). Host compared case-insensitively.
func (t Token) Covers(resource string) bool {
	return prefixOf(segments(t.Resource), segments(resource))
}

// segments splits a resource URI into path segments, ignoring one trailing '/'.
func segments(r string) []string {
	r = strings.TrimSuffix(r, "/")
	if r == "" {
		return nil
	}
	return strings.Split(r, "/")
}

// prefixOf reports whether a is a non-empty segment prefix of b (first segment
// case-insensitive).
func prefixOf(a, b []string) bool {
	if len(a) == 0 || len(a) > len(b) {
		return false
	}
	if !strings.EqualFold(a[0], b[0]) {
		return false
	}
	for i := 1; i < len(a); i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
