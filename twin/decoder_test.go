package twin

import (
	"reflect"
	"testing"
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
