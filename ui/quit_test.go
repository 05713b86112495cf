package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// TestCtrlCDuringARolloutAsks: ctrl+c used to quit at once in the middle of a rollout,
// its writes stopped without a word (QA, session 6). While a rollout writes, ctrl+c asks
// as q does, a second ctrl+c (or y) quits, and the console says how far the rollout got.
func TestCtrlCDuringARolloutAsks(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 100, 30)
	if _, cmd := m.Update(keyMsg("ctrl+c")); !quits(cmd) {
		t.Fatal("ctrl+c with no rollout running did not quit at once")
	}
	m = keys(t, m, "r")
	m = typeText(t, m, "1.6.0")
	m = keys(t, m, "enter")
	m = typeText(t, m, "yes")
	m = keys(t, m, "enter")
	if !m.rollout.Active() {
		t.Fatal("setup: no rollout running")
	}
	next, cmd := m.Update(keyMsg("ctrl+c"))
	if quits(cmd) {
		t.Fatal("ctrl+c quit in the middle of a rollout without asking")
	}
	m = next.(Model)
	if out := stripANSI(m.Render()); !strings.Contains(out, "a rollout is writing: quitting stops it. quit? y/n") {
		t.Fatalf("no question asked:\n%s", out)
	}
	if _, cmd := m.Update(keyMsg("ctrl+c")); !quits(cmd) {
		t.Fatal("a second ctrl+c did not quit")
	}
	if s := m.RolloutStopped(); !strings.Contains(s, "stopped at 0 of 40 written") || !strings.Contains(s, "Plan it again (r)") {
		t.Fatalf("the message on quitting says %q", s)
	}
	m = keys(t, m, "n") // not quitting after all
	if m.confirmQ || !m.rollout.Active() {
		t.Fatal("answering n did not keep the console and the rollout")
	}
}

// quits reports whether cmd (run, with its batches) asks the program to quit.
func quits(cmd tea.Cmd) bool {
	if cmd == nil {
		return false
	}
	switch msg := cmd().(type) {
	case tea.QuitMsg:
		return true
	case tea.BatchMsg:
		for _, c := range msg {
			if quits(c) {
				return true
			}
		}
	}
	return false
}
