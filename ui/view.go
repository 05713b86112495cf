package ui

import (
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/twinops/twinops/ui/common"
)

// flashFor is how long a flash message stays in the status line.
const flashFor = 6 * time.Second

// View renders the active screen and the status line.
func (m Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.WindowTitle = "twinops · " + screenNames[m.screen]
	return v
}

// Render returns the frame as a string (what View shows; used by golden tests).
func (m Model) Render() string {
	var body string
	switch {
	case m.help:
		body = m.helpView()
	case m.screen == screenTwin:
		body = m.twin.View()
	case m.screen == screenEdit:
		body = m.edit.View()
	case m.screen == screenEvents:
		body = m.events.View()
	case m.screen == screenRollout:
		body = m.rollout.View()
	default:
		body = m.fleet.View()
	}
	return body + "\n" + m.statusLine()
}

// statusLine shows the hub, the connection, counts, a running rollout and the last
// error (or a flash message), with "? help" at the right. A rollout whose writes are held
// (auto-paused, paused, aborted) says so right after the screen's name, and that part
// never gives way. When the line is wider than the screen, the hub's name gives way, then
// (to a message) the unsent edits, the rollout's counts and the device counts, so a quit
// confirmation or an error is never cut off.
func (m Model) statusLine() string {
	st := m.c.Styles
	w := m.c.Width
	p := m.statusParts()
	helpKey := " ? "
	if m.capturing() { // ? is text here: f1 is the key that works
		helpKey = " f1 "
	}
	right := st.BarKey.S(helpKey) + st.Bar.S("help ")
	rw := common.Width(right)
	join := func() string { return strings.Join(p[:], "") }
	for _, i := range []int{barHub, barDrafts, barRollout, barCounts} {
		if common.Width(join())+rw <= w || i != barHub && p[barMsg] == "" {
			break
		}
		p[i] = ""
	}
	left := join()
	lw := common.Width(left)
	if lw+rw > w {
		return common.TruncateLine(left, w)
	}
	return left + st.Bar.S(strings.Repeat(" ", w-lw-rw)) + right
}

// The parts of the status line, in the order shown.
const (
	barScreen = iota
	barHalted
	barHub
	barState
	barCounts
	barReadOnly
	barDrafts
	barRollout
	barMsg
	barParts
)

// statusParts renders each part of the status line (empty when it has nothing to say).
func (m Model) statusParts() [barParts]string {
	st, now := m.c.Styles, m.c.Now()
	var info common.HubInfo
	if m.c.Backend != nil {
		info = m.c.Backend.Info()
	}
	s := m.c.Store.Status
	var p [barParts]string
	p[barScreen] = st.BarKey.S(" " + screenNames[m.screen] + " ")
	p[barHub] = st.Bar.S(" " + info.Name + " ")
	switch s.State {
	case common.StateSynced:
		p[barState] = st.BarOK.S("● connected ")
	case common.StateReconnecting:
		p[barState] = st.BarErr.S("◌ reconnecting… ")
	case "failed":
		p[barState] = st.BarErr.S("✗ not connected ")
	case "":
		p[barState] = st.Bar.S("◌ connecting… ")
	default:
		p[barState] = st.Bar.S("◌ " + s.State + "… ")
	}
	c := m.c.Store.Counts()
	p[barCounts] = st.Bar.S(strconv.Itoa(c.Connected) + "/" + strconv.Itoa(c.Total) + " up ")
	if m.c.ReadOnly {
		p[barReadOnly] = st.BarKey.S("READ-ONLY ")
	}
	if n := len(m.c.Drafts); n > 0 && m.screen != screenEdit {
		if m.c.ReadOnly { // kept for a later run: this one cannot send it
			p[barDrafts] = st.BarKey.S("✎ " + strconv.Itoa(n) + " draft" + plural(n) + " (read-only) ")
		} else {
			p[barDrafts] = st.BarKey.S("✎ " + strconv.Itoa(n) + " unsent edit" + plural(n) + " ")
		}
	}
	if h := m.rollout.Halted(); h != "" {
		p[barHalted] = st.BarErr.S(" ROLLOUT " + h + " ")
	} else if m.stopped != nil && !m.rollout.Active() && !m.c.ReadOnly {
		p[barHalted] = st.BarErr.S(" ROLLOUT STOPPED: R resumes ")
	}
	if r := m.rollout.StatusText(); r != "" {
		p[barRollout] = st.BarKey.S(r + " ")
	}
	switch {
	case m.confirmQ && m.rollout.Active() && m.rollout.Halted() != "":
		p[barMsg] = st.BarErr.S("quit? y/n (the held rollout is kept for R) ")
	case m.confirmQ && m.rollout.Active():
		p[barMsg] = st.BarErr.S("a rollout is writing: quitting stops it. quit? y/n ")
	case m.confirmQ:
		p[barMsg] = st.BarErr.S("quit twinops? y/n ")
	case m.flash != "" && (m.flashHeld || now.Sub(m.flashAt) < flashFor):
		if m.flashErr {
			p[barMsg] = st.BarErr.S(m.flash + " ")
		} else {
			p[barMsg] = st.BarOK.S(m.flash + " ")
		}
	case s.LastError != "":
		p[barMsg] = st.BarErr.S("error " + common.Ago(now, s.ErrorTime) + ": " + s.LastError + " ")
	}
	return p
}

