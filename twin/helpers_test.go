package twin

import (
	"testing"
	"time"
)

// t0 is the fixed clock of the tests; at(n) is n seconds later.
var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// parse decodes a JSON object that the test knows is valid.
func parse(tb testing.TB, s Section, body string) map[string]any {
	tb.Helper()
	p, err := ParsePatch(s, []byte(body))
	if err != nil {
		tb.Fatalf("ParsePatch(%s): %v", body, err)
	}
	return p
}

// mustPatch applies a patch that the test knows is valid.
func mustPatch(tb testing.TB, d *Doc, s Section, body string, now time.Time) {
	tb.Helper()
	if err := d.Patch(s, parse(tb, s, body), now); err != nil {
		tb.Fatalf("Patch(%s, %s): %v", s, body, err)
	}
}

// js renders a JSON value canonically (sorted keys).
func js(v any) string { return string(AppendValue(nil, v)) }

// docJSON is the whole twin as JSON.
func docJSON(tb testing.TB, d *Doc) string {
	tb.Helper()
	b, err := d.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// metaAt follows path through the metadata of p.
func metaAt(p Props, path ...string) *Meta {
	return p.Meta.At(path...)
}

// checkMetaMirrors fails unless meta has a node for every value node and nothing else.
func checkMetaMirrors(tb testing.TB, where string, v map[string]any, m *Meta) {
	tb.Helper()
	if m == nil {
		tb.Fatalf("%s: no metadata", where)
	}
	if m.Len() != len(v) {
		tb.Fatalf("%s: %d metadata children for %d members", where, m.Len(), len(v))
	}
	prev := ""
	for k, c := range m.Children() {
		if prev != "" && k <= prev {
			tb.Fatalf("%s: metadata members %q then %q: not in key order", where, prev, k)
		}
		if c.Key() != k {
			tb.Fatalf("%s: member %q has key %q", where, k, c.Key())
		}
		prev = k
	}
	for k, e := range v {
		c := m.Child(k)
		if c == nil {
			tb.Fatalf("%s.%s: no metadata", where, k)
		}
		if o, ok := e.(map[string]any); ok {
			checkMetaMirrors(tb, where+"."+k, o, c)
		} else if c.kids != nil {
			tb.Fatalf("%s.%s: leaf with metadata children", where, k)
		}
		if c.LastUpdated().After(m.LastUpdated()) {
			tb.Fatalf("%s.%s: child updated after its parent", where, k)
		}
	}
}
