package ui

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

func TestFleetKeys(t *testing.T) {
	tests := map[string]struct {
		keys []string
		want string // selected device
	}{
		"down twice":                    {[]string{"j", "down"}, "dev-00002"},
		"up at top stays":               {[]string{"k", "up"}, "dev-00000"},
		"bottom":                        {[]string{"G"}, "dev-00039"},
		"bottom then top":               {[]string{"G", "g"}, "dev-00000"},
		"page down":                     {[]string{"ctrl+f"}, "dev-00019"},
		"down past the end":             {[]string{"G", "j", "j"}, "dev-00039"},
		"reverse sort keeps the device": {[]string{"j", "s"}, "dev-00001"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, _ := newTestModel(t, 40, false)
			m = size(t, m, 80, 24)
			for _, k := range tc.keys {
				if k == "ctrl+f" {
					m = update(t, m, keyCtrl('f'))
					continue
				}
				m = keys(t, m, k)
			}
			if got := m.fleet.Selected(); got != tc.want {
				t.Fatalf("selected %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLiveUpdateKeepsCursorOnDevice(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, ">", ">") // sort by SYNC (80 columns: DEVICE, CONN, SYNC): order changes with sync states
	if !containsText(m.Render(), "SYNC▲") {
		t.Fatal("not sorted by SYNC")
	}
	m = keys(t, m, "j", "j", "j", "j", "j")
	sel := m.fleet.Selected()
	// Make five in-sync devices fail, which moves them below the cursor's device in sort order,
	// and add a device.
	batch := common.Batch{Twins: map[string]*twin.Doc{}}
	for _, id := range []string{"dev-00001", "dev-00002", "dev-00003", "dev-00006", "dev-00007"} {
		d := m.c.Store.Get(id).Clone()
		if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": "failed"}}, uitest.Clock); err != nil {
			t.Fatal(err)
		}
		batch.Twins[id] = d
	}
	batch.Twins["aaa-new"] = uitest.Fleet(1)[0]
	batch.Twins["aaa-new"].DeviceID = "aaa-new"
	m = update(t, m, batchMsg{batch: batch})
	if got := m.fleet.Selected(); got != sel {
		t.Fatalf("cursor moved from %s to %s after a live update", sel, got)
	}
	if n := m.c.Store.Len(); n != 41 {
		t.Fatalf("store holds %d devices, want 41", n)
	}
	if c := m.c.Store.Counts(); c.Failed != 8 {
		t.Fatalf("failed count %d, want 8", c.Failed)
	}
}

func TestFilterAndQuery(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "/")
	m = typeText(t, m, "ap-south")
	if n := len(m.fleet.ViewIDs()); n != 13 {
		t.Fatalf("filter ap-south shows %d devices, want 13", n)
	}
	m = keys(t, m, "esc")
	if n := len(m.fleet.ViewIDs()); n != 40 {
		t.Fatalf("esc left %d devices, want the filter cleared (40)", n)
	}
	m = keys(t, m, ":")
	m = typeText(t, m, "tags.ring = 'canary' AND")
	m = keys(t, m, "enter")
	if n := len(m.fleet.ViewIDs()); n != 40 {
		t.Fatalf("a bad query changed the view to %d devices", n)
	}
	out := stripANSI(m.Render())
	if !containsText(out, "expected") || !m.fleet.Capturing() || !containsText(out, ": tags.ring = 'canary' AND") {
		t.Fatalf("a bad query closed the prompt or lost its text or error:\n%s", out)
	}
	lines := strings.Split(out, "\n")
	prompt := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, ": tags.ring") })
	if prompt < 0 || prompt+1 >= len(lines) || strings.TrimRight(lines[prompt+1], " ") != strings.Repeat(" ", len(": tags.ring = 'canary' AND"))+"^" {
		t.Fatalf("no caret under the end of the query:\n%s", out)
	}
	m = keys(t, m, "backspace", "backspace", "backspace", "backspace", "enter")
	if n := len(m.fleet.ViewIDs()); n != 15 {
		t.Fatalf("query ring=canary shows %d devices, want 15", n)
	}
	// The query stays the view: a device that starts matching appears.
	d := m.c.Store.Get("dev-00003").Clone()
	if err := d.Patch(twin.Tags, map[string]any{"ring": "canary"}, uitest.Clock); err != nil {
		t.Fatal(err)
	}
	m = update(t, m, batchMsg{batch: common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}})
	if n := len(m.fleet.ViewIDs()); n != 16 {
		t.Fatalf("after a live tag change the query shows %d devices, want 16", n)
	}
}

func TestMarksChooseRolloutDevices(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "space", "j", "space", "r")
	if m.screen != screenRollout {
		t.Fatalf("r opened %s, want rollout", screenNames[m.screen])
	}
	if got, want := m.rollout.IDs(), []string{"dev-00000", "dev-00002"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("rollout devices %v, want the marked %v", got, want)
	}
}

