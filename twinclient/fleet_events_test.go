package twinclient

import (
	"encoding/json"
	"testing"
)

func TestSplitPage(t *testing.T) {
	cases := map[string]struct {
		in    string
		items []string
		cont  string
		ok    bool
	}{
		"hub shape": {`{"items":[{"a":1},{"b":"x]}"}],"continuation":"abc","itemType":"twin"}`,
			[]string{`{"a":1}`, `{"b":"x]}"}`}, "abc", true},
		"last page":       {`{"items":[{"a":[1,2,{"c":"\"}"}]}],"itemType":"twin"}`, []string{`{"a":[1,2,{"c":"\"}"}]}`}, "", true},
		"empty":           {`{"items":[],"itemType":"raw"}`, nil, "", true},
		"scalars, spaces": {` { "itemType" : "raw" , "items" : [ 1 , "two" , null ] } `, []string{`1`, `"two"`, `null`}, "", true},
		"escaped cont":    {`{"items":[],"continuation":"a\"b"}`, nil, `a"b`, true},
		"truncated":       {`{"items":[{"a":1}`, nil, "", false},
		"not an object":   {`[1,2]`, nil, "", false},
		"unterminated":    {`{"items":["abc]}`, nil, "", false},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			items, cont, ok := splitPage([]byte(c.in))
			if ok != c.ok {
				t.Fatalf("ok %v", ok)
			}
			if !ok {
				return
			}
			if cont != c.cont || len(items) != len(c.items) {
				t.Fatalf("items %q cont %q", items, cont)
			}
			for i := range items {
				if string(items[i]) != c.items[i] {
					t.Fatalf("item %d = %s, want %s", i, items[i], c.items[i])
				}
			}
		})
	}
}

// FuzzSplitPage: never panics; on valid JSON pages it agrees with encoding/json.
func FuzzSplitPage(f *testing.F) {
	f.Add([]byte(`{"items":[{"a":"}"},[1,{"b":2}]],"continuation":"x"}`))
	f.Add([]byte(`{"items":[]}`))
	f.Add([]byte(`{"items":["\\",{"k\"":[]}],"itemType":"raw"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		items, cont, ok := splitPage(b)
		var want QueryPage
		if !ok || json.Unmarshal(b, &want) != nil {
			return
		}
		if cont != want.Continuation || len(items) != len(want.Items) {
			t.Fatalf("split %d items cont %q; encoding/json %d items cont %q", len(items), cont, len(want.Items), want.Continuation)
		}
		for i := range items {
			var x, y any
			if json.Unmarshal(items[i], &x) != nil || json.Unmarshal(want.Items[i], &y) != nil {
				t.Fatalf("item %d does not decode: %s", i, items[i])
			}
		}
	})
}
