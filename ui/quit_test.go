package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/fleet"
	"github.com/twinops/twinops/ui/rollout"
	"github.com/twinops/twinops/ui/uitest"
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
	if s := m.RolloutStopped(); !strings.Contains(s, "stopped at 0 of 40 written (40 not written or not answered)") {
		t.Fatalf("the message on quitting says %q", s)
	}
	m = keys(t, m, "n") // not quitting after all
	if m.confirmQ || !m.rollout.Active() {
		t.Fatal("answering n did not keep the console and the rollout")
	}
	// A key that is no answer drops the question and does what it does (it was lost).
	m = keys(t, m, "esc") // to the fleet; the rollout goes on
	sel := m.fleet.Selected()
	m = keys(t, m, "ctrl+c", "j")
	if m.confirmQ || m.fleet.Selected() == sel {
		t.Fatalf("j after the question: asking %v, cursor still on %s", m.confirmQ, sel)
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

// TestStoppedRolloutResumes: a rollout the console's end stopped is kept (SavedRollout),
// and the next console says so in the status line; R opens its review as it was, and
// starting it writes only the devices that do not have the value yet.
func TestStoppedRolloutResumes(t *testing.T) {
	m, be := newTestModel(t, 40, false)
	m = size(t, m, 100, 30)
	m = keys(t, m, "r")
	m = typeText(t, m, "1.6.0")
	m = keys(t, m, "tab")
	m = typeText(t, m, "7")
	m = keys(t, m, "enter")
	m = typeText(t, m, "yes")
	m = keys(t, m, "enter")
	saved := m.SavedRollout()
	if saved == nil || len(saved.IDs) != 40 || saved.Fields[1] != "1.6.0" || saved.Fields[2] != "7" {
		t.Fatalf("kept %+v, want the running rollout's plan", saved)
	}
	// Four devices were written before the console ended.
	for _, id := range []string{"dev-00001", "dev-00002", "dev-00003", "dev-00004"} {
		be.Mutate(id, twin.Desired, map[string]any{"firmware": map[string]any{"version": "1.6.0"}})
	}

	dark := true
	next := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, Stopped: saved})
	next = update(t, next, batchMsg{batch: be.InitialBatch()})
	next = size(t, next, 100, 30)
	if out := stripANSI(next.Render()); !strings.Contains(out, "ROLLOUT STOPPED: R resumes") {
		t.Fatalf("the status line does not say a rollout was stopped:\n%s", out)
	}
	if next.SavedRollout() != saved {
		t.Fatal("a stopped rollout not resumed yet must be kept for the run after")
	}
	next = keys(t, next, "R")
	out := stripANSI(next.Render())
	for _, want := range []string{"resuming the rollout stopped when the console ended", "rate (devices/s)  7",
		"36 of 40 devices will change", "type 36 or yes"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the review does not show %q:\n%s", want, out)
		}
	}
	next = typeText(t, next, "yes")
	next = keys(t, next, "enter")
	if !next.rollout.Active() || next.stopped != nil {
		t.Fatalf("after yes: active %v, stopped %v", next.rollout.Active(), next.stopped)
	}
	if s := next.SavedRollout(); s == nil || s.Total != 36 {
		t.Fatalf("resumed rollout %+v: want the 36 devices without the value", s)
	}
}

