package twin

import (
	"encoding/json"
	"reflect"
	"testing"
)

var fuzzSeeds = []string{
	`{}`, `{"a":1}`, `{"a":null}`, `{"a":{"b":[1,"x",null,{"c":true}]}}`, `{"a.b":1}`, `{"$version":1}`,
	`{"s":"\u00e9\ud83d\ude00\\n"}`, `{"n":4503599627370496}`, `{"n":-1.5e-7}`, `[1]`, `{"a":`, `{"a":1,"a":2}`,
	`{"k1":{"k2":{"k3":{"k4":{"k5":{"k6":{"k7":{"k8":{"k9":{"k10":{"k11":1}}}}}}}}}}}`, "{\"a\":\"\xff\"}",
	`{"s":"\ud800\u0041"}`, `{"s":"\udc00\ud800"}`, `{"s":"\ud800\ud800\udc00"}`, `{"s":"\ud800\uzzzz"}`,
}

// FuzzParsePatch: no panics; accepted patches re-encode to JSON that parses to the same
// value and that encoding/json agrees with; rejections are 400s with a message.
func FuzzParsePatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePatch(Reported, body)
		if err != nil {
			if err.Status != 400 || (err.Code != CodeInvalidArgument && err.Code != CodeMalformed) || err.Message == "" {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		enc := AppendValue(nil, p)
		back, err := ParsePatch(Reported, enc)
		if err != nil {
			t.Fatalf("re-encoded patch %s rejected: %v", enc, err)
		}
		if !Equal(p, back) {
			t.Fatalf("re-encoding changed the patch: %s", enc)
		}
		var std map[string]any
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("encoding/json rejects what ParsePatch accepted: %v", err)
		}
		if !Equal(p, std) {
			t.Fatalf("encoding/json reads %s differently: %s", body, AppendValue(nil, std))
		}
	})
}

// fuzzTwin is the twin every atomicity fuzz case starts from.
func fuzzTwin(tb testing.TB) *Doc {
	d := New("dev", t0)
	mustPatch(tb, d, Tags, `{"region":"eu","o":{"p":1}}`, at(1))
	mustPatch(tb, d, Desired, `{"a":{"b":1,"c":"x"},"l":[1,2]}`, at(2))
	mustPatch(tb, d, Reported, `{"a":{"b":2},"s":"x"}`, at(3))
	return d
}

// referenceMerge is RFC 7396 applied to a plain copy: what Patch must produce.
func referenceMerge(target any, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	} else {
		tm = cloneMap(tm)
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		tm[k] = referenceMerge(tm[k], v)
	}
	return tm
}

// FuzzPatchAtomic: Patch with any decoded JSON (not pre-validated) either fails and leaves
// the twin exactly as it was, or gives the RFC 7396 merge, one more version, metadata
// that mirrors the values, a size within the limit, and JSON that round-trips.
func FuzzPatchAtomic(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(uint8(2), []byte(s))
	}
	f.Add(uint8(0), []byte(`{"o":{"p":null,"q":[null]}}`))
	f.Add(uint8(1), []byte(`{"a":{"b":null},"l":{"x":{"y":null}}}`))
	f.Fuzz(func(t *testing.T, sec uint8, body []byte) {
		s := Section(sec % 3)
		p, derr := decodeObject(body)
		if derr != nil {
			return
		}
		d := fuzzTwin(t)
		before := docJSON(t, d)
		beforeVersion := d.Version
		want := referenceMerge(d.section(s), p)
		if err := d.Patch(s, p, at(10)); err != nil {
			if got := docJSON(t, d); got != before {
				t.Fatalf("rejected patch (%v) changed the twin:\n%s\n%s", err, before, got)
			}
			if err.Status != 400 || err.Message == "" {
				t.Fatalf("bad error %+v", err)
			}
			checkCaches(t, d)
			return
		}
		if !Equal(d.section(s), want) {
			t.Fatalf("merge gave %s, want %s", js(d.section(s)), js(want))
		}
		if d.Version != beforeVersion+1 {
			t.Fatalf("version %d after %d", d.Version, beforeVersion)
		}
		if size := sizeOf(d.section(s), false); size > sizeLimit(s) || size != d.sectionSize(s) {
			t.Fatalf("size %d, cached %d", size, d.sectionSize(s))
		}
		if pr := d.props(s); pr != nil {
			checkMetaMirrors(t, s.String(), pr.Values, pr.Meta)
		}
		checkCaches(t, d)
		checkSummary(t, d)
		var back Doc
		if err := back.UnmarshalJSON([]byte(docJSON(t, d))); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(d, &back) {
			t.Fatalf("JSON round trip differs:\n%s\n%s", docJSON(t, d), docJSON(t, &back))
		}
		// The patch (valid, since it was applied) must also pass ParsePatch.
		if _, err := ParsePatch(s, AppendValue(nil, p)); err != nil {
			t.Fatalf("Patch accepted what ParsePatch rejects: %v", err)
		}
	})
}

