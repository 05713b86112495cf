package twin

import (
	"encoding/binary"
	"math"
	"math/bits"
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// sameMap reports whether two maps are the same map (not merely equal).
func sameMap(a, b any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

func TestDecoder(t *testing.T) {
	a, b := fuzzTwin(t), fuzzTwin(t)
	b.DeviceID = "other"
	mustPatch(t, b, Reported, `{"s":"y"}`, at(4))
	ja, jb := docJSON(t, a), docJSON(t, b)
	cases := map[string]struct {
		share bool
		want  bool // tags and desired.a shared between the two twins
	}{
		"plain":        {false, false},
		"share values": {true, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dec := Decoder{ShareValues: c.share}
			var da, db Doc
			if err := dec.Decode([]byte(ja), &da); err != nil {
				t.Fatal(err)
			}
			if err := dec.Decode([]byte(jb), &db); err != nil {
				t.Fatal(err)
			}
			for _, d := range []*Doc{&da, &db} {
				checkCaches(t, d)
				checkMetaMirrors(t, "desired", d.Desired.Values, d.Desired.Meta)
				checkMetaMirrors(t, "reported", d.Reported.Values, d.Reported.Meta)
			}
			if got := docJSON(t, &da); got != ja {
				t.Errorf("first twin re-encodes as\n%s\nwant\n%s", got, ja)
			}
			if got := docJSON(t, &db); got != jb {
				t.Errorf("second twin re-encodes as\n%s\nwant\n%s", got, jb)
			}
			if got := sameMap(da.Tags, db.Tags) && sameMap(da.Desired.Values["a"], db.Desired.Values["a"]); got != c.want {
				t.Errorf("equal objects shared: %v, want %v", got, c.want)
			}
			if sameMap(da.Reported.Values, db.Reported.Values) || da.Desired.Meta == db.Desired.Meta {
				t.Error("section roots or metadata shared between twins")
			}
		})
	}
}

// keyOf returns the map's own copy of key k ("" if absent).
func keyOf(m map[string]any, k string) string {
	for key := range m {
		if key == k {
			return key
		}
	}
	return ""
}

// A Decoder shares keys and short values between twins: the second twin's strings are
// the first's.
func TestDecoderInterns(t *testing.T) {
	j := docJSON(t, fuzzTwin(t))
	var dec Decoder
	var a, b Doc
	if err := dec.Decode([]byte(j), &a); err != nil {
		t.Fatal(err)
	}
	if err := dec.Decode([]byte(j), &b); err != nil {
		t.Fatal(err)
	}
	sa, sb := a.Reported.Values["s"].(string), b.Reported.Values["s"].(string)
	if sa != "x" || unsafeData(sa) != unsafeData(sb) {
		t.Errorf("value %q not interned", sb)
	}
	if ka, kb := keyOf(a.Reported.Values, "s"), keyOf(b.Reported.Values, "s"); unsafeData(ka) != unsafeData(kb) {
		t.Error("key not interned")
	}
	if a.DeviceID != b.DeviceID || unsafeData(a.Etag) == unsafeData(b.Etag) {
		t.Error("identity fields should be copies, not interned")
	}
}

func unsafeData(s string) *byte { return unsafe.StringData(s) }

// parseUTC agrees with time.Parse on what it accepts, and leaves the rest to it.
func TestParseUTC(t *testing.T) {
	cases := map[string]bool{ // accepted by the fast path
		"2026-11-27T12:00:00Z":            true,
		"2026-11-27T12:00:00.5Z":          true,
		"2026-11-27T12:00:00.123456789Z":  true,
		"2024-02-29T23:59:59.000000001Z":  true,
		"1970-01-01T00:00:00Z":            true,
		"2261-12-31T23:59:59.999999999Z":  true,
		"2000-02-29T00:00:00Z":            true,
		"1900-02-28T00:00:00Z":            false, // before 1970
		"2100-02-29T00:00:00Z":            false, // not a leap year
		"2025-02-29T00:00:00Z":            false,
		"2026-04-31T00:00:00Z":            false,
		"2026-11-27T24:00:00Z":            false,
		"2026-11-27T12:60:00Z":            false,
		"2026-11-27T12:00:60Z":            false,
		"2026-11-27T12:00:00.Z":           false,
		"2026-11-27T12:00:00.1234567891Z": false,
		"2026-11-27T12:00:00+01:00":       false,
		"2026-11-27 12:00:00Z":            false,
		"2026-1a-27T12:00:00Z":            false,
		"2026-11-27T12:00:00":             false,
	}
	for s, fast := range cases {
		t.Run(s, func(t *testing.T) {
			sec, nsec, ok := parseUTC(s)
			if ok != fast {
				t.Fatalf("fast path accepted: %v, want %v", ok, fast)
			}
			want, err := time.Parse(time.RFC3339Nano, s)
			if ok && (err != nil || !want.Equal(time.Unix(sec, nsec))) {
				t.Fatalf("fast path %v, time.Parse %v (%v)", time.Unix(sec, nsec).UTC(), want, err)
			}
			got, gotOK := parseTime(s)
			if err == nil && (!gotOK || !got.Equal(want)) {
				t.Fatalf("parseTime %v %v, time.Parse %v", got, gotOK, want)
			}
		})
	}
}

// FuzzParseUTC: whatever the fast path accepts, time.Parse reads as the same instant.
func FuzzParseUTC(f *testing.F) {
	for _, s := range []string{"2026-11-27T12:00:00Z", "2024-02-29T23:59:59.000000001Z", "2100-02-29T00:00:00Z", "2026-11-27T12:00:00.Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sec, nsec, ok := parseUTC(s)
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || !want.Equal(time.Unix(sec, nsec)) {
			t.Fatalf("%q: fast path %v, time.Parse %v (%v)", s, time.Unix(sec, nsec).UTC(), want, err)
		}
	})
}

