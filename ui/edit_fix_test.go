package ui

import (
	"encoding/json"
	"testing"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

func TestEditFixedJSONClearsNotSent(t *testing.T) {
	m, be := newTestModel(t, 10, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "e", "down", "down", "end", "backspace", "ctrl+s")
	if !containsText(m.Render(), "not sent: fix the JSON first") {
		t.Fatalf("ctrl+s on invalid JSON did not say so:\n%s", stripANSI(m.Render()))
	}
	m = typeText(t, m, `"`)
	if out := stripANSI(m.Render()); containsText(out, "fix the JSON first") || !containsText(out, "✓ valid") {
		t.Fatalf("the JSON is valid again but the screen says otherwise:\n%s", out)
	}
	if len(be.Patches) != 0 {
		t.Fatal("nothing should have been sent")
	}
}

func TestEditRestoredNoteGoesWhenSent(t *testing.T) {
	m, be := newTestModel(t, 10, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "e", "down", "down", "end", "backspace", "backspace")
	m = typeText(t, m, `9"`)
	m = keys(t, m, "esc", "e")
	if !containsText(m.Render(), "restored your unsent edit") {
		t.Fatal("reopening the editor did not restore the draft")
	}
	// Sending: the edit screen no longer claims the edit is unsent.
	next, _ := m.Update(keyMsg("ctrl+s"))
	if out := stripANSI(next.(Model).Render()); containsText(out, "restored your unsent edit") {
		t.Fatalf("while sending, the screen still says the edit is unsent:\n%s", out)
	}
	m = keys(t, m, "ctrl+s")
	if len(be.Patches) != 1 || m.screen == screenEdit || len(m.c.Drafts) != 0 {
		t.Fatalf("%d writes, screen %s, %d drafts after sending", len(be.Patches), screenNames[m.screen], len(m.c.Drafts))
	}
}

func TestEditDraftAlreadyInTwinIsDropped(t *testing.T) {
	be := uitest.NewBackend(uitest.Now, uitest.Fleet(5)...)
	old, _ := be.GetTwin(t.Context(), "dev-00000")
	tags, err := json.Marshal(old.Tags)
	if err != nil {
		t.Fatal(err)
	}
	draft := `{"firmware": {"version": "9.0.0"}, "telemetry": {"interval": 30}}`
	cur := be.Mutate("dev-00000", twin.Desired, map[string]any{"firmware": map[string]any{"version": "9.0.0"}})
	dark := true
	m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark,
		Drafts: map[string]common.Draft{"dev-00000": {Desired: draft, Tags: string(tags), Base: old}}})
	m = update(t, m, batchMsg{batch: be.InitialBatch()})
	m = size(t, m, 80, 24)
	m = keys(t, m, "e")
	out := stripANSI(m.Render())
	if containsText(out, "restored your unsent edit") || !containsText(out, "already in the twin") {
		t.Fatalf("a draft whose change is already in the twin was restored:\n%s", out)
	}
	if _, ok := m.c.Drafts["dev-00000"]; ok || cur.Version == old.Version {
		t.Fatal("the sent draft was kept")
	}
}
