package rollout

import (
	"strconv"

	tea "charm.land/bubbletea/v2"
)

// A started rollout stays reachable after its writes are sent: planning the next one
// (r on the fleet) keeps it as last, and R shows it again (with its progress and its
// failed devices under f) until the next rollout is started.

// ran reports whether this model's own rollout was started (not just planned).
func (m Model) ran() bool { return m.phase >= phaseRunning }

// keepLast keeps a started rollout as last before a new plan replaces it on the screen.
func (m *Model) keepLast() {
	if !m.ran() {
		return // a plan that was never started: the earlier last (if any) stays
	}
	prev := *m
	prev.last = nil
	m.last = &prev
}

// ShowLast returns the screen showing the last started rollout, in place of a plan not
// yet started (which is dropped). Without a last rollout it returns m unchanged.
func (m Model) ShowLast() Model {
	if m.ran() || m.last == nil {
		return m
	}
	last := *m.last
	last.SetSize(m.width, m.height) // its progress was kept up to date (updateLast)
	return last
}

// lastFailed is how many devices the last rollout left failed (0 when there is none).
func (m Model) lastFailed() int {
	if m.last == nil {
		return 0
	}
	return len(m.last.prog.failed)
}

// updateLast hands a fleet change, a tick or a late write answer to the last rollout
// while a new one is planned, so that R and the status line show it as it is now.
func (m Model) updateLast(msg tea.Msg) Model {
	if m.ran() || m.last == nil {
		return m
	}
	last := *m.last // copy: earlier values of the model keep theirs
	last, _ = last.Update(msg)
	m.last = &last
	return m
}

// lastLines tell, on the plan, that a last rollout is kept and what starting forgets.
func (m Model) lastLines() []string {
	if m.last == nil {
		return nil
	}
	st := m.c.Styles
	var out []string
	if l := m.last; l.phase == phaseAborted && l.written < l.total {
		out = append(out, st.Warn.S("⚠ the last rollout was aborted at "+strconv.Itoa(l.written)+" of "+
			strconv.Itoa(l.total)+" written: "+strconv.Itoa(l.total-l.written)+" never written"))
	}
	if n := m.lastFailed(); n > 0 {
		devices := " failed devices: esc, then R shows them"
		if n == 1 {
			devices = " failed device: esc, then R shows it"
		}
		return append(out, st.Bad.S("⚠ the last rollout left "+strconv.Itoa(n)+devices),
			st.Bad.S("  (f lists them in the fleet); starting this rollout replaces it"), "")
	}
	return append(out, st.Muted.S("the last rollout ("+m.last.StatusText()+") stays under R until this one starts"), "")
}
