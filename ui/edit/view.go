package edit

import (
	"strconv"
	"strings"

	"github.com/twinops/twinops/theme"
	"github.com/twinops/twinops/ui/common"
)

func itoa64(v int64) string { return strconv.FormatInt(v, 10) }

// View renders the screen body.
func (m Model) View() string {
	st := m.c.Styles
	if m.base == nil {
		return strings.Join(common.PadLines([]string{st.Title.S("edit " + m.id), "", "  " + st.Muted.S("this device is not in the fleet; esc to go back")}, m.height), "\n")
	}
	tabs := [2]string{"desired", "tags"}
	title := st.Title.S("edit "+m.id) + "  "
	for i, t := range tabs {
		if i == m.active {
			title += st.Selected.S(" "+t+" ") + " "
		} else {
			title += st.Muted.S(" "+t+" ") + " "
		}
	}
	title += st.Muted.S(" based on twin v" + itoa64(m.base.Version))
	if m.mode == modeSending {
		title += "  " + st.Warn.S("sending…")
	}
	lines := []string{common.TruncateLine(title, m.width), m.checkLine()}
	switch {
	case m.hubErr != "":
		lines = append(lines, common.TruncateLine(st.Bad.S(m.hubErr), m.width))
	case m.note != "":
		lines = append(lines, common.TruncateLine(st.Info.S(m.note), m.width))
	default:
		lines = append(lines, common.TruncateLine(st.Faint.S("ctrl+s send · tab desired/tags · ctrl+o $EDITOR · esc back (kept as draft)"), m.width))
	}
	if m.mode == modeConflict {
		lines = append(lines, m.conflictView()...)
	} else {
		lines = append(lines, strings.Split(m.bufs[m.active].area.View(), "\n")...)
	}
	return strings.Join(common.PadLines(lines, m.height), "\n")
}

// checkLine shows the active buffer's validation and the patch that would be sent.
func (m Model) checkLine() string {
	st := m.c.Styles
	b := m.bufs[m.active]
	if b.check.msg != "" {
		where := ""
		if b.check.line > 0 {
			where = "line " + strconv.Itoa(b.check.line) + ", column " + strconv.Itoa(b.check.col) + ": "
		}
		return common.TruncateLine(st.Bad.S("✗ "+where+b.check.msg), m.width)
	}
	desired, tags, ok := m.patches()
	if !ok {
		other := m.bufs[1-m.active]
		return common.TruncateLine(st.Bad.S("✗ the "+other.sec.String()+" buffer is invalid: "+other.check.msg), m.width)
	}
	var parts []string
	if len(desired) > 0 {
		parts = append(parts, "desired "+compact(desired))
	}
	if len(tags) > 0 {
		parts = append(parts, "tags "+compact(tags))
	}
	if len(parts) == 0 {
		return st.OK.S("✓ valid") + st.Muted.S(" · no changes")
	}
	return common.TruncateLine(st.OK.S("✓ valid")+st.Muted.S(" · patch ")+st.Info.S(strings.Join(parts, "  ")), m.width)
}

// conflictView shows theirs against yours for the active buffer.
func (m Model) conflictView() []string {
	st := m.c.Styles
	h := max(m.height-3, 3)
	choices := "r rebase yours onto theirs · f overwrite theirs · esc keep editing"
	if m.width < common.Width(choices) {
		choices = "r rebase · f overwrite · esc keep editing"
	}
	out := []string{st.Bad.S("conflict: the twin changed since you started (now v" + itoa64(m.theirs.Version) + ")"),
		st.Accent.S(choices)}
	if len(m.clash) > 0 {
		out = append(out, common.TruncateLine(st.Warn.S("both changed: "+strings.Join(m.clash, ", ")), m.width))
	}
	// What f sends is your change, not the YOURS column: its other lines are the version
	// you started from, shown where theirs differs.
	if desired, tags, ok := m.patches(); ok {
		yours := desired
		sec := "desired"
		if m.active == 1 {
			yours, sec = tags, "tags"
		}
		if len(yours) > 0 {
			out = append(out, st.Muted.S("your change (f sends only this): ")+st.Added.S("patch "+sec+" "+compact(yours)))
		}
	}
	theirs := m.theirs.Desired.Values
	if m.active == 1 {
		theirs = m.theirs.Tags
	}
	colW := (m.width - 3) / 2
	yours := m.bufs[m.active].area.Value()
	if v := m.bufs[m.active].check.value; v != nil {
		yours = pretty(v) // same layout as theirs, so that the differing lines stand out
	}
	tl, yl := strings.Split(pretty(theirs), "\n"), strings.Split(yours, "\n")
	left := append([]string{st.Header.S("THEIRS (hub, v" + itoa64(m.theirs.Version) + ")")}, markLines(st.Removed, tl, yl)...)
	right := append([]string{st.Header.S("YOURS")}, markLines(st.Added, yl, tl)...)
	n := max(h-len(out), 1)
	left, right = common.PadLines(left, n), common.PadLines(right, n)
	for i, l := range out {
		out[i] = common.TruncateLine(l, m.width)
	}
	for i := range n {
		l := common.TruncateLine(left[i], colW)
		pad := colW - common.Width(l)
		out = append(out, l+strings.Repeat(" ", max(pad, 0))+st.Faint.S(" │ ")+common.TruncateLine(right[i], colW))
	}
	return out
}

// markLines paints the lines of a that do not occur in b (a line-set diff: enough to
// make the differing keys stand out in pretty-printed JSON).
func markLines(p theme.Paint, a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, l := range b {
		in[strings.TrimRight(l, ",")] = true
	}
	out := make([]string, len(a))
	for i, l := range a {
		if in[strings.TrimRight(l, ",")] {
			out[i] = l
		} else {
			out[i] = p.S(l)
		}
	}
	return out
}
