package twin

import "testing"

// Review of the sharing Decoder: a twin read after others must read as it does alone,
// and reading it must change none read before.
func TestReviewDecoderReadsEachTwinAsAlone(t *testing.T) {
	meta := `"$metadata":{"$lastUpdated":"2026-11-27T09:00:00Z","a":{"$lastUpdated":"2026-11-27T09:00:00Z"}},"$version":2`
	cases := map[string][]string{ // reported sections of twins read in turn
		// the first twin's section comes twice: the map recorded for its first
		// text must not be the one the second occurrence merges into
		"section twice, then its first text": {
			`{"a":1,` + meta + `},"reported":{"b":2,` + meta + `}`,
			`{"a":1,` + meta + `}`,
		},
		// an escaped "$" is still a $ member: the values' text ends before it
		"escaped $metadata": {
			`{"a":1,"\u0024metadata":{"$lastUpdated":"2026-11-27T09:00:00Z","a":{"$lastUpdated":"2026-11-27T09:00:00Z"}}}`,
			`{"a":1,"\u0024metadata":{"$lastUpdated":"2026-11-27T09:00:00Z","a":{"$lastUpdated":"2026-11-27T09:00:00Z"}}}`,
		},
		"escaped $version": {
			`{"a":1,"\u0024version":7}`,
			`{"a":1,"\u0024version":7}`,
		},
	}
	for name, secs := range cases {
		t.Run(name, func(t *testing.T) {
			dec := Decoder{ShareValues: true}
			docs := make([]Doc, len(secs))
			want := make([]string, len(secs))
			for i, sec := range secs {
				body := `{"deviceId":"d` + string(rune('0'+i)) + `","properties":{"reported":` + sec + `}}`
				var plain Doc
				if err := plain.UnmarshalJSON([]byte(body)); err != nil {
					t.Fatal(err)
				}
				want[i] = docJSON(t, &plain)
				if err := dec.Decode([]byte(body), &docs[i]); err != nil {
					t.Fatal(err)
				}
				checkCaches(t, &docs[i])
			}
			for i := range docs {
				if got := docJSON(t, &docs[i]); got != want[i] {
					t.Errorf("twin %d read by a sharing Decoder:\n%s\nread alone:\n%s", i, got, want[i])
				}
			}
		})
	}
}

// Review: no decoded twin keeps a reference into its input (the fleet reuses page
// buffers): overwriting the input after Decode changes nothing read from it.
func TestReviewDecodedTwinKeepsNoInput(t *testing.T) {
	bodies := map[string]string{
		"azure":         azureSkeleton,
		"fuzz twin":     docJSON(t, fuzzTwin(t)),
		"escaped keys":  `{"deviceId":"d\u0041","status":"enabled","tags":{"k\u00e9":"v\u00e9","o":{"\u0024x":[{"q":"r"}]}},"properties":{"desired":{"a":{"b":"c"},"$metadata":{"$lastUpdated":"2026-11-27T09:00:00Z","a":{"$lastUpdated":"2026-11-27T09:00:00Z","b":{"$lastUpdated":"2026-11-27T09:00:00Z"}}},"$version":3}}}`,
		"$ member meta": `{"deviceId":"d","properties":{"reported":{"$metadata":{"$lastUpdated":"2026-11-27T09:00:00Z","$weird":{"$lastUpdated":"2026-11-27T09:00:00Z"}},"$version":3}}}`,
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			dec := Decoder{ShareValues: true}
			var docs [3]Doc
			bufs := make([][]byte, len(docs))
			for i := range docs {
				bufs[i] = []byte(body)
				var err error
				if i == 0 {
					err = docs[i].UnmarshalJSON(bufs[i])
				} else {
					err = dec.Decode(bufs[i], &docs[i])
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			want := make([]string, len(docs))
			for i := range docs {
				want[i] = docJSON(t, &docs[i])
			}
			for _, b := range bufs {
				for j := range b {
					b[j] = 'x'
				}
			}
			for i := range docs {
				if got := docJSON(t, &docs[i]); got != want[i] {
					t.Errorf("twin %d changed with its input:\n%s\nwas\n%s", i, got, want[i])
				}
			}
		})
	}
}

// FuzzReviewDecoderPairs: two twins read in turn by one sharing Decoder read as each does
// alone, and reading the later ones changes none read before.
func FuzzReviewDecoderPairs(f *testing.F) {
	meta := `"$metadata":{"$lastUpdated":"2026-11-27T09:00:00Z"},"$version":2`
	f.Add(`{"a":1,`+meta+`},"reported":{"b":2,`+meta+`}`, `{"a":1,`+meta+`}`)
	f.Add(`{"a":{"b":1},`+meta+`}`, `{"a":{"b":1},"c":[{"b":1}],`+meta+`}`)
	f.Add(`{"a":1,"\u0024version":7}`, `{"a":1,`+meta+`}`)
	f.Add(`{`+meta+`,"a":1}`, `{`+meta+`}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		bodies := []string{
			`{"deviceId":"a","tags":` + tagsOf(a) + `,"properties":{"reported":` + a + `}}`,
			`{"deviceId":"b","tags":` + tagsOf(b) + `,"properties":{"desired":` + b + `,"reported":` + a + `}}`,
		}
		want := make([]string, len(bodies))
		for i, body := range bodies {
			var plain Doc
			if plain.UnmarshalJSON([]byte(body)) != nil {
				return
			}
			want[i] = docJSON(t, &plain)
		}
		dec := Decoder{ShareValues: true}
		docs := make([]Doc, 4)
		for i := range docs {
			if err := dec.Decode([]byte(bodies[i%2]), &docs[i]); err != nil {
				t.Fatalf("a sharing Decoder rejects what UnmarshalJSON accepts: %v", err)
			}
			checkCaches(t, &docs[i])
		}
		for i := range docs {
			if got := docJSON(t, &docs[i]); got != want[i%2] {
				t.Fatalf("twin %d:\n%s\nalone:\n%s", i, got, want[i%2])
			}
		}
	})
}

// tagsOf uses a section's text as tags when it is an object without $ members.
func tagsOf(s string) string {
	var m Doc
	if m.UnmarshalJSON([]byte(`{"tags":`+s+`}`)) == nil {
		return s
	}
	return "{}"
}

// Review: a twin whose etag is 12 base64 characters without padding (9 bytes, not the
// 8 makeEtag writes; e.g. read from a store or another hub) takes a patch instead of
// panicking in base64's Decode, which needs room for 9 bytes.
func TestReviewPatchWithForeignEtag(t *testing.T) {
	for name, etag := range map[string]string{"9 bytes": "AAAAAAAAAAAA", "zeros": "000000000000", "not base64": "!!!!!!!!!!!!", "ours": "AAAAAAAAAAc="} {
		t.Run(name, func(t *testing.T) {
			d := New("dev", t0)
			d.Etag = etag
			if err := d.Patch(Reported, map[string]any{"a": 1.0}, at(1)); err != nil {
				t.Fatal(err)
			}
			if d.Etag == etag || len(d.Etag) != 12 {
				t.Errorf("etag after the patch is %q (was %q)", d.Etag, etag)
			}
		})
	}
}