// A patch that only deletes leaves metadata exactly as a decoded twin has it.
func TestPatchOnlyDeletingKeepsMetaDecodable(t *testing.T) {
	for name, body := range map[string]string{
		"empty section": `{"a":null,"b":null}`,
		"empty object":  `{"o":{"x":null,"y":null}}`,
	} {
		t.Run(name, func(t *testing.T) {
			d := New("dev", t0)
			mustPatch(t, d, Desired, `{"o":{}}`, at(1))
			mustPatch(t, d, Desired, body, at(2))
			var back Doc
			if err := back.UnmarshalJSON([]byte(docJSON(t, d))); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Desired.Meta, back.Desired.Meta) {
				t.Errorf("metadata after the patch %+v, read back %+v", d.Desired.Meta, back.Desired.Meta)
			}
		})
	}
}

// Metadata times are nanoseconds: the zero time is "never", order is kept, and times
// outside 1678–2262 are clamped rather than wrapped.
func TestStamp(t *testing.T) {
	epoch := time.Unix(0, 0).UTC()
	cases := map[string]struct {
		in, want time.Time
	}{
		"never":       {time.Time{}, time.Time{}},
		"epoch":       {epoch, epoch},
		"now":         {t0.Add(123456789), t0.Add(123456789)},
		"before 1678": {time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MinInt64+1).UTC()},
		"after 2262":  {time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Unix(0, math.MaxInt64).UTC()},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := stampTime(stamp(c.in)); !got.Equal(c.want) {
				t.Errorf("round trip of %v gave %v, want %v", c.in, got, c.want)
			}
		})
	}
	if !(stamp(time.Time{}) < stamp(time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)) && stamp(epoch.Add(-1)) < stamp(epoch) && stamp(epoch) < stamp(t0)) {
		t.Error("stamps do not order like the times")
	}
}

