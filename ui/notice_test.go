package ui

import (
	"context"
	"strings"
	"testing"
	"time"

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
