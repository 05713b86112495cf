package twin

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeArray(t *testing.T) {
	a, b := docJSON(t, fuzzTwin(t)), docJSON(t, New("second", t0))
	cases := map[string]struct {
		body    string
		want    []string // the twins' JSON, in order
		errText string   // part of the error, "" for none
	}{
		"empty":              {body: ` [ ] `},
		"one":                {body: `[` + a + `]`, want: []string{a}},
		"two with spaces":    {body: "[\n " + a + " ,\n" + b + "\n]\n", want: []string{a, b}},
		"not an array":       {body: a, errText: "expected an array"},
		"not closed":         {body: `[` + a, errText: "expected ',' or ']'"},
		"trailing comma":     {body: `[` + a + `,]`, errText: "a twin must be a JSON object"},
		"missing comma":      {body: `[` + a + b + `]`, errText: "expected ',' or ']'"},
		"text after":         {body: `[` + a + `] x`, errText: "unexpected text after the array"},
		"element not object": {body: `[1]`, errText: "a twin must be a JSON object"},
		"bad member":         {body: `[{"version":"x"}]`, errText: "version must be a number"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var got []string
			dec := Decoder{ShareValues: true}
			err := dec.DecodeArray([]byte(c.body), func(d *Doc) { got = append(got, docJSON(t, d)) })
			if c.errText != "" {
				if err == nil || !strings.Contains(err.Error(), c.errText) {
					t.Fatalf("error %v, want one with %q", err, c.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

// FuzzDecodeArray: whatever DecodeArray accepts is a JSON array whose elements
// UnmarshalJSON reads as the same twins.
func FuzzDecodeArray(f *testing.F) {
	d := fuzzTwin(f)
	b, _ := d.MarshalJSON()
	f.Add([]byte(`[` + string(b) + `,` + string(b) + `]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"deviceId":"a","capabilities":{"x":[1,{"y":null}]}},{}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var docs []*Doc
		dec := Decoder{ShareValues: true}
		if err := dec.DecodeArray(body, func(d *Doc) { docs = append(docs, d) }); err != nil {
			return
		}
		var got [][]byte // after all are read: a later twin must not change an earlier one
		for _, d := range docs {
			got = append(got, d.AppendJSON(nil))
		}
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			t.Fatalf("DecodeArray accepted what encoding/json rejects: %v", err)
		}
		if len(items) != len(got) {
			t.Fatalf("%d twins, encoding/json sees %d items", len(got), len(items))
		}
		for i, raw := range items {
			var d Doc
			if err := d.UnmarshalJSON(raw); err != nil {
				t.Fatalf("item %d: UnmarshalJSON rejects what DecodeArray read: %v", i, err)
			}
			if w := d.AppendJSON(nil); string(w) != string(got[i]) {
				t.Fatalf("item %d differs:\n%s\n%s", i, got[i], w)
			}
		}
	})
}