// TestHelpWhileTypingListsOnlyKeysThatWork: the editor's help listed q, j, k and g under
// EVERYWHERE, but in the editor they type text (QA, session 6).
func TestHelpWhileTypingListsOnlyKeysThatWork(t *testing.T) {
	m, _ := newTestModel(t, 5, false)
	m = size(t, m, 100, 30)
	m = keys(t, m, "e")
	m = update(t, m, tea.KeyPressMsg{Code: tea.KeyF1})
	out := stripANSI(m.Render())
	i := strings.Index(out, "EVERYWHERE")
	if i < 0 {
		t.Fatalf("no help:\n%s", out)
	}
	var everywhere []string
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 50 {
			everywhere = append(everywhere, strings.TrimSpace(l[50:]))
		}
	}
	got := strings.Join(everywhere, "\n")
	for _, bad := range []string{"q/esc", "j/", "k/"} {
		if strings.Contains(got, bad) {
			t.Fatalf("the editor's help lists %q, which types text there:\n%s", bad, out)
		}
	}
	if !strings.Contains(got, "ctrl+c") || !strings.Contains(got, "esc") {
		t.Fatalf("the editor's help lacks esc or ctrl+c:\n%s", out)
	}
}

// TestStoppedRolloutWithNothingLeft: resuming a stopped rollout whose devices all have
// the value by now finishes at once; the stopped note must go with it (it stayed, and R
// could no longer resume it: review finding). An auto-pause's reason is shown.
func TestStoppedRolloutWithNothingLeft(t *testing.T) {
	be := uitest.NewBackend(uitest.Now, uitest.Fleet(3)...)
	for _, id := range []string{"dev-00000", "dev-00001", "dev-00002"} {
		be.Mutate(id, twin.Desired, map[string]any{"firmware": map[string]any{"version": "1.6.0"}})
	}
	saved := &rollout.Saved{IDs: []string{"dev-00000", "dev-00001", "dev-00002"}, Label: "all devices",
		Fields: [5]string{"firmware.version", "1.6.0", "10", "1", "off"}, Written: 2, Total: 3,
		Held: "it had auto-paused: 1 of 2 written had failed (limit 1)"}
	dark := true
	m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, Stopped: saved})
	m = update(t, m, batchMsg{batch: be.InitialBatch()})
	m = size(t, m, 100, 30)
	m = keys(t, m, "R")
	if out := stripANSI(m.Render()); !strings.Contains(out, "it had auto-paused: 1 of 2 written had failed") {
		t.Fatalf("the review does not say why it was held:\n%s", out)
	}
	m = typeText(t, m, "yes")
	m = keys(t, m, "enter")
	if m.stopped != nil || m.SavedRollout() != nil {
		t.Fatalf("the stopped note outlived its resume: %+v", m.stopped)
	}
	if out := stripANSI(m.Render()); strings.Contains(out, "ROLLOUT STOPPED") {
		t.Fatalf("still says stopped:\n%s", out)
	}
}

// TestFleetViewKeptBetweenRuns: a restarted console (after a dropped SSH session) used to
// open on the default view, its query and sort gone (QA, session 6). The view is kept;
// what no longer applies is dropped with a notice.
func TestFleetViewKeptBetweenRuns(t *testing.T) {
	m, be := newTestModel(t, 40, false)
	m = size(t, m, 100, 30)
	m = keys(t, m, ":")
	m = typeText(t, m, "tags.region = 'eu-west'")
	m = keys(t, m, "enter", ">", "s")
	v := m.FleetView()
	if v.Query != "tags.region = 'eu-west'" || v.Sort != "CONN" || !v.Desc {
		t.Fatalf("kept %+v", v)
	}
	dark := true
	next := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, View: &v})
	next = update(t, next, batchMsg{batch: be.InitialBatch()})
	next = size(t, next, 100, 30)
	if got := next.FleetView(); got != v {
		t.Fatalf("restored %+v, want %+v", got, v)
	}
	if got, want := next.fleet.ViewIDs(), m.fleet.ViewIDs(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("restored view shows %v, want %v", got, want)
	}

	bad := fleet.ViewState{Query: "tags.region = ", Sort: "NO SUCH COLUMN"}
	next = New(Options{Backend: be, Now: uitest.Now, Dark: &dark, View: &bad})
	next = update(t, next, batchMsg{batch: be.InitialBatch()})
	next = size(t, next, 100, 30)
	if out := stripANSI(next.Render()); !strings.Contains(out, "no longer applies: dropped") || next.FleetView() != (fleet.ViewState{}) {
		t.Fatalf("a stale view was not dropped with a notice (%+v):\n%s", next.FleetView(), out)
	}
}

