package theme

import (
	"strings"
	"testing"
)

func TestStyles(t *testing.T) {
	tests := map[string]struct {
		dark, mono bool
		wantColor  bool
	}{
		"dark":           {true, false, true},
		"light":          {false, false, true},
		"no color dark":  {true, true, false},
		"no color light": {false, true, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			st := New(tc.dark, tc.mono)
			out := st.OK.S("ok") + st.Bad.S("bad") + st.Selected.S("row") + st.Bar.S("bar")
			if got := strings.Contains(out, "38;2;") || strings.Contains(out, "48;2;"); got != tc.wantColor {
				t.Fatalf("colour codes present: %v, want %v in %q", got, tc.wantColor, out)
			}
			if !strings.Contains(out, "ok") || !strings.Contains(out, "bad") {
				t.Fatalf("text lost: %q", out)
			}
			if tc.mono && !strings.Contains(st.Selected.S("row"), "7m") {
				t.Fatal("without colour the selected row must be reversed")
			}
		})
	}
	if New(true, false).Text.S("x") == New(false, false).Text.S("x") {
		t.Fatal("dark and light themes draw text the same way")
	}
	if (Paint{}).S("plain") != "plain" {
		t.Fatal("the zero Paint must leave text alone")
	}
}
