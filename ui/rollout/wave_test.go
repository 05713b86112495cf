package rollout

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

func TestParseWave(t *testing.T) {
	tests := map[string]struct {
		in   string
		want int
		ok   bool
	}{
		"count":             {"10", 10, true},
		"off":               {"off", 0, true},
		"empty":             {"", 0, true},
		"share, rounded up": {"1%", 3, true},   // of 250
		"tiny share":        {"0.1%", 1, true}, // at least one device
		"negative":          {"-1", 0, false},
		"word":              {"some", 0, false},
		"share over 100":    {"150%", 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := parseWave(tc.in, 250)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("parseWave(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// planWave plans value on the test fleet at rate with the failure limit and first wave
// typed over the defaults, confirms it and returns the running rollout.
func planWave(t *testing.T, m Model, value, rate, lim, wave string) Model {
	t.Helper()
	m = typeIn(m, value)
	for _, f := range []string{rate, lim, wave} {
		m = typeIn(press(m, "tab"), f)
	}
	m = press(m, "enter")
	m = press(typeIn(m, "yes"), "enter")
	if m.phase != phaseRunning {
		t.Fatalf("phase %d err %q", m.phase, m.err)
	}
	return m
}

// tickAndAnswer runs write ticks, handing the hub's answers back, until a tick writes
// nothing more (at most 10); it returns how many devices were written.
func tickAndAnswer(m Model) (Model, int) {
	n := 0
	for range 10 {
		var cmd tea.Cmd
		m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
		ws := writes(cmd)
		for _, w := range ws {
			m, _ = m.Update(w)
		}
		if len(ws) == 0 {
			break
		}
		n += len(ws)
	}
	return m, n
}

// report has device id report firmware fw after its write and hands it to the screen.
func report(t *testing.T, m Model, be *uitest.Backend, id string, fw map[string]any) Model {
	t.Helper()
	d, _ := be.GetTwin(context.Background(), id)
	if err := d.Patch(twin.Reported, map[string]any{"firmware": fw}, uitest.Clock.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{id: d}}))
	return m
}

// TestRolloutFirstWaveHoldsTheRest: at a rate that would write the whole fleet in one
// tick, the first wave is written and the rest waits until each of the wave has an
// outcome; then the rest is written.
func TestRolloutFirstWaveHoldsTheRest(t *testing.T) {
	m, be := setup(t, 40)
	m = planWave(t, m, "2.0.0", "1000", "off", "10")
	m, n := tickAndAnswer(m)
	if n != 10 {
		t.Fatalf("first tick wrote %d, want the wave of 10", n)
	}
	if m, n = tickAndAnswer(m); n != 0 {
		t.Fatalf("wrote %d more while the wave had no outcome", n)
	}
	view := ansi.Strip(m.View())
	if !strings.Contains(view, "first wave: 0 of 10 finished; the other 30 wait until all 10 have") {
		t.Fatalf("the screen does not say the wave holds the rest:\n%s", view)
	}
	for i, p := range be.Patches {
		fw := map[string]any{"status": "succeeded", "version": "2.0.0"}
		if i == 9 {
			fw = map[string]any{"status": "installing"}
		}
		m = report(t, m, be, p.ID, fw)
	}
	if m, n = tickAndAnswer(m); n != 0 || !m.gated() {
		t.Fatalf("wrote %d with one of the wave still installing", n)
	}
	m = report(t, m, be, be.Patches[9].ID, map[string]any{"status": "succeeded", "version": "2.0.0"})
	if m, n = tickAndAnswer(m); n != 30 {
		t.Fatalf("wrote %d once the wave succeeded, want the other 30", n)
	}
}

// TestRolloutFirstWaveFailureAutoPauses: a failure in the first wave pauses the rollout
// by the failure limit applied to the wave alone (5 devices, under the 10 a share
// otherwise needs); resuming excuses it and writes the rest.
func TestRolloutFirstWaveFailureAutoPauses(t *testing.T) {
	m, be := setup(t, 40)
	m = planWave(t, m, "2.0.0", "1000", "5%", "5")
	m, n := tickAndAnswer(m)
	if n != 5 {
		t.Fatalf("first tick wrote %d, want the wave of 5", n)
	}
	for i, p := range be.Patches {
		fw := map[string]any{"status": "succeeded", "version": "2.0.0"}
		if i == 2 {
			fw = map[string]any{"status": "failed", "lastError": "checksum mismatch"}
		}
		m = report(t, m, be, p.ID, fw)
	}
	if m.Halted() != "AUTO-PAUSED" || !strings.Contains(m.autoPaused, "first wave: 1 of 5 written had failed (20%, limit 5%)") {
		t.Fatalf("halted %q, why %q: want an auto-pause on the wave's failure", m.Halted(), m.autoPaused)
	}
	if m, n = tickAndAnswer(m); n != 0 {
		t.Fatalf("wrote %d while auto-paused", n)
	}
	m = press(m, "p")
	if m, n = tickAndAnswer(m); n != 35 || m.Halted() != "" {
		t.Fatalf("after resume wrote %d (halted %q), want the other 35", n, m.Halted())
	}
}

// TestRolloutFirstWaveSkip: n writes the rest without waiting, and a wave device that has
// not been online since its write does not hold the rest (it updates when it connects).
func TestRolloutFirstWaveSkip(t *testing.T) {
	t.Run("n", func(t *testing.T) {
		m, _ := setup(t, 40)
		m = planWave(t, m, "2.0.0", "1000", "off", "10")
		m, _ = tickAndAnswer(m)
		m = press(m, "n")
		if _, n := tickAndAnswer(m); n != 30 {
			t.Fatalf("wrote %d after n, want the other 30", n)
		}
	})
	t.Run("offline all along", func(t *testing.T) {
		m, be := setup(t, 40)
		m.c.Store.Apply(common.Batch{Status: common.Status{State: common.StateSynced}})
		d, _ := be.GetTwin(context.Background(), "dev-00000")
		d.ConnectionState = "Disconnected"
		m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}))
		m = planWave(t, m, "2.0.0", "1000", "off", "3")
		m, _ = tickAndAnswer(m)
		d, _ = be.GetTwin(context.Background(), "dev-00000") // the hub's change event: desired written, still offline
		d.ConnectionState = "Disconnected"
		m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{d.DeviceID: d}}))
		for _, p := range be.Patches[1:] {
			m = report(t, m, be, p.ID, map[string]any{"status": "succeeded", "version": "2.0.0"})
		}
		if _, n := tickAndAnswer(m); n != 37 {
			t.Fatalf("wrote %d, want the other 37: an offline device has nothing to tell", n)
		}
	})
}

