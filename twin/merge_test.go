package twin

import (
	"fmt"
	"strings"
	"testing"
)

// bigPatch is a reported patch of n members, each an object of two, so that its ops
// overflow the array Patch records them in.
func bigPatch(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%03d":{"v":%d,"w":"x%d"}`, i, i, i)
	}
	b.WriteString("}")
	return b.String()
}

// TestPatchOps: the recorded merge (check, then apply) gives RFC 7396 with mirrored
// metadata, and a patch rejected after part of it was recorded changes nothing.
func TestPatchOps(t *testing.T) {
	cases := map[string]struct {
		sec     Section
		base    string // applied first
		patch   string
		wantErr string // part of the message; "" for success
	}{
		"more ops than the buffer":    {Reported, bigPatch(3), bigPatch(opBufLen), ""},
		"into a fresh section":        {Desired, "", bigPatch(4), ""},
		"deletes empty an object":     {Reported, `{"a":{"b":1,"c":2},"d":1}`, `{"a":{"b":null,"c":null},"x":null}`, ""},
		"enter, set, delete mixed":    {Desired, `{"a":{"b":{"c":1},"d":[1]}}`, `{"a":{"b":{"c":null,"e":{"f":true}},"d":{"g":1}},"h":null}`, ""},
		"tags, nested":                {Tags, `{"a":{"b":1}}`, `{"a":{"b":null,"c":"x"},"d":2}`, ""},
		"bad key after many good ops": {Reported, bigPatch(3), bigPatch(30)[:len(bigPatch(30))-1] + `,"k001":{"v":{"a.b":1}}}`, "key contains '.'"},
		"too deep inside an enter":    {Reported, `{"a":{"b":{}}}`, `{"x":1,"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":1}}}}}}}}}}}`, "nested deeper than 10 levels"},
		"section too big after ops":   {Tags, `{"a":1}`, `{"a":2,"b":"` + strings.Repeat("x", 4000) + `","c":"` + strings.Repeat("y", 4000) + `","d":"` + strings.Repeat("z", 300) + `"}`, "limit is 8192"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			d := New("dev", t0)
			if c.base != "" {
				mustPatch(t, d, c.sec, c.base, at(1))
			}
			before := docJSON(t, d)
			p, perr := decodeObject([]byte(c.patch)) // not ParsePatch: Patch must check alone
			if perr != nil {
				t.Fatal(perr)
			}
			want := referenceMerge(cloneMap(d.section(c.sec)), p)
			err := d.Patch(c.sec, p, at(2))
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Message, c.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, c.wantErr)
				}
				if got := docJSON(t, d); got != before {
					t.Fatalf("rejected patch changed the twin:\n%s\n%s", before, got)
				}
				checkCaches(t, d)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !Equal(d.section(c.sec), want) {
				t.Fatalf("merge gave %s, want %s", js(d.section(c.sec)), js(want))
			}
			if pr := d.props(c.sec); pr != nil {
				checkMetaMirrors(t, c.sec.String(), pr.Values, pr.Meta)
				if !pr.Meta.LastUpdated().Equal(at(2)) {
					t.Fatalf("root $lastUpdated %v, want %v", pr.Meta.LastUpdated(), at(2))
				}
			}
			checkCaches(t, d)
		})
	}
}