func TestReadOnlyHidesWrites(t *testing.T) {
	m, be := newTestModel(t, 10, true)
	m = size(t, m, 80, 24)
	for _, k := range []string{"e", "E", "r"} {
		m = keys(t, m, k)
		if m.screen != screenFleet {
			t.Fatalf("read-only: %s opened %s", k, screenNames[m.screen])
		}
	}
	m = keys(t, m, "enter", "e")
	if m.screen != screenTwin {
		t.Fatalf("read-only: e on the twin screen opened %s", screenNames[m.screen])
	}
	m = keys(t, m, "?")
	if out := m.Render(); containsText(out, "edit desired") || containsText(out, "rollout") {
		t.Fatal("read-only help lists write actions")
	}
	if len(be.Patches) != 0 {
		t.Fatalf("read-only console wrote %d patches", len(be.Patches))
	}
}

func TestEditSendsSmallestPatchWithEtag(t *testing.T) {
	m, be := newTestModel(t, 10, false)
	m = size(t, m, 80, 24)
	etag := m.c.Store.Get("dev-00000").Etag
	m = keys(t, m, "e", "down", "down", "end", "backspace", "backspace")
	m = typeText(t, m, `9"`)
	m = keys(t, m, "ctrl+s")
	if len(be.Patches) != 1 {
		t.Fatalf("%d patches sent, want 1", len(be.Patches))
	}
	p := be.Patches[0]
	want := map[string]any{"firmware": map[string]any{"version": "1.5.9"}}
	if !reflect.DeepEqual(p.Patch.Desired, want) || p.Patch.Tags != nil || p.Etag != etag {
		t.Fatalf("sent %+v with etag %q, want desired %v with etag %q", p.Patch, p.Etag, want, etag)
	}
	if m.screen != screenTwin && m.screen != screenFleet {
		t.Fatalf("after a successful send the screen is %s", screenNames[m.screen])
	}
	if len(m.c.Drafts) != 0 || len(m.Drafts()) != 0 {
		t.Fatal("a sent edit is still kept as a draft")
	}
	// Reformatting without changing anything is not a draft either.
	m = keys(t, m, "e", "down", "end")
	m = typeText(t, m, "   ")
	m = keys(t, m, "esc")
	if len(m.c.Drafts) != 0 {
		t.Fatal("an edit that changes nothing was kept as a draft")
	}
}

func TestEditInvalidIsNotSent(t *testing.T) {
	m, be := newTestModel(t, 10, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "e", "down", "down", "end", "backspace", "ctrl+s")
	if len(be.Patches) != 0 {
		t.Fatal("invalid JSON was sent")
	}
	if out := m.Render(); !containsText(out, "line 3, column") {
		t.Fatalf("no line and column in the error:\n%s", out)
	}
}

func TestEditConflictRebaseNeverLosesTheEdit(t *testing.T) {
	m, be := newTestModel(t, 10, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "e", "down", "down", "end", "backspace", "backspace")
	m = typeText(t, m, `9"`) // firmware.version 1.5.0 -> 1.5.9
	// Someone else changes desired meanwhile.
	be.Mutate("dev-00000", twin.Desired, map[string]any{"mode": "eco"})
	m = keys(t, m, "ctrl+s")
	if !containsText(m.Render(), "conflict") {
		t.Fatalf("no conflict shown after 412:\n%s", m.Render())
	}
	// Leave and come back: the edit is kept.
	m = keys(t, m, "esc", "esc")
	if _, ok := m.c.Drafts["dev-00000"]; !ok || m.screen == screenEdit {
		t.Fatalf("leaving the editor did not keep the draft (screen %s)", screenNames[m.screen])
	}
	m = keys(t, m, "e")
	if !containsText(m.Render(), "restored your unsent edit") {
		t.Fatal("reopening the editor did not restore the draft")
	}
	m = keys(t, m, "ctrl+s", "r") // 412 again, then rebase
	m = keys(t, m, "ctrl+s")
	last := be.Patches[len(be.Patches)-1]
	cur, _ := be.GetTwin(t.Context(), "dev-00000")
	if v, _ := twin.Lookup(cur.Desired.Values, "firmware", "version"); v != "1.5.9" {
		t.Fatalf("after rebase and send firmware.version is %v, want 1.5.9 (last patch %+v)", v, last)
	}
	if v, _ := twin.Lookup(cur.Desired.Values, "mode"); v != "eco" {
		t.Fatalf("the rebase lost their change: mode is %v", v)
	}
}

func containsText(s, sub string) bool {
	return len(s) >= len(sub) && (stripANSI(s) != "" && indexOf(stripANSI(s), sub) >= 0)
}

