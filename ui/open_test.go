package ui

import (
	"strings"
	"testing"
)

// A key on the fleet that opens a screen opens it before the next key is read: with the
// open sent as a command, "enter" then "v" typed in one read opened the fleet's events
// (v reached the fleet) instead of the device's.
func TestOpenBeforeTheNextKey(t *testing.T) {
	cases := map[string]struct {
		open, next string
		screen     screenID
		title      string // first line of the screen reached
	}{
		"enter then v: the device's events": {open: "enter", next: "v", screen: screenEvents, title: "events · dev-00000"},
		"v then j: the fleet's events":      {open: "v", next: "j", screen: screenEvents, title: "events · fleet"},
		"e then x: typed into the editor":   {open: "e", next: "x", screen: screenEdit, title: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, _ := newTestModel(t, 40, false)
			m = size(t, m, 80, 24)
			// the two keys arrive before any command runs, as when typed in one read
			next, cmd1 := m.Update(keyMsg(tc.open))
			next, cmd2 := next.(Model).Update(keyMsg(tc.next))
			m = next.(Model)
			for _, c := range append(immediate(cmd1), immediate(cmd2)...) {
				m = update(t, m, c)
			}
			if m.screen != tc.screen {
				t.Fatalf("on %s after %s %s, want %s", screenNames[m.screen], tc.open, tc.next, screenNames[tc.screen])
			}
			v := stripANSI(m.Render())
			if tc.title != "" && !strings.HasPrefix(v, tc.title) {
				t.Fatalf("screen starts %q, want %q", strings.SplitN(v, "\n", 2)[0], tc.title)
			}
			if tc.screen == screenEdit && !m.edit.Dirty() {
				t.Fatalf("x after e did not reach the editor:\n%s", v)
			}
		})
	}
}
