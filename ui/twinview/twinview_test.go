package twinview

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/theme"
	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

func newCommon(docs []*twin.Doc) *common.Common {
	st := common.NewStore()
	b := common.Batch{Twins: map[string]*twin.Doc{}}
	for _, d := range docs {
		b.Twins[d.DeviceID] = d
	}
	st.Apply(b)
	return &common.Common{Width: 80, Height: 24, Styles: theme.New(true, false), Keys: common.DefaultKeys(),
		Now: uitest.Now, Store: st, Ctx: context.Background(), Backend: uitest.NewBackend(uitest.Now, docs...)}
}

func TestTwinReadResults(t *testing.T) {
	docs := uitest.Fleet(3)
	newer := docs[1].Clone()
	if err := newer.Patch(twin.Reported, map[string]any{"battery": 1.0}, uitest.Clock); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		msg       twinReadMsg
		wantBatt  any
		wantError bool
	}{
		"current request is applied":        {twinReadMsg{reqID: 1, id: "dev-00001", doc: newer}, 1.0, false},
		"older request is dropped":          {twinReadMsg{reqID: 0, id: "dev-00001", doc: newer}, 99.0, false},
		"answer for another device dropped": {twinReadMsg{reqID: 1, id: "dev-00002", doc: newer}, 99.0, false},
		"error is shown, twin kept":         {twinReadMsg{reqID: 1, id: "dev-00001", err: context.DeadlineExceeded}, 99.0, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := New(newCommon(docs), "dev-00001")
			m.SetSize(80, 23)
			m.reqID = 1
			m, _ = m.Update(tc.msg)
			if v, _ := twin.Lookup(m.doc.Reported.Values, "battery"); v != tc.wantBatt {
				t.Fatalf("battery %v, want %v", v, tc.wantBatt)
			}
			if (m.err != "") != tc.wantError {
				t.Fatalf("error %q, want error: %v", m.err, tc.wantError)
			}
		})
	}
}

func TestHistoryEntryWithoutChangeSaysSo(t *testing.T) {
	st := theme.New(true, false)
	tests := map[string]struct {
		entry common.HistoryEntry
		want  string
	}{
		"reported patch that set the same values": {common.HistoryEntry{Event: common.Event{Kind: "reported", Version: 7}}, "(no value changed)"},
		"a changed leaf is listed": {common.HistoryEntry{Event: common.Event{Kind: "reported", Version: 8},
			Lines: []common.DiffLine{{Path: "reported.battery", Old: 50.0, HadOld: true, New: 49.0}}}, "battery 50 → 49"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out := ansi.Strip(strings.Join(renderHistory(st, []common.HistoryEntry{tc.entry}, 80, 10), "\n"))
			if !strings.Contains(out, tc.want) {
				t.Fatalf("history does not show %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestTwinViewSaysAFailedUpdateFailed: the fleet list says "✗ fw failed", and the twin
// view used to call the same device's firmware.version "pending" (QA, session 6): it
// now says the update failed, with the device's reason in full, and marks the row.
func TestTwinViewSaysAFailedUpdateFailed(t *testing.T) {
	d := uitest.Fleet(1)[0]
	if err := d.Patch(twin.Desired, map[string]any{"firmware": map[string]any{"version": "2.2.0"}}, uitest.Clock); err != nil {
		t.Fatal(err)
	}
	reason := "download of 2.2.0 failed: checksum mismatch after three attempts from the mirror"
	if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": "failed", "lastError": reason}}, uitest.Clock); err != nil {
		t.Fatal(err)
	}
	m := New(newCommon([]*twin.Doc{d}), d.DeviceID)
	m.SetSize(120, 30)
	out := ansi.Strip(m.View())
	if !strings.Contains(out, "… 0 pending  ✗ 1 failed") {
		t.Fatalf("the counts call the failed firmware pending:\n%s", out)
	}
	if !strings.Contains(out, "✗ firmware update failed: "+reason) {
		t.Fatalf("no failure line with the reason:\n%s", out)
	}
	row := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "firmware.version") {
			row = l
		}
	}
	if !strings.Contains(row, "✗ failed") {
		t.Fatalf("firmware.version row %q does not say failed:\n%s", row, out)
	}
}

// TestTwinViewOldestPendingLeavesOutTheFailed: with the failed firmware counted as
// failed, "(oldest …)" is the age of the oldest leaf still counted as pending.
func TestTwinViewOldestPendingLeavesOutTheFailed(t *testing.T) {
	d := uitest.Fleet(1)[0]
	if err := d.Patch(twin.Desired, map[string]any{"firmware": map[string]any{"version": "2.2.0"}}, uitest.Clock.Add(-8*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": "failed"}}, uitest.Clock.Add(-7*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := d.Patch(twin.Desired, map[string]any{"telemetry": map[string]any{"interval": 99.0}}, uitest.Clock.Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	m := New(newCommon([]*twin.Doc{d}), d.DeviceID)
	m.SetSize(120, 30)
	out := ansi.Strip(m.View())
	if !strings.Contains(out, "… 1 pending (oldest 5m)  ✗ 1 failed") {
		t.Fatalf("want one pending, 5 minutes old, and the failed firmware apart:\n%s", out)
	}
}