func TestEventsPauseAndFilter(t *testing.T) {
	m, _ := newTestModel(t, 10, false)
	m = size(t, m, 80, 24)
	m = update(t, m, batchMsg{batch: liveBatch(m)})
	m = keys(t, m, "v", "p")
	// While paused, new events do not show.
	later := common.Batch{Events: []common.Event{{Time: uitest.Clock, DeviceID: "dev-00007", Kind: "connected"}}}
	m = update(t, m, batchMsg{batch: later})
	if out := stripANSI(m.Render()); !containsText(out, "PAUSED") || containsText(out, "dev-00007") {
		t.Fatalf("paused stream shows a new event or no pause mark:\n%s", out)
	}
	m = keys(t, m, "j", "enter") // the second newest event, dev-00004's report
	if m.screen != screenTwin || m.twin.ID() != "dev-00004" {
		t.Fatalf("enter on a paused event opened %s %q", screenNames[m.screen], m.twin.ID())
	}
	m = keys(t, m, "q", "k", "p")
	if out := stripANSI(m.Render()); !containsText(out, "dev-00007") {
		t.Fatalf("resumed stream misses the event that came while paused:\n%s", out)
	}
	m = keys(t, m, "/")
	m = typeText(t, m, "disconn")
	m = keys(t, m, "enter")
	out := stripANSI(m.Render())
	if !containsText(out, "dev-00001") || containsText(out, "dev-00004 ") || containsText(out, "dev-00007") {
		t.Fatalf("filter disconn shows the wrong events:\n%s", out)
	}
}

func TestRolloutFailuresInFleet(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, "r")
	m = typeText(t, m, "1.5.0")
	m = keys(t, m, "enter", "y", "enter")
	if m.rollout.Started() {
		t.Fatal("a single y started a rollout on all devices")
	}
	m = typeText(t, m, "yes")
	m = keys(t, m, "enter")
	// dev-00005, -00022 and -00039 report a failure from before the rollout: not counted.
	// dev-00004 already wanted 1.5.0 (so it is not queued) and now reports a failure.
	d := m.c.Store.Get("dev-00004").Clone()
	if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": "failed"}}, uitest.Clock.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	m = update(t, m, batchMsg{batch: common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}})
	m = keys(t, m, "f")
	if m.screen != screenFleet {
		t.Fatalf("f opened %s, want the fleet", screenNames[m.screen])
	}
	if got := m.fleet.ViewIDs(); !reflect.DeepEqual(got, []string{"dev-00004"}) {
		t.Fatalf("fleet shows %v, want the failed dev-00004", got)
	}
	m = keys(t, m, "c")
	if n := len(m.fleet.ViewIDs()); n != 40 {
		t.Fatalf("c left %d devices", n)
	}
}

func TestDraftFromEarlierRunGetsConflictNotOverwrite(t *testing.T) {
	be := uitest.NewBackend(uitest.Now, uitest.Fleet(5)...)
	old, _ := be.GetTwin(t.Context(), "dev-00000")
	be.Mutate("dev-00000", twin.Desired, map[string]any{"mode": "eco"}) // changed after the draft was saved
	dark := true
	drafts := map[string]common.Draft{"dev-00000": {Desired: `{"firmware": {"version": "9.0.0"}, "telemetry": {"interval": 30}}`, Tags: "{}", Base: old}}
	m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, Drafts: drafts})
	m = update(t, m, batchMsg{batch: be.InitialBatch()})
	m = size(t, m, 80, 24)
	if !containsText(m.Render(), "1 unsent edit") {
		t.Fatal("the status line does not mention the unsent edit")
	}
	m = keys(t, m, "e", "ctrl+s")
	if !containsText(m.Render(), "conflict") {
		t.Fatalf("a draft based on an old version was not stopped by its etag:\n%s", stripANSI(m.Render()))
	}
	cur, _ := be.GetTwin(t.Context(), "dev-00000")
	if v, _ := twin.Lookup(cur.Desired.Values, "mode"); v != "eco" {
		t.Fatal("the old draft overwrote a newer change")
	}
}

// TestLiveUpdateKeepsTheTopInView: sorted so that offline devices come first, with the
// cursor on the first row, devices that go offline must appear at the top, not above the
// screen (QA, session 6: the cursor followed its device down, and the newly offline
// devices were pushed out of view).
func TestLiveUpdateKeepsTheTopInView(t *testing.T) {
	m, _ := newTestModel(t, 40, false)
	m = size(t, m, 80, 24)
	m = keys(t, m, ">") // sort by CONN: offline first
	if !containsText(m.Render(), "CONN▲") {
		t.Fatalf("not sorted by CONN:\n%s", stripANSI(m.Render()))
	}
	m = keys(t, m, "j", "g") // the operator has moved, and is back at the top
	batch := common.Batch{Twins: map[string]*twin.Doc{}}
	for _, id := range []string{"dev-00000", "dev-00001"} { // sorting before the offline device on top
		d := m.c.Store.Get(id).Clone()
		d.ConnectionState = "Disconnected"
		batch.Twins[id] = d
	}
	m = update(t, m, batchMsg{batch: batch})
	out := stripANSI(m.Render())
	for _, id := range []string{"dev-00000", "dev-00001"} { // sorting before the offline device on top
		if !strings.Contains(out, id) {
			t.Fatalf("%s went offline and is not on screen:\n%s", id, out)
		}
	}
	if sel := m.fleet.Selected(); m.c.Store.Get(sel).ConnectionState == "Connected" {
		t.Fatalf("the cursor is on %s, connected; want it on the first row (offline)", sel)
	}
}
