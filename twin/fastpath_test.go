package twin

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// decodeNumber decodes one JSON number literal as ParsePatch does.
func decodeNumber(lit string) (float64, *Error) {
	d := newDecoder([]byte(lit), "", true)
	f, ok := d.float()
	if !ok {
		return 0, d.err
	}
	if d.pos != len(lit) {
		return 0, &Error{Message: "trailing text"}
	}
	return f, nil
}

// TestNumberFastPaths: short integers and short decimals skip strconv.ParseFloat and
// must give exactly (bit for bit, -0 included) what it gives.
func TestNumberFastPaths(t *testing.T) {
	cases := map[string]string{
		"small integer":         "40",
		"negative integer":      "-61",
		"minus zero integer":    "-0",
		"decimal":               "87.5",
		"negative decimal":      "-41.25",
		"minus zero decimal":    "-0.0",
		"tenth":                 "0.1",
		"rounded third":         "0.333333333333333",
		"fifteen digits":        "123456789.012345",
		"fifteen digit integer": "-123456789012345",
		"sixteen digits":        "1234567890.123456",
		"exponent":              "1.5e3",
		"leading zero decimal":  "0.000000000000001",
	}
	for name, lit := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := decodeNumber(lit)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := strconv.ParseFloat(lit, 64)
			if lit == "-0" {
				want = 0 // an integer: -0 is stored as 0, as before the fast paths
			}
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("%s decoded as %v (%#x), want %v (%#x)", lit, got, math.Float64bits(got), want, math.Float64bits(want))
			}
		})
	}
}

// FuzzNumber: any number the decoder accepts has the value strconv.ParseFloat gives it.
func FuzzNumber(f *testing.F) {
	for _, s := range []string{"0", "-0.0", "87.5", "1e5", "123456789.012345", "0.1", "-9.99999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		if lit == "" || (lit[0] != '-' && (lit[0] < '0' || lit[0] > '9')) {
			return
		}
		got, err := decodeNumber(lit)
		if err != nil {
			return
		}
		want, perr := strconv.ParseFloat(lit, 64)
		if perr != nil {
			t.Fatalf("%q accepted as %v, strconv says %v", lit, got, perr)
		}
		if strings.Trim(lit, "-0") == "" {
			want = 0 // a whole -0 is stored as 0
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%q decoded as %v, strconv gives %v", lit, got, want)
		}
	})
}

// TestPlainKeys: member names that take plainKey's one-pass path and those that do not
// are judged as checkKey judges them, with the same messages and paths.
func TestPlainKeys(t *testing.T) {
	cases := map[string]struct {
		body    string
		wantErr string // "" for valid
	}{
		"plain":              {`{"firmware":{"status":1}}`, ""},
		"unicode":            {`{"température":1}`, ""},
		"escaped but valid":  {`{"a\u0062":1}`, ""},
		"longest":            {`{"` + strings.Repeat("k", MaxKeyBytes) + `":1}`, ""},
		"too long":           {`{"` + strings.Repeat("k", MaxKeyBytes+1) + `":1}`, "keys are limited to 1024 bytes"},
		"empty":              {`{"":1}`, "properties.reported[\"\"]: empty key"},
		"dollar":             {`{"a":{"$b":1}}`, "properties.reported.a[\"$b\"]: member names starting with '$'"},
		"dot":                {`{"a.b":1}`, "key contains '.'"},
		"space":              {`{"a b":1}`, "key contains a space"},
		"escaped dot":        {`{"a\u002eb":1}`, "key contains '.'"},
		"escaped control":    {`{"a\u0001":1}`, "key contains a control character"},
		"raw control":        {"{\"a\x01\":1}", "control character in a string"},
		"C1 control":         {"{\"a\u0085\":1}", "key contains a control character"},
		"unterminated":       {`{"abc`, "unterminated string"},
		"del":                {"{\"a\x7f\":1}", "key contains a control character"},
		"bad utf-8":          {"{\"a\xff\":1}", "not valid UTF-8"},
		"deep key then dot":  {`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k.l":1}}}}}}}}}}}`, "nested deeper than 10 levels"},
		"key equal to depth": {`{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j.k":1}}}}}}}}}}`, "key contains '.'"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := ParsePatch(Reported, []byte(c.body))
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				for k := range p {
					if msg := checkKey(k); msg != "" {
						t.Fatalf("accepted key %q: %s", k, msg)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Message, c.wantErr) {
				t.Fatalf("error %v, want one saying %q", err, c.wantErr)
			}
		})
	}
}

