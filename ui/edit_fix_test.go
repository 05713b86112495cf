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

// TestEditOverwriteKeepsNoStaleDraft: after a conflict answered with f (overwrite
// theirs), the editor held the other writer's key as it was before their change; the
// next e kept that text as a draft, and sending it reverted their change (QA, session 6).
func TestEditOverwriteKeepsNoStaleDraft(t *testing.T) {
	m, be := newTestModel(t, 10, false)
	m = size(t, m, 80, 24)
	d := be.Mutate("dev-00000", twin.Desired, map[string]any{"a": 1.0})
	m = update(t, m, m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{"dev-00000": d}}))
	m = keys(t, m, "e", "down", "down", "down", "end", "backspace", "backspace")
	m = typeText(t, m, `9"`)                                       // firmware.version 1.5.0 -> 1.5.9
	be.Mutate("dev-00000", twin.Desired, map[string]any{"a": 2.0}) // a colleague, meanwhile
	m = keys(t, m, "ctrl+s")
	if !containsText(m.Render(), "conflict") {
		t.Fatalf("no conflict after 412:\n%s", stripANSI(m.Render()))
	}
	m = keys(t, m, "f")
	if m.screen == screenEdit {
		t.Fatalf("still editing after the overwrite was sent:\n%s", stripANSI(m.Render()))
	}
	d, _ = be.GetTwin(t.Context(), "dev-00000") // the hub's change event
	m = update(t, m, m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{"dev-00000": d}}))
	m = keys(t, m, "e")
	if out := stripANSI(m.Render()); containsText(out, "restored your unsent edit") {
		t.Fatalf("the sent edit came back as a draft:\n%s", out)
	}
	m = keys(t, m, "esc")
	if len(m.c.Drafts) != 0 || len(m.Drafts()) != 0 {
		t.Fatalf("drafts kept after the send: %v", m.c.Drafts)
	}
	cur, _ := be.GetTwin(t.Context(), "dev-00000")
	if a, _ := twin.Lookup(cur.Desired.Values, "a"); a != 2.0 {
		t.Fatalf("the colleague's a is %v, want 2", a)
	}
}

// TestEditNoConflictOnReportedChange: a device reporting while its desired is edited
// changes the twin's etag, and the hub answers 412; that is no conflict with the edit,
// which is sent on the new version by itself (QA, session 6: every edit during a
// rollout ended on the conflict screen). A change to desired still is one.
func TestEditNoConflictOnReportedChange(t *testing.T) {
	m, be := newTestModel(t, 10, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "e", "down", "down", "end", "backspace", "backspace")
	m = typeText(t, m, `9"`) // firmware.version 1.5.0 -> 1.5.9
	be.Mutate("dev-00000", twin.Reported, map[string]any{"firmware": map[string]any{"progress": 40.0}})
	m = keys(t, m, "ctrl+s")
	if m.screen == screenEdit {
		t.Fatalf("a reported change ended the send on:\n%s", stripANSI(m.Render()))
	}
	if n := len(be.Patches); n != 2 || be.Patches[1].Etag == be.Patches[0].Etag || be.Patches[1].Etag == "*" {
		t.Fatalf("patches %+v: want the 412 and one retry with the new etag", be.Patches)
	}
	cur, _ := be.GetTwin(t.Context(), "dev-00000")
	if v, _ := twin.Lookup(cur.Desired.Values, "firmware", "version"); v != "1.5.9" {
		t.Fatalf("firmware.version is %v, want 1.5.9", v)
	}

	m = update(t, m, m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{"dev-00000": cur}})) // the hub's event
	m = keys(t, m, "e", "down", "down", "end", "backspace", "backspace")
	m = typeText(t, m, `8"`) // 1.5.9 -> 1.5.8
	be.Mutate("dev-00000", twin.Desired, map[string]any{"mode": "eco"})
	m = keys(t, m, "ctrl+s")
	if !containsText(m.Render(), "conflict") {
		t.Fatalf("a desired change by someone else is a conflict:\n%s", stripANSI(m.Render()))
	}
}

// TestEditTypingWhileSendingIsIgnored: the text is sent, and may be resent on a new
// version after a 412 caused by a device reporting; a key typed meanwhile was sent with
// the retry (review finding). While sending, edit keys do nothing.
func TestEditTypingWhileSendingIsIgnored(t *testing.T) {
	m, _ := newTestModel(t, 10, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "e", "down", "down", "end", "backspace", "backspace")
	m = typeText(t, m, `9"`)
	next, _ := m.Update(keyMsg("ctrl+s")) // the send's answer not yet in
	m = next.(Model)
	before := m.edit.Draft().Desired
	m = typeText(t, m, "7")
	if got := m.edit.Draft().Desired; got != before {
		t.Fatalf("typed while sending: the text changed from\n%s\nto\n%s", before, got)
	}
}
