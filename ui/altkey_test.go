package ui

import (
	"testing"

	tea "charm.land/bubbletea/v2"
)

// alt is the key an Esc and a key arriving in one read decode to.
func alt(r rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: r, Mod: tea.ModAlt} }

func TestEscColonTypedFastOpensTheQuery(t *testing.T) {
	m, be := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = update(t, m, alt(':'))
	if m.screen != screenFleet || !m.fleet.Capturing() {
		t.Fatalf("alt+: left screen %s capturing %v, want the fleet's query prompt", screenNames[m.screen], m.fleet.Capturing())
	}
	m = typeText(t, m, "tags.ring = 'canary'")
	m = keys(t, m, "enter", "y")
	if m.screen != screenFleet || m.rollout.Started() || len(be.Patches) != 0 {
		t.Fatalf("typed query ran as commands: screen %s, rollout started %v, %d writes",
			screenNames[m.screen], m.rollout.Started(), len(be.Patches))
	}
	if got := m.fleet.ViewLabel(); got != "tags.ring = 'canary'" {
		t.Fatalf("view %q, want the query", got)
	}
}

func TestEscColonOnTheTwinGoesBackAndOpensTheQuery(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "enter")
	if m.screen != screenTwin {
		t.Fatalf("enter on the fleet opened %s, want the twin", screenNames[m.screen])
	}
	m = update(t, m, alt(':'))
	if m.screen != screenFleet || !m.fleet.Capturing() {
		t.Fatalf("Esc+: on the twin left screen %s capturing %v, want the fleet's query prompt", screenNames[m.screen], m.fleet.Capturing())
	}
}

func TestPlainAlt(t *testing.T) {
	tests := map[string]struct {
		msg       tea.KeyPressMsg
		capturing bool
		want      string
	}{
		"alt+: is :":                   {alt(':'), false, ":"},
		"alt+shift+g is G":             {tea.KeyPressMsg{Code: 'g', ShiftedCode: 'G', Mod: tea.ModAlt | tea.ModShift}, false, "G"},
		"alt+enter is enter":           {tea.KeyPressMsg{Code: tea.KeyEnter, Mod: tea.ModAlt}, false, "enter"},
		"alt+space is space":           {tea.KeyPressMsg{Code: tea.KeySpace, Mod: tea.ModAlt}, false, "space"},
		"ctrl+alt+x is left alone":     {tea.KeyPressMsg{Code: 'x', Mod: tea.ModAlt | tea.ModCtrl}, false, "ctrl+alt+x"},
		"alt+b while typing is a word": {alt('b'), true, "alt+b"},
		"alt+b on the table is b":      {alt('b'), false, "b"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := newTestModel(t, 4, false)
			if tc.capturing {
				m = keys(t, m, "/")
			}
			got := m.plainAlt(tc.msg)
			if got.String() != tc.want {
				t.Fatalf("%s became %q, want %q", tc.msg.String(), got.String(), tc.want)
			}
		})
	}
}

func TestAltBInQueryMovesByWord(t *testing.T) {
	m, _ := newTestModel(t, 4, false)
	m = keys(t, m, ":")
	m = typeText(t, m, "ab cd")
	m = update(t, m, alt('b'))
	m = typeText(t, m, "x")
	if out := stripANSI(m.Render()); !containsText(out, "ab xcd") {
		t.Fatalf("query prompt after alt+b and x does not read \"ab xcd\":\n%s", out)
	}
}
