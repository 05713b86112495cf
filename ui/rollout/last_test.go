package rollout

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/twin"
	"github.com/twinops/twinops/ui/common"
	"github.com/twinops/twinops/ui/uitest"
)

// finished runs a rollout of firmware.version 9.9.9 on n devices until every write is
// sent, then has every other written device report failed.
func finished(t *testing.T, n int) (Model, *uitest.Backend) {
	t.Helper()
	m, be := setup(t, n)
	m = typeIn(m, "9.9.9")
	m = press(m, "tab", "backspace", "backspace")
	m = typeIn(m, "1000")
	m = press(m, "enter")
	m = press(typeIn(m, "yes"), "enter")
	for i := 0; m.Active(); i++ {
		if i > 100 {
			t.Fatalf("rollout never finished: phase %d, %d/%d written", m.phase, m.written, m.total)
		}
		var cmd tea.Cmd
		m, cmd = m.Update(tickMsg{runID: m.runID, gen: m.tickGen})
		for _, d := range writes(cmd) {
			m, _ = m.Update(d)
		}
	}
	return answer(t, m, be, func(i int) map[string]any {
		if i%2 == 1 {
			return map[string]any{"status": "failed", "lastError": "checksum mismatch"}
		}
		return map[string]any{"status": "succeeded", "version": "9.9.9"}
	}), be
}

// answer has every written device report the firmware section fw(i) (i: the write's
// position) a minute later, and hands the change to the screen.
func answer(t *testing.T, m Model, be *uitest.Backend, fw func(i int) map[string]any) Model {
	t.Helper()
	b := common.Batch{Twins: map[string]*twin.Doc{}}
	for i, p := range be.Patches {
		d, _ := be.GetTwin(context.Background(), p.ID)
		if err := d.Patch(twin.Reported, map[string]any{"firmware": fw(i)}, uitest.Clock.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		b.Twins[p.ID] = d
	}
	m, _ = m.Update(m.c.Store.Apply(b))
	return m
}

// TestFinishedRolloutStaysReachable: planning the next rollout (r) does not lose the
// finished one: the plan says how many devices it left failed, R (ShowLast) brings back
// its progress and f its failed devices, until the next rollout is started.
func TestFinishedRolloutStaysReachable(t *testing.T) {
	m, _ := finished(t, 10)
	if m.phase != phaseDone || len(m.prog.failed) != 5 {
		t.Fatalf("setup: phase %d, %d failed, want done with 5 failed", m.phase, len(m.prog.failed))
	}
	status := m.StatusText()
	m, _ = m.Plan([]string{"dev-00001"}, "1 marked")
	if !m.Started() || m.StatusText() != status {
		t.Fatalf("planning the next: started %v, status %q, want the last rollout's %q", m.Started(), m.StatusText(), status)
	}
	if v := ansi.Strip(m.View()); !strings.Contains(v, "left 5 failed devices") {
		t.Fatalf("the plan does not say the last rollout left 5 failed devices:\n%s", v)
	}
	m = press(m, "esc")
	m = m.ShowLast()
	if m.phase != phaseDone || len(m.ids) != 10 {
		t.Fatalf("R shows phase %d on %d devices, want the finished rollout on 10", m.phase, len(m.ids))
	}
	var cmd tea.Cmd
	m, cmd = m.Update(tea.KeyPressMsg{Code: 'f', Text: "f"})
	if show, ok := cmd().(common.ShowDevicesMsg); !ok || len(show.IDs) != 5 {
		t.Fatalf("f on the last rollout gave %#v, want its 5 failed devices", cmd())
	}
	// Plan again and start: the last one is replaced.
	m, _ = m.Plan([]string{"dev-00001"}, "1 marked")
	m = typeIn(m, "10.0.0")
	m = press(m, "enter")
	m = press(typeIn(m, "yes"), "enter")
	if !m.ran() || m.last != nil || len(m.ids) != 1 {
		t.Fatalf("after starting the next: ran %v, last kept %v, %d devices", m.ran(), m.last != nil, len(m.ids))
	}
	if got := m.ShowLast(); got.runID != m.runID {
		t.Fatal("ShowLast left the running rollout")
	}
}

// TestRolloutHintFits80: the progress screen's key hint is whole at 80 columns, while
// writing and once all writes are sent.
func TestRolloutHintFits80(t *testing.T) {
	m, _ := setup(t, 4)
	m = typeIn(m, "9.9.9")
	m = press(m, "enter")
	m = press(typeIn(m, "yes"), "enter")
	tests := map[string]struct {
		m    Model
		want string
	}{
		"writing":  {m, "esc back (keeps going)"},
		"finished": {func() Model { f, _ := finished(t, 4); return f }(), "R brings this back until the next rollout"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if v := ansi.Strip(tc.m.View()); !strings.Contains(v, tc.want) {
				t.Fatalf("hint %q cut or missing at 80 columns:\n%s", tc.want, v)
			}
		})
	}
}

// TestAbortedRolloutSaysWhatWasNeverWritten: the next plan after an abort warned only
// of failed devices, not of those the abort left unwritten (QA, session 6).
func TestAbortedRolloutSaysWhatWasNeverWritten(t *testing.T) {
	m, _ := setup(t, 40)
	m = planWave(t, m, "2.0.0", "10", "off", "off") // one write a tick
	m, _ = tickAndAnswer(m)
	m = press(m, "A")
	if m.phase != phaseAborted {
		t.Fatalf("setup: phase %d", m.phase)
	}
	m, _ = m.Plan(m.ids, "all devices")
	want := "the last rollout was aborted at " + strconv.Itoa(m.last.written) + " of 40 written: " +
		strconv.Itoa(40-m.last.written) + " never written"
	if v := ansi.Strip(m.View()); !strings.Contains(v, want) {
		t.Fatalf("the plan does not say %q:\n%s", want, v)
	}
}
