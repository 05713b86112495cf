package fleet

import (
	"strconv"
	"strings"

	"github.com/twinops/twinops/ui/common"
)

// View renders the screen body (width x height).
func (m Model) View() string {
	st := m.c.Styles
	lines := make([]string, 0, m.height)
	lines = append(lines, renderCounts(st, m.c.Store.Counts(), m.c.Store.Status, m.c.Store.Synced, m.width))
	lines = append(lines, m.viewLine())
	if m.agg != nil {
		lines = append(lines, st.Header.S("  QUERY RESULT"))
		if m.loading() {
			lines = append(lines, "  "+st.Warn.S("partial: the fleet is still loading ("+strconv.Itoa(m.c.Store.Len())+" devices in so far)"))
		}
		for _, l := range m.agg {
			lines = append(lines, "  "+common.TruncateLine(l, m.width-2))
		}
	} else {
		cols := layout(m.width)
		lines = append(lines, renderHeader(st, cols, m.sortCol, m.sortDesc))
		end := min(m.offset+m.tableRows(), len(m.view))
		tv := tableView{rows: m.view[m.offset:end], cursor: m.cursor - m.offset, marks: m.marks, now: m.c.Now()}
		lines = append(lines, renderRows(st, cols, tv)...)
		if len(m.view) == 0 {
			lines = append(lines, "  "+st.Muted.S(m.emptyText()))
			if e := m.c.Store.Status.LastError; e != "" && m.c.Store.Len() == 0 {
				for _, l := range wrap(e, m.width-4) {
					lines = append(lines, "  "+st.Bad.S(l))
				}
			}
		}
	}
	var below []string
	if m.mode != inputNone {
		prompt := "/"
		if m.mode == inputQuery {
			prompt = ":"
		}
		if m.mode == inputQuery && m.queryErr != "" {
			below = append(below, common.TruncateLine(st.Bad.S("✗ "+m.queryErr)+st.Muted.S("  (fix and enter · esc cancels)"), m.width))
		}
		below = append(below, st.Prompt.Render(prompt)+" "+m.input.View())
		if m.mode == inputQuery && m.queryCaret != "" && common.Width(m.queryCaret) < m.width-4 {
			below = append(below, "  "+st.Bad.S(m.queryCaret))
		}
	}
	lines = common.PadLines(lines, m.height-len(below))
	lines = append(lines, below...)
	return strings.Join(lines, "\n")
}

func (m Model) emptyText() string {
	switch {
	case m.c.Store.Len() == 0 && m.c.Store.Status.State == "failed":
		return "no fleet: the hub could not be reached"
	case m.c.Store.Len() == 0 && !m.c.Store.Synced:
		return "waiting for the fleet…"
	case m.c.Store.Len() == 0:
		return "the hub has no devices"
	}
	return "no device matches " + m.ViewLabel() + " (c clears)"
}

func (m Model) viewLine() string {
	st := m.c.Styles
	label := "all devices"
	switch {
	case m.idSet != nil && m.queryStr != "":
		label = m.idLabel + ", " + m.queryStr
	case m.idSet != nil:
		label = m.idLabel
	case m.queryStr != "":
		label = m.queryStr
	}
	var b strings.Builder
	if m.filter != "" && m.mode != inputFilter {
		b.WriteString(st.Muted.S("  filter ") + st.Accent.S(m.filter))
	}
	b.WriteString(st.Muted.S("  " + strconv.Itoa(len(m.view)) + " shown"))
	if n := len(m.marks); n > 0 {
		b.WriteString(st.Marked.S("  " + strconv.Itoa(n) + " marked"))
	}
	if m.agg == nil && len(m.view) > m.tableRows() { // an aggregate shows no table rows
		b.WriteString(st.Faint.S("  row " + strconv.Itoa(m.cursor+1) + "/" + strconv.Itoa(len(m.view))))
	}
	if m.queryErr != "" && m.mode != inputQuery {
		b.WriteString("  " + st.Bad.S(m.queryErr))
	}
	// a long query gives way to the counts after it (at least 20 cells of it stay)
	prefix, rest := st.Muted.S("view "), b.String()
	if room := m.width - common.Width(prefix) - common.Width(rest); common.Width(label) > room {
		label = common.TruncateLine(label, max(room, 20))
	}
	return common.TruncateLine(prefix+st.Accent.S(label)+rest, m.width)
}

// wrap breaks plain text into lines of at most w cells at spaces.
func wrap(s string, w int) []string {
	w = max(w, 10)
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case common.Width(line)+1+common.Width(word) <= w:
			line += " " + word
		default:
			out = append(out, line)
			line = word
		}
	}
	if line != "" {
		out = append(out, line)
	}
	return out
}