func TestBadKey8(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c <= ' ' || c == '$' || c == '.' || c >= 0x7f
		for pos := range 8 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			m := badKey8(load8(string(b), 0))
			if (m != 0) != want {
				t.Fatalf("byte %#x at %d: mask %#x, want bad %v", c, pos, m, want)
			}
			if want && bits.TrailingZeros64(m)>>3 != pos {
				t.Fatalf("byte %#x at %d: first bad byte at %d", c, pos, bits.TrailingZeros64(m)>>3)
			}
			b[7] = 0
			if m := badKey8(load8(string(b), 0)); want && bits.TrailingZeros64(m)>>3 != pos {
				t.Fatalf("byte %#x at %d, then a NUL: first bad byte at %d", c, pos, bits.TrailingZeros64(m)>>3)
			}
		}
	}
}

// FuzzCheckKey: the fast path of checkKey judges every key as the full check does.
func FuzzCheckKey(f *testing.F) {
	for _, k := range []string{"firmware", "telemetryConfig", "a.b", "$x", "température", "sendFrequency\x01", "abcdefgh$", "12345678 "} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if got, want := checkKey(k), checkKeyFull(k); got != want {
			t.Fatalf("checkKey(%q) = %q, checkKeyFull says %q", k, got, want)
		}
		if !utf8.ValidString(k) {
			return // AppendValue writes U+FFFD for the bad bytes: another key
		}
		body := append(append([]byte("{"), AppendValue(nil, k)...), ":1}"...)
		p, err := ParsePatch(Reported, body)
		if (err == nil) != (checkKeyFull(k) == "") {
			t.Fatalf("ParsePatch(%s): %v, checkKeyFull says %q", body, err, checkKeyFull(k))
		}
		if err == nil {
			if _, ok := p[k]; !ok {
				t.Fatalf("ParsePatch(%s) lost the key: %v", body, p)
			}
		}
	})
}

// TestSmallInts: small whole numbers come from the shared table, with the value and sign
// a fresh float64 would have; anything else is boxed as before.
func TestSmallInts(t *testing.T) {
	cases := map[string]struct {
		lit    string
		shared bool
	}{
		"zero":         {"0", true},
		"minus zero":   {"-0.0", false}, // -0 must keep its sign
		"lowest":       {"-128", true},
		"below":        {"-129", false},
		"highest":      {"1023", true},
		"above":        {"1024", false},
		"whole float":  {"40.0", true},
		"fraction":     {"40.5", false},
		"exponent":     {"1e2", true},
		"rssi":         {"-61", true},
		"large":        {"123456", false},
		"tiny nonzero": {"1e-300", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := newDecoder([]byte(c.lit), "", true)
			v := d.number()
			f, ok := v.(float64)
			if d.err != nil || !ok {
				t.Fatalf("number(%s) = %#v, %v", c.lit, v, d.err)
			}
			want, _ := strconv.ParseFloat(c.lit, 64)
			if math.Float64bits(f) != math.Float64bits(want) {
				t.Fatalf("number(%s) = %v, want %v", c.lit, f, want)
			}
			boxed := testing.AllocsPerRun(20, func() {
				d := newDecoder([]byte(c.lit), "", true)
				_ = d.number()
			})
			unboxed := testing.AllocsPerRun(20, func() {
				d := newDecoder([]byte(c.lit), "", true)
				_, _ = d.float()
			})
			if shared := boxed == unboxed; shared != c.shared {
				t.Fatalf("number(%s) allocates %v times, float %v: from the table %v, want %v", c.lit, boxed, unboxed, shared, c.shared)
			}
		})
	}
}