// TestNewRolloutWarnsItForgetsTheStoppedOne: with a stopped rollout from the last
// console, planning another said nothing, and starting it silently forgot the stopped
// one and its unwritten devices (QA, session 6).
func TestNewRolloutWarnsItForgetsTheStoppedOne(t *testing.T) {
	be := uitest.NewBackend(uitest.Now, uitest.Fleet(20)...)
	saved := &rollout.Saved{IDs: []string{"dev-00000", "dev-00001"}, Label: "2 marked",
		Fields: [5]string{"firmware.version", "3.0.0", "10", "5%", "10"}, Written: 1, Total: 2}
	dark := true
	m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, Stopped: saved})
	m = update(t, m, batchMsg{batch: be.InitialBatch()})
	m = size(t, m, 100, 30)
	m = keys(t, m, "r")
	out := stripANSI(m.Render())
	if !strings.Contains(out, "starting this forgets the rollout the last console stopped") ||
		!strings.Contains(out, "desired.firmware.version = 3.0.0 on 2 marked, stopped at 1 of 2 written") {
		t.Fatalf("the plan does not warn of the stopped rollout:\n%s", out)
	}
	m = keys(t, m, "esc", "R")
	if out := stripANSI(m.Render()); strings.Contains(out, "starting this forgets") || !strings.Contains(out, "resuming the rollout") {
		t.Fatalf("the resume warns against itself:\n%s", out)
	}
}

// TestStoppedRolloutAfterReview: from a review of the second QA pass's fixes. R before
// the fleet is in would review an empty rollout (and warn of a typo): it waits. With
// the "forgets the stopped rollout" note on a short terminal the review keeps its wave
// and limit lines. The held-rollout quit question keeps its y/n at 80 columns. A
// reversed DEVICE sort is restored.
func TestStoppedRolloutAfterReview(t *testing.T) {
	be := uitest.NewBackend(uitest.Now, uitest.Fleet(40)...)
	saved := &rollout.Saved{IDs: []string{"dev-00000", "dev-00001"}, Label: "2 marked",
		Fields: [5]string{"firmware.version", "3.0.0", "10", "5%", "10"}, Written: 1, Total: 2}
	dark := true
	m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, Stopped: saved, View: &fleet.ViewState{Desc: true}})
	m = size(t, m, 80, 24)
	m = keys(t, m, "R")
	if m.screen == screenRollout || !strings.Contains(stripANSI(m.Render()), "the fleet is still loading") {
		t.Fatalf("R before the fleet is in opened %s:\n%s", screenNames[m.screen], stripANSI(m.Render()))
	}
	m = update(t, m, batchMsg{batch: be.InitialBatch()})
	if v := m.FleetView(); !v.Desc || v.Sort != "" {
		t.Fatalf("reversed DEVICE sort restored as %+v", v)
	}

	m = size(t, m, 70, 13) // 12 rows of body
	m = keys(t, m, "r")
	m = typeText(t, m, "3.1.0")
	m = keys(t, m, "enter")
	out := stripANSI(m.Render())
	for _, want := range []string{"forgets the rollout the last console stopped", "first 10 devices", "auto-pause at 5%", "type 40 or yes"} {
		if !strings.Contains(out, want) {
			t.Fatalf("at 70x13 the review lacks %q:\n%s", want, out)
		}
	}
	m = typeText(t, m, "yes")
	m = keys(t, m, "enter", "p", "esc") // started, paused, back to the fleet
	m = size(t, m, 80, 24)
	m = keys(t, m, "ctrl+c")
	lines := strings.Split(stripANSI(m.Render()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "quit? y/n") {
		t.Fatalf("the held-rollout question lost its y/n: %q", last)
	}
}