// With ShareValues, sections with equal values share one map, and a section whose
// members are out of the usual order (values after $metadata, unknown $ members) never
// lends or borrows a map it does not match.
func TestDecoderSharesSectionValues(t *testing.T) {
	meta := `"$metadata":{"$lastUpdated":"2026-11-27T09:00:00Z"},"$version":2`
	cases := map[string]struct {
		first, second string // reported sections of two twins
		shared        bool
	}{
		"equal values":           {`{"a":1,"b":{"c":"x"},` + meta + `}`, `{"a":1,"b":{"c":"x"},` + meta + `}`, true},
		"different values":       {`{"a":1,` + meta + `}`, `{"a":2,` + meta + `}`, false},
		"empty values":           {`{` + meta + `}`, `{` + meta + `}`, true},
		"value after $metadata":  {`{` + meta + `,"a":1}`, `{` + meta + `,"a":2}`, false},
		"second has extra later": {`{"a":1,` + meta + `}`, `{"a":1,` + meta + `,"z":1}`, false},
		"unknown $ member":       {`{"a":1,"$x":1,"b":2,` + meta + `}`, `{"a":1,"$x":5,"b":3,` + meta + `}`, false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dec := Decoder{ShareValues: true}
			var docs [2]Doc
			for i, sec := range []string{c.first, c.second} {
				body := `{"deviceId":"d` + string(rune('0'+i)) + `","properties":{"reported":` + sec + `}}`
				if err := dec.Decode([]byte(body), &docs[i]); err != nil {
					t.Fatal(err)
				}
				var plain Doc
				if err := plain.UnmarshalJSON([]byte(body)); err != nil {
					t.Fatal(err)
				}
				if got, want := docJSON(t, &docs[i]), docJSON(t, &plain); got != want {
					t.Fatalf("twin %d reads as\n%s\nwithout sharing\n%s", i, got, want)
				}
				checkCaches(t, &docs[i])
			}
			if got := sameMap(docs[0].Reported.Values, docs[1].Reported.Values); got != c.shared {
				t.Errorf("sections share a map: %v, want %v", got, c.shared)
			}
		})
	}
}

// A section that comes twice in one twin never writes into a map it shares.
func TestDecoderSectionTwiceLeavesSharedMapAlone(t *testing.T) {
	meta := `"$metadata":{"$lastUpdated":"2026-11-27T09:00:00Z"},"$version":2`
	for name, first := range map[string]string{"values": `{"a":1,` + meta + `}`, "empty values": `{` + meta + `}`} {
		t.Run(name, func(t *testing.T) {
			dec := Decoder{ShareValues: true}
			var a, b, plain Doc
			bodyA := `{"deviceId":"a","properties":{"reported":` + first + `}}`
			bodyB := `{"deviceId":"b","properties":{"reported":` + first + `,"reported":{"b":2,` + meta + `}}}`
			if err := dec.Decode([]byte(bodyA), &a); err != nil {
				t.Fatal(err)
			}
			before := docJSON(t, &a)
			if err := dec.Decode([]byte(bodyB), &b); err != nil {
				t.Fatal(err)
			}
			if after := docJSON(t, &a); after != before {
				t.Fatalf("reading twin b changed twin a:\n%s\n%s", before, after)
			}
			if err := plain.UnmarshalJSON([]byte(bodyB)); err != nil {
				t.Fatal(err)
			}
			if got, want := docJSON(t, &b), docJSON(t, &plain); got != want {
				t.Fatalf("twin b reads as\n%s\nwithout sharing\n%s", got, want)
			}
			checkCaches(t, &b)
		})
	}
}

// stringStops8 finds every byte that str must look at, in any position of the eight, and
// the first of them exactly (a later one does not move it).
func TestStringStops8(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c == '"' || c == '\\' || c < 0x20 || c >= 0x80
		for pos := range 8 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			m := stringStops8(binary.LittleEndian.Uint64(b))
			if (m != 0) != want {
				t.Fatalf("byte %#x at %d: mask %#x, want a stop %v", c, pos, m, want)
			}
			if want && bits.TrailingZeros64(m)>>3 != pos {
				t.Fatalf("byte %#x at %d: first stop at %d", c, pos, bits.TrailingZeros64(m)>>3)
			}
			b[7] = 0 // a second stop after the first must not move it
			if m := stringStops8(binary.LittleEndian.Uint64(b)); want && bits.TrailingZeros64(m)>>3 != pos {
				t.Fatalf("byte %#x at %d, then a NUL: first stop at %d", c, pos, bits.TrailingZeros64(m)>>3)
			}
		}
	}
}
