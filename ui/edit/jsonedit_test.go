package edit

import (
	"reflect"
	"testing"

	"github.com/twinops/twinops/twin"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		text      string
		line, col int
		ok        bool
	}{
		"valid object":       {"{\n  \"a\": 1\n}", 0, 0, true},
		"empty is {}":        {"  ", 0, 0, true},
		"missing brace":      {"{\n  \"a\": 1\n", 3, 1, false},
		"bad token line 2":   {"{\n  \"a\": tru\n}", 2, 11, false},
		"array not object":   {"[1]", 1, 1, false},
		"null not object":    {"null", 0, 0, false},
		"dollar key refused": {`{"$x": 1}`, 0, 0, false},
		"dotted key refused": {`{"a.b": 1}`, 0, 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := validate(twin.Desired, tc.text)
			if (v.msg == "") != tc.ok {
				t.Fatalf("validate(%q) = %+v, want ok %v", tc.text, v, tc.ok)
			}
			if tc.line > 0 && (v.line != tc.line || v.col != tc.col) {
				t.Fatalf("error at line %d column %d, want %d:%d (%s)", v.line, v.col, tc.line, tc.col, v.msg)
			}
		})
	}
}

func TestApplyPatchAndConflicts(t *testing.T) {
	base := map[string]any{"a": 1.0, "b": map[string]any{"c": "x", "d": "y"}}
	patch := map[string]any{"a": nil, "b": map[string]any{"c": "z"}, "e": true}
	got := applyPatch(base, patch)
	want := map[string]any{"b": map[string]any{"c": "z", "d": "y"}, "e": true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("applyPatch = %v, want %v", got, want)
	}
	if base["a"] != 1.0 {
		t.Fatal("applyPatch modified its base")
	}
	theirs := map[string]any{"b": map[string]any{"c": "t"}, "f": 1.0}
	yours := map[string]any{"b": map[string]any{"c": "z"}, "f": 1.0}
	if c := conflicts(theirs, yours); !reflect.DeepEqual(c, []string{"b.c"}) {
		t.Fatalf("conflicts = %v, want [b.c]", c)
	}
}

// FuzzValidate checks that any text gets an answer (never a panic), that an error with a
// position points inside the text, and that what is accepted round-trips as a patch.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"{}", "{\"a\":1}", "{\n\"a\": [1,2,{\"b\":null}]\n}", "{", "[]", "{\"a\":\"\\u00e9\"}", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := validate(twin.Desired, s)
		if v.msg == "" && v.value == nil {
			t.Fatalf("no value and no error for %q", s)
		}
		if v.line > 0 {
			lines := 1
			for i := 0; i < len(s); i++ {
				if s[i] == '\n' {
					lines++
				}
			}
			if v.line > lines {
				t.Fatalf("error line %d past the end (%d lines) of %q", v.line, lines, s)
			}
		}
		if v.value != nil {
			p := twin.MakePatch(map[string]any{}, v.value)
			if !reflect.DeepEqual(applyPatch(map[string]any{}, p), v.value) && len(v.value) > 0 {
				t.Fatalf("patch of %q does not rebuild it", s)
			}
		}
	})
}