// helpView lists every key: the screen's own first, then the global ones.
func (m Model) helpView() string {
	st := m.c.Styles
	k := m.c.Keys
	var own []key.Binding
	switch m.screen {
	case screenFleet:
		own = m.fleet.Help()
	case screenTwin:
		own = m.twin.Help()
	case screenEdit:
		own = m.edit.Help()
	case screenEvents:
		own = m.events.Help()
	case screenRollout:
		own = m.rollout.Help()
	}
	global := []key.Binding{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown, k.Back, k.Help, k.Quit}
	switch {
	case m.capturing():
		// Letters are text here (the editor, a rollout's fields, a query being typed):
		// only these keys are not.
		global = []key.Binding{
			key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
			key.NewBinding(key.WithKeys("f1"), key.WithHelp("f1", "help")),
			k.Quit,
		}
	case m.rollout.Started():
		global = append(global, key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "back to the running or last rollout")))
	case m.stopped != nil && !m.c.ReadOnly:
		global = append(global, key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "review and resume the rollout the last console's end stopped")))
	}
	lines := []string{st.Title.S("keys · "+screenNames[m.screen]) + st.Muted.S("   (any key closes)"), ""}
	const keyW = 14
	side := m.c.Width >= 76 // the two lists side by side
	colW := m.c.Width
	if side {
		colW = m.c.Width/2 - 1
	}
	col := func(title string, bs []key.Binding) []string {
		out := []string{st.Header.S(title)}
		for _, b := range bs {
			h := b.Help()
			// a long description wraps under itself, never into the key column
			for i, d := range strings.Split(ansi.Wordwrap(h.Desc, max(colW-keyW, 10), ""), "\n") {
				k := ""
				if i == 0 {
					k = h.Key
				}
				out = append(out, st.Key.Render(common.Fit(k, keyW))+st.Desc.Render(d))
			}
		}
		return out
	}
	a, b := col(strings.ToUpper(screenNames[m.screen]), own), col("EVERYWHERE", global)
	if side {
		left := lipgloss.NewStyle().Width(m.c.Width / 2).Render(strings.Join(a, "\n"))
		lines = append(lines, lipgloss.JoinHorizontal(lipgloss.Top, left, strings.Join(b, "\n")))
	} else {
		lines = append(lines, a...)
		lines = append(lines, "")
		lines = append(lines, b...)
	}
	all := strings.Split(strings.Join(lines, "\n"), "\n")
	return strings.Join(common.PadLines(all, m.c.Height-1), "\n")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
