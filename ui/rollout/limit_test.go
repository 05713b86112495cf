package rollout

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

func TestParseLimit(t *testing.T) {
	tests := map[string]struct {
		in   string
		want limit
		ok   bool
	}{
		"share":          {"5%", limit{pct: 5}, true},
		"share, spaced":  {" 2.5 % ", limit{pct: 2.5}, true},
		"count":          {"10", limit{count: 10}, true},
		"off":            {"off", limit{}, true},
		"empty is off":   {"", limit{}, true},
		"zero is off":    {"0", limit{}, true},
		"over 100%":      {"150%", limit{}, false},
		"negative count": {"-1", limit{}, false},
		"a word":         {"some", limit{}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseLimit(tc.in)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("parseLimit(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestLimitReached(t *testing.T) {
	tests := map[string]struct {
		l                               limit
		failed, resumed, written, total int
		pause                           bool
	}{
		"share reached":                    {limit{pct: 5}, 1, 0, 20, 200, true},
		"share not reached":                {limit{pct: 5}, 1, 0, 21, 200, false},
		"share waits for 10 written":       {limit{pct: 5}, 1, 0, 9, 200, false},
		"small rollout, all written":       {limit{pct: 5}, 1, 0, 4, 4, true},
		"count reached":                    {limit{count: 3}, 3, 0, 100, 200, true},
		"count not reached":                {limit{count: 3}, 2, 0, 100, 200, false},
		"no new failure since the resume":  {limit{count: 3}, 3, 3, 120, 200, false},
		"a new failure after the resume":   {limit{count: 3}, 4, 3, 120, 200, true},
		"off":                              {limit{}, 50, 0, 100, 200, false},
		"no failure, nothing to pause for": {limit{pct: 5}, 0, 0, 100, 200, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			why := tc.l.reached(tc.failed, tc.resumed, tc.written, tc.total)
			if (why != "") != tc.pause {
				t.Fatalf("reached = %q, want pause %v", why, tc.pause)
			}
		})
	}
}

// TestRolloutPausesAtTheFailureLimit: with a limit of 1 failed device, the writes pause
// by themselves when a written device reports a failure, say why, resume on p, and do
// not pause again for the same failure.
func TestRolloutPausesAtTheFailureLimit(t *testing.T) {
	m, be := setup(t, 40)
	m = typeIn(m, "2.0.0")
	m = press(m, "tab", "tab") // rate 10, then the failure limit (5%, selected)
	m = typeIn(m, "1")
	m = press(m, "enter")
	if m.phase != phaseConfirm || m.limit != (limit{count: 1}) {
		t.Fatalf("phase %d limit %+v err %q", m.phase, m.limit, m.err)
	}
	if out := ansi.Strip(m.View()); !strings.Contains(out, "auto-pause at 1 failed") {
		t.Fatalf("the review does not state the limit:\n%s", out)
	}
	m = press(typeIn(m, "yes"), "enter")
	m, cmd := m.Update(tickMsg{runID: m.runID}) // 10/s: one write per tick
	for _, d := range writes(cmd) {
		m, _ = m.Update(d)
	}
	if len(be.Patches) != 1 || m.phase != phaseRunning {
		t.Fatalf("%d writes, phase %d", len(be.Patches), m.phase)
	}
	fail := func(id string) {
		d, _ := be.GetTwin(context.Background(), id)
		if err := d.Patch(twin.Reported, map[string]any{"firmware": map[string]any{"status": "failed"}}, uitest.Clock.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}))
	}
	fail(be.Patches[0].ID)
	if m.phase != phasePaused {
		t.Fatalf("phase %d after a failure at a limit of 1, want paused", m.phase)
	}
	if out := ansi.Strip(m.View()); !strings.Contains(out, "paused by the failure limit when 1 of 1 written devices had failed") {
		t.Fatalf("the pause is not explained:\n%s", out)
	}
	m, cmd = m.Update(tickMsg{runID: m.runID})
	if n := len(writes(cmd)); n != 0 {
		t.Fatalf("the paused rollout wrote %d devices", n)
	}
	m = press(m, "p") // resume: the same failure does not pause it again
	m, cmd = m.Update(tickMsg{runID: m.runID})
	for _, d := range writes(cmd) {
		m, _ = m.Update(d)
	}
	if m.phase != phaseRunning || len(be.Patches) != 2 || strings.Contains(ansi.Strip(m.View()), "paused by the failure limit") {
		t.Fatalf("after p: phase %d, %d writes", m.phase, len(be.Patches))
	}
	fail(be.Patches[1].ID) // a new failure pauses again
	if m.phase != phasePaused {
		t.Fatalf("phase %d after a second failure, want paused", m.phase)
	}
}