// TestRolloutFirstWaveStallShows: a wave device that is deleted has nothing to tell (it
// held the rest forever: review finding); one that is connected and reports nothing
// holds the rest, and after waveStall the screen and the status line say so.
func TestRolloutFirstWaveStallShows(t *testing.T) {
	m, be := setup(t, 40)
	clock := uitest.Now()
	m.c.Now = func() time.Time { return clock }
	m.c.Store.Apply(common.Batch{Status: common.Status{State: common.StateSynced}})
	m = planWave(t, m, "2.0.0", "1000", "off", "3")
	m, _ = tickAndAnswer(m)
	ids := []string{be.Patches[0].ID, be.Patches[1].ID, be.Patches[2].ID}
	m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{ids[0]: nil}})) // deleted
	m = report(t, m, be, ids[1], map[string]any{"status": "succeeded", "version": "2.0.0"})
	d, _ := be.GetTwin(context.Background(), ids[2]) // written, connected, silent
	m, _ = m.Update(m.c.Store.Apply(common.Batch{Twins: map[string]*twin.Doc{ids[2]: d}}))
	if done, _ := m.waveOutcomes(); done != 2 {
		t.Fatalf("%d of the wave done, want 2 (the deleted one and the succeeded one)", done)
	}
	if m.Halted() != "" {
		t.Fatalf("halted %q right away", m.Halted())
	}
	clock = clock.Add(waveStall + time.Minute)
	m, _ = m.Update(common.TickMsg{Time: clock})
	if m.Halted() != "FIRST WAVE STALLED" || !strings.Contains(ansi.Strip(m.View()), "⚠ stalled: no outcome from some of the wave") {
		t.Fatalf("halted %q after %v:\n%s", m.Halted(), waveStall, ansi.Strip(m.View()))
	}
	m = press(m, "n")
	if m, n := tickAndAnswer(m); n != 37 || m.Halted() != "" {
		t.Fatalf("after n wrote %d (halted %q), want the other 37", n, m.Halted())
	}
}

// TestRolloutReviewAfterQA2: what a second QA pass found in the review and the wave's
// lines (session 6): a mistyped path writes a new property (now a warning); on a short
// terminal the first wave and the failure limit stay in the review; the wave's line does
// not tell a finished wave to wait, and a pause does not offer n.
func TestRolloutReviewAfterQA2(t *testing.T) {
	m, _ := setup(t, 40)
	m.fields[0].SetValue("5%") // a missed tab
	m = press(typeIn(m, "3.0.0"), "enter")
	if v := ansi.Strip(m.View()); !strings.Contains(v, "no chosen device has 5% in desired or reported: a new property") {
		t.Fatalf("no warning for a path no device has:\n%s", v)
	}

	m, _ = setup(t, 40)
	m.SetSize(70, 12)
	m = press(typeIn(m, "3.0.0"), "enter")
	v := ansi.Strip(m.View())
	for _, want := range []string{"first 10 devices, then the rest", "auto-pause at 5%", "type 40 or yes"} {
		if !strings.Contains(v, want) {
			t.Fatalf("at 70x12 the review lacks %q:\n%s", want, v)
		}
	}

	m, be := setup(t, 40)
	m = planWave(t, m, "2.0.0", "1000", "5%", "2")
	m, _ = tickAndAnswer(m)
	m = report(t, m, be, be.Patches[0].ID, map[string]any{"status": "failed"})
	m = report(t, m, be, be.Patches[1].ID, map[string]any{"status": "succeeded", "version": "2.0.0"})
	v = ansi.Strip(m.View())
	if m.Halted() != "AUTO-PAUSED" || strings.Contains(v, "wait until all") || strings.Contains(v, "n writes the rest") {
		t.Fatalf("halted %q; a finished, paused wave still says to wait or offers n:\n%s", m.Halted(), v)
	}
}
