package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
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
		"r then 2: typed into the rollout":  {open: "r", next: "2", screen: screenRollout, title: "rollout"},
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
			if tc.screen == screenRollout && !strings.Contains(v, "new value         2") {
				t.Fatalf("2 after r did not reach the rollout's value field:\n%s", v)
			}
		})
	}
}

// TestHelpKeyWhileTyping: in the editor ? is text, so the status line names f1, and f1
// opens the help there (and on the fleet, where ? works too).
func TestHelpKeyWhileTyping(t *testing.T) {
	f1 := tea.KeyPressMsg{Code: tea.KeyF1}
	cases := map[string]struct {
		open    []string
		hint    string
		qIsText bool
	}{
		"editor": {open: []string{"e"}, hint: " f1 help", qIsText: true},
		"fleet":  {open: nil, hint: " ? help"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m, _ := newTestModel(t, 10, false)
			m = size(t, m, 80, 24)
			m = keys(t, m, tc.open...)
			if v := stripANSI(m.Render()); !strings.HasSuffix(strings.TrimRight(v, " "), strings.TrimSpace(tc.hint)) {
				t.Fatalf("status line %q does not end with %q", v[strings.LastIndex(v, "\n")+1:], tc.hint)
			}
			if tc.qIsText {
				if typed := keys(t, m, "?"); typed.help || !typed.edit.Dirty() {
					t.Fatalf("? in the editor: help %v, typed %v; want it typed", typed.help, typed.edit.Dirty())
				}
			}
			if m = update(t, m, f1); !m.help {
				t.Fatal("f1 did not open the help")
			}
		})
	}
}

// TestRKeepsTheLastRollout: r after a stopped rollout plans the next one, and R (after
// esc) brings back the stopped one instead of the plan.
func TestRKeepsTheLastRollout(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "r")
	m = typeText(t, m, "1.6.0")
	m = keys(t, m, "enter")
	m = typeText(t, m, "yes")
	m = keys(t, m, "enter", "A", "esc")
	if !m.rollout.Started() || m.rollout.Active() || m.screen != screenFleet {
		t.Fatalf("setup: started %v active %v on %s, want an aborted rollout, on the fleet",
			m.rollout.Started(), m.rollout.Active(), screenNames[m.screen])
	}
	m = keys(t, m, "r")
	if v := stripANSI(m.Render()); !strings.Contains(v, "the last rollout") {
		t.Fatalf("the plan does not mention the last rollout:\n%s", v)
	}
	m = keys(t, m, "esc", "R")
	if v := stripANSI(m.Render()); m.screen != screenRollout || !strings.Contains(v, "ABORTED") {
		t.Fatalf("R after a new plan shows %s:\n%s", screenNames[m.screen], v)
	}
}

// TestPasteGoesToTheScreenOnTop: text pasted into the fleet's filter does not also land in
// the rollout plan's value field, left focused under it when the plan was closed.
func TestPasteGoesToTheScreenOnTop(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	for _, k := range []string{"r", "2", ".", "1", "esc", "/"} {
		m = update(t, m, keyMsg(k))
	}
	m = update(t, m, tea.PasteMsg{Content: "abc"})
	if v := stripANSI(m.Render()); !strings.Contains(v, "abc") {
		t.Fatalf("the paste did not reach the fleet's filter:\n%s", v)
	}
	m = update(t, m, keyMsg("esc"))
	m = update(t, m, keyMsg("r"))
	v := stripANSI(m.Render())
	if !strings.Contains(v, "new value         2.1") || strings.Contains(v, "2.1abc") {
		t.Fatalf("the rollout plan's value after a paste on the fleet:\n%s", v)
	}
}

// TestRWhileARolloutRunsTakesNoTypeAhead: with a rollout running, r shows it through the
// fleet; an A typed right after r must not reach it and abort it.
func TestRWhileARolloutRunsTakesNoTypeAhead(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "r", "3", ".", "0", ".", "0", "enter", "y", "e", "s", "enter")
	if !m.rollout.Active() {
		t.Fatalf("the rollout did not start:\n%s", stripANSI(m.Render()))
	}
	m = keys(t, m, "esc")
	next, cmd1 := m.Update(keyMsg("r"))
	next, cmd2 := next.(Model).Update(keyMsg("A"))
	m = next.(Model)
	for _, c := range append(immediate(cmd1), immediate(cmd2)...) {
		m = update(t, m, c)
	}
	if !m.rollout.Active() {
		t.Fatal("A typed right after r aborted the running rollout")
	}
}

// TestStatusLineKeepsAHeldRollout: on a narrow terminal the status line still says that
// the rollout's writes are paused (the counts and the hub's name give way first).
func TestStatusLineKeepsAHeldRollout(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 60, 24)
	m = keys(t, m, "r", "3", ".", "0", ".", "0", "enter", "y", "e", "s", "enter", "p")
	lines := strings.Split(stripANSI(m.Render()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "ROLLOUT PAUSED") {
		t.Fatalf("status line at 60 columns: %q", last)
	}
}