// FuzzMakePatch: applying MakePatch(old, new) to old gives new, through Doc.Patch.
func FuzzMakePatch(f *testing.F) {
	f.Add([]byte(`{"a":1,"o":{"x":1,"y":[1]}}`), []byte(`{"o":{"x":2,"z":{}},"b":true}`))
	f.Add([]byte(`{"o":{"x":1}}`), []byte(`{"o":{}}`))
	f.Add([]byte(`{"o":1}`), []byte(`{"o":{"p":{"q":null}}}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		old, err1 := ParsePatch(Desired, a)
		nw, err2 := ParsePatch(Desired, b)
		if err1 != nil || err2 != nil {
			return
		}
		old = copyPatchValue(old).(map[string]any) // documents hold no null members
		nw = copyPatchValue(nw).(map[string]any)
		d := New("dev", t0)
		if err := d.Patch(Desired, old, at(1)); err != nil {
			return // over a limit
		}
		p := MakePatch(old, nw)
		if err := d.Patch(Desired, p, at(2)); err != nil {
			if sizeOf(nw, false) <= MaxPropsSize {
				t.Fatalf("patch %s rejected: %v", js(p), err)
			}
			return
		}
		if !Equal(d.Desired.Values, nw) {
			t.Fatalf("old %s + patch %s = %s, want %s", js(old), js(p), js(d.Desired.Values), js(nw))
		}
		if Equal(old, nw) != (len(p) == 0) {
			t.Fatalf("patch %s between equal=%v documents", js(p), Equal(old, nw))
		}
	})
}

// FuzzUnmarshalDoc: no panics on any input; an accepted twin marshals to JSON that reads
// back to the same twin and the same bytes.
func FuzzUnmarshalDoc(f *testing.F) {
	f.Add([]byte(azureSkeleton))
	d := fuzzTwin(f)
	b, _ := d.MarshalJSON()
	f.Add(b)
	f.Add([]byte(`{"properties":{"desired":{"$metadata":{"a":{"$lastUpdated":"2020-01-01T00:00:00Z"}},"a":1}}}`))
	f.Add([]byte(`{"tags":{"a":{"b":[1,{"c":null}]},"a":{}},"properties":{"reported":{"x":1,"x":{"y":"é"}},"reported":{"z":null,"e":{}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var d Doc
		if err := d.UnmarshalJSON(body); err != nil {
			return
		}
		checkCaches(t, &d)
		b1, _ := d.MarshalJSON()
		var back Doc
		if err := back.UnmarshalJSON(b1); err != nil {
			t.Fatalf("re-read of %s failed: %v", b1, err)
		}
		b2, _ := back.MarshalJSON()
		if string(b1) != string(b2) {
			t.Fatalf("not stable:\n%s\n%s", b1, b2)
		}
		// A Decoder sharing values reads the same twin, twice (the second time from its
		// tables), and writes the same bytes; reading more twins changes none it read.
		dec := Decoder{ShareValues: true}
		ref := []byte(docJSON(t, fuzzTwin(t)))
		var docs [3]Doc
		for i, in := range [][]byte{body, ref, body} {
			if err := dec.Decode(in, &docs[i]); err != nil {
				t.Fatalf("Decoder rejects what UnmarshalJSON accepts: %v", err)
			}
			checkCaches(t, &docs[i])
		}
		for i, want := range []string{string(b1), string(ref), string(b1)} {
			if got := docJSON(t, &docs[i]); got != want {
				t.Fatalf("twin %d read by a sharing Decoder is now\n%s\nwant\n%s", i, got, want)
			}
		}
	})
}

// checkCaches fails unless the cached sizes and leaf counts equal a recount.
func checkCaches(tb testing.TB, d *Doc) {
	tb.Helper()
	if got, want := int(d.tagsSize-1), sizeOf(d.Tags, false); got != want {
		tb.Fatalf("cached tags size %d, counted %d", got, want)
	}
	for _, p := range []*Props{&d.Desired, &d.Reported} {
		if got, want := int(p.size-1), sizeOf(p.Values, false); got != want {
			tb.Fatalf("cached size %d, counted %d in %s", got, want, js(p.Values))
		}
		if got, want := int(p.leaves-1), sectionLeaves(p.Values); got != want {
			tb.Fatalf("cached leaves %d, counted %d in %s", got, want, js(p.Values))
		}
	}
}
