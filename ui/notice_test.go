package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

// TestStartupNoticeStaysUntilAKey: a notice given at start (a corrupt drafts file moved
// aside) is in the status line however long the operator takes to look, and goes a few
// seconds after their first key.
func TestStartupNoticeStaysUntilAKey(t *testing.T) {
	now := uitest.Now()
	clock := func() time.Time { return now }
	be := uitest.NewBackend(uitest.Now, uitest.Fleet(3)...)
	dark := true
	const notice = "saved edits unreadable: moved to /x/drafts.json.corrupt-20261127T020000Z"
	m := New(Options{Backend: be, Now: clock, Dark: &dark, Context: context.Background(), Notice: notice})
	m = update(t, m, batchMsg{batch: be.InitialBatch()})
	for _, s := range sizes {
		m = size(t, m, s.w, s.h)
		now = now.Add(time.Hour)
		if v := stripANSI(m.Render()); !strings.Contains(v, "moved to /x/drafts.json.corrupt-") {
			t.Fatalf("%dx%d: an hour later the notice is gone:\n%s", s.w, s.h, v)
		}
	}
	m = keys(t, m, "j")
	if v := stripANSI(m.Render()); !strings.Contains(v, "moved to /x/drafts.json.corrupt-") {
		t.Fatalf("the notice went at once on the first key:\n%s", v)
	}
	now = now.Add(flashFor + time.Second)
	if v := stripANSI(m.Render()); strings.Contains(v, "corrupt") {
		t.Fatalf("the notice stayed after the first key and %v:\n%s", flashFor, v)
	}
}

// TestReadOnlyDraftsSaySo: a draft kept from an earlier run cannot be sent in read-only
// mode, so the status line does not call it an unsent edit.
func TestReadOnlyDraftsSaySo(t *testing.T) {
	tests := map[string]struct {
		readOnly  bool
		want, not string
	}{
		"read-only": {true, "✎ 1 draft (read-only)", "unsent edit"},
		"writable":  {false, "✎ 1 unsent edit", "read-only)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			be := uitest.NewBackend(uitest.Now, uitest.Fleet(3)...)
			dark := true
			m := New(Options{Backend: be, Now: uitest.Now, Dark: &dark, ReadOnly: tc.readOnly, Context: context.Background(),
				Drafts: map[string]common.Draft{"dev-00001": {Desired: `{"x": 1}`, Tags: `{}`}}})
			m = update(t, m, batchMsg{batch: be.InitialBatch()})
			m = size(t, m, 160, 48)
			v := stripANSI(m.Render())
			if !strings.Contains(v, tc.want) || strings.Contains(v, tc.not) {
				t.Fatalf("status line %q, want %q and not %q", v[strings.LastIndex(v, "\n")+1:], tc.want, tc.not)
			}
		})
	}
}
